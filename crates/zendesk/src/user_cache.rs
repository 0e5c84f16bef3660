//! Bounded cache of `create_or_update_user` results, keyed by lower-cased
//! e-mail and external id, so a busy customer costs one user call (Zendesk
//! allows 5 user creations per minute per user and 1 per second per account).

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::time::Instant;

use crate::types::{User, UserInput};

/// Users kept; the oldest entry is dropped first.
pub const USER_CACHE_CAPACITY: usize = 10_000;
/// How long a cached user is trusted before it is looked up again.
pub const USER_CACHE_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Email(String),
    ExternalId(String),
}

fn keys(email: Option<&str>, external_id: Option<&str>) -> Vec<Key> {
    let mut keys = Vec::with_capacity(2);
    if let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) {
        keys.push(Key::Email(email.to_lowercase()));
    }
    if let Some(id) = external_id.map(str::trim).filter(|e| !e.is_empty()) {
        keys.push(Key::ExternalId(id.to_lowercase()));
    }
    keys
}

/// The cache itself; callers hold it behind a mutex.
#[derive(Debug)]
pub struct UserCache {
    capacity: usize,
    ttl: Duration,
    entries: HashMap<Key, (User, Instant)>,
    order: VecDeque<Key>,
}

impl Default for UserCache {
    fn default() -> Self {
        UserCache::new(USER_CACHE_CAPACITY, USER_CACHE_TTL)
    }
}

impl UserCache {
    pub fn new(capacity: usize, ttl: Duration) -> UserCache {
        UserCache {
            capacity: capacity.max(1),
            ttl,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// A fresh cached user matching the input's e-mail or external id.
    pub fn get(&self, input: &UserInput, now: Instant) -> Option<User> {
        keys(input.email.as_deref(), input.external_id.as_deref())
            .iter()
            .filter_map(|key| self.entries.get(key))
            .find(|(_, stored)| now.saturating_duration_since(*stored) < self.ttl)
            .map(|(user, _)| user.clone())
    }

    /// Remembers a user under the input's and the user's e-mail and external id.
    pub fn insert(&mut self, input: &UserInput, user: &User, now: Instant) {
        let mut all = keys(input.email.as_deref(), input.external_id.as_deref());
        all.extend(keys(user.email.as_deref(), user.external_id.as_deref()));
        all.dedup();
        for key in all {
            if self
                .entries
                .insert(key.clone(), (user.clone(), now))
                .is_none()
            {
                self.order.push_back(key);
            }
        }
        while self.entries.len() > self.capacity {
            let Some(oldest) = self.order.pop_front() else {
                break;
            };
            self.entries.remove(&oldest);
        }
    }

    /// Drops every entry of user `id` (Zendesk said it is gone or merged).
    pub fn forget(&mut self, id: u64) {
        self.entries.retain(|_, (user, _)| user.id != id);
        let entries = &self.entries;
        self.order.retain(|key| entries.contains_key(key));
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u64, email: &str) -> User {
        User {
            id,
            name: None,
            email: Some(email.into()),
            phone: None,
            external_id: None,
            role: Some("end-user".into()),
            suspended: false,
        }
    }

    fn by_email(email: &str) -> UserInput {
        UserInput {
            email: Some(email.into()),
            ..UserInput::default()
        }
    }

    #[test]
    fn hits_case_insensitively_by_email_and_external_id() {
        let now = Instant::now();
        let mut cache = UserCache::default();
        let input = UserInput {
            email: Some("Alice@Example.com".into()),
            external_id: Some("TG:42".into()),
            ..UserInput::default()
        };
        cache.insert(&input, &user(1, "alice@example.com"), now);
        assert_eq!(
            cache.get(&by_email("ALICE@example.COM"), now).unwrap().id,
            1
        );
        let by_external = UserInput {
            external_id: Some("tg:42".into()),
            ..UserInput::default()
        };
        assert_eq!(cache.get(&by_external, now).unwrap().id, 1);
        assert!(cache.get(&by_email("bob@example.com"), now).is_none());
        assert!(cache.get(&UserInput::default(), now).is_none());
    }

    #[test]
    fn entries_expire() {
        let now = Instant::now();
        let mut cache = UserCache::new(10, Duration::from_secs(60));
        cache.insert(&by_email("a@x.test"), &user(1, "a@x.test"), now);
        assert!(
            cache
                .get(&by_email("a@x.test"), now + Duration::from_secs(59))
                .is_some()
        );
        assert!(
            cache
                .get(&by_email("a@x.test"), now + Duration::from_secs(60))
                .is_none()
        );
    }

    #[test]
    fn a_forgotten_user_is_looked_up_again() {
        let now = Instant::now();
        let mut cache = UserCache::default();
        let input = UserInput {
            email: Some("a@x.test".into()),
            external_id: Some("chat:a".into()),
            ..UserInput::default()
        };
        cache.insert(&input, &user(1, "a@x.test"), now);
        cache.insert(&by_email("b@x.test"), &user(2, "b@x.test"), now);
        cache.forget(1);
        assert!(cache.get(&input, now).is_none());
        assert!(cache.get(&by_email("a@x.test"), now).is_none());
        assert_eq!(cache.get(&by_email("b@x.test"), now).unwrap().id, 2);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.order.len(), 1, "the eviction order forgets it too");
    }

    #[test]
    fn size_is_bounded_oldest_first() {
        let now = Instant::now();
        let mut cache = UserCache::new(3, USER_CACHE_TTL);
        for i in 0..5u64 {
            let email = format!("u{i}@x.test");
            cache.insert(&by_email(&email), &user(i, &email), now);
        }
        assert_eq!(cache.len(), 3);
        assert!(cache.get(&by_email("u0@x.test"), now).is_none());
        assert!(cache.get(&by_email("u1@x.test"), now).is_none());
        assert_eq!(cache.get(&by_email("u4@x.test"), now).unwrap().id, 4);
    }
}
