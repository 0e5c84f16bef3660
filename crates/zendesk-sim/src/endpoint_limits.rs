//! Endpoint limits on top of the account's (decision 58), on the sim clock:
//! - **Update Ticket** (`PUT /api/v2/tickets/{id}`): at most
//!   [`SimConfig::update_ticket_per_minute`] in any 60 seconds across the
//!   account (Zendesk: 100, 300 with High Volume);
//! - **user creation** (`POST /api/v2/users/create_or_update`): at most
//!   [`UserCreateLimits::per_second`] in any second across the account and
//!   [`UserCreateLimits::per_minute_per_user`] in any 60 seconds per end-user
//!   profile (the e-mail or external id the request names, any case).
//!
//! Both count a request at its **arrival**, as the account limit does (the
//! [`Arrived`] time the API pipeline stamps before the simulated response
//! delay): a rate limiter sits in front of the work, so a client that spaces
//! its sends is not refused because one answer took longer than the next.
//!
//! Over either: 429 with `Retry-After` (whole seconds, at least 1), as for
//! the account limit; the account's own rate headers still show what it has
//! left, which is how a client tells the two apart. Both are off in
//! `SimConfig::default()` so that tests of other behaviour may update and
//! create users faster than an account allows.
//!
//! [`SimConfig::update_ticket_per_minute`]: crate::SimConfig::update_ticket_per_minute

use std::collections::{HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};

/// Zendesk's user-creation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserCreateLimits {
    /// Creations per second per account (Zendesk: 1).
    pub per_second: u32,
    /// Creations per minute per end-user profile (Zendesk: 5).
    pub per_minute_per_user: u32,
}

impl Default for UserCreateLimits {
    fn default() -> Self {
        UserCreateLimits {
            per_second: 1,
            per_minute_per_user: 5,
        }
    }
}

/// When the request reached the API, before any simulated response delay:
/// the time its rate limits count it at.
#[derive(Debug, Clone, Copy)]
pub struct Arrived(pub DateTime<Utc>);

/// Sliding logs of the counted requests per limit.
#[derive(Debug, Default)]
pub struct EndpointWindows {
    updates: VecDeque<DateTime<Utc>>,
    user_creates: VecDeque<DateTime<Utc>>,
    per_user: HashMap<String, VecDeque<DateTime<Utc>>>,
}

/// Takes one request into `log` (at most `limit` per `window`), or says in
/// whole seconds (at least 1) when the oldest one leaves it.
fn take(
    log: &mut VecDeque<DateTime<Utc>>,
    limit: u32,
    window: Duration,
    now: DateTime<Utc>,
) -> Result<(), u64> {
    while log.front().is_some_and(|t| now - *t >= window) {
        log.pop_front();
    }
    if log.len() < limit.max(1) as usize {
        log.push_back(now);
        return Ok(());
    }
    Err(retry_after(
        log.front().copied().unwrap_or(now) + window,
        now,
    ))
}

fn fits(log: &VecDeque<DateTime<Utc>>, limit: u32, window: Duration, now: DateTime<Utc>) -> bool {
    log.iter().filter(|t| now - **t < window).count() < limit.max(1) as usize
}

fn retry_after(free_at: DateTime<Utc>, now: DateTime<Utc>) -> u64 {
    let ms = (free_at - now).num_milliseconds().max(0);
    u64::try_from((ms + 999) / 1000).unwrap_or(1).max(1)
}

impl EndpointWindows {
    /// Counts a ticket update against `limit` per minute.
    pub fn take_update(&mut self, limit: u32, now: DateTime<Utc>) -> Result<(), u64> {
        take(&mut self.updates, limit, Duration::seconds(60), now)
    }

    /// Counts a user creation for `profile` (lower-cased) against `limits`;
    /// refused by either, it counts against neither.
    pub fn take_user_create(
        &mut self,
        limits: UserCreateLimits,
        profile: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        let minute = Duration::seconds(60);
        if let Some(profile) = profile {
            if self.per_user.len() > 1024 {
                self.per_user
                    .retain(|_, log| log.back().is_some_and(|t| now - *t < minute));
            }
            let log = self.per_user.entry(profile.to_owned()).or_default();
            if !fits(log, limits.per_minute_per_user, minute, now) {
                return take(log, limits.per_minute_per_user, minute, now);
            }
        }
        take(
            &mut self.user_creates,
            limits.per_second,
            Duration::seconds(1),
            now,
        )?;
        if let Some(profile) = profile {
            let log = self.per_user.entry(profile.to_owned()).or_default();
            take(log, limits.per_minute_per_user, minute, now)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap() + Duration::milliseconds(ms)
    }

    #[test]
    fn updates_are_limited_per_sliding_minute() {
        let mut windows = EndpointWindows::default();
        for i in 0..3 {
            assert_eq!(windows.take_update(3, at(i * 1000)), Ok(()));
        }
        assert_eq!(windows.take_update(3, at(10_000)), Err(50));
        assert_eq!(windows.take_update(3, at(60_000)), Ok(()));
    }

    #[test]
    fn user_creations_one_a_second_and_five_a_minute_per_user() {
        let limits = UserCreateLimits::default();
        let mut windows = EndpointWindows::default();
        assert_eq!(windows.take_user_create(limits, Some("a"), at(0)), Ok(()));
        assert_eq!(windows.take_user_create(limits, Some("b"), at(400)), Err(1));
        for i in 1..5 {
            assert_eq!(
                windows.take_user_create(limits, Some("a"), at(i * 1000)),
                Ok(())
            );
        }
        // The sixth for "a" within the minute: refused for the user, and
        // that refusal does not use the account's second.
        assert_eq!(
            windows.take_user_create(limits, Some("a"), at(5_000)),
            Err(55)
        );
        assert_eq!(
            windows.take_user_create(limits, Some("b"), at(5_000)),
            Ok(())
        );
        assert_eq!(
            windows.take_user_create(limits, Some("a"), at(60_000)),
            Ok(())
        );
    }
}
