//! The search index: search sees each ticket and user as it was `search_lag` ago.
//!
//! A record's live version is searchable once its last write (`updated_at`) is
//! `search_lag` old; its *indexed-at* time is `updated_at + search_lag`, moved forward
//! by every write. Until then search sees the newest earlier version that is
//! old enough, kept here, or nothing for a record created within the lag.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Ticket, User};
use crate::state::Data;

/// Earlier versions of records whose newest write search has not caught up with yet.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SearchIndex {
    /// Ticket versions before recent updates, oldest first.
    #[serde(default)]
    pub tickets: BTreeMap<u64, Vec<Ticket>>,
    /// User versions before recent updates, oldest first.
    #[serde(default)]
    pub users: BTreeMap<u64, Vec<User>>,
}

/// A record that remembers when it was last written.
pub trait Written {
    fn written_at(&self) -> DateTime<Utc>;
}

impl Written for Ticket {
    fn written_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

impl Written for User {
    fn written_at(&self) -> DateTime<Utc> {
        self.updated_at
    }
}

fn lag_of(lag: Duration) -> chrono::Duration {
    chrono::Duration::from_std(lag).unwrap_or(chrono::Duration::MAX)
}

/// When search starts to see this version of a record.
pub fn indexed_at<T: Written>(record: &T, lag: Duration) -> DateTime<Utc> {
    record
        .written_at()
        .checked_add_signed(lag_of(lag))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The version of a record that search sees at `now`, if any.
fn visible<'a, T: Written>(
    live: &'a T,
    earlier: Option<&'a Vec<T>>,
    now: DateTime<Utc>,
    lag: Duration,
) -> Option<&'a T> {
    if indexed_at(live, lag) <= now {
        return Some(live);
    }
    earlier?
        .iter()
        .rev()
        .find(|version| indexed_at(*version, lag) <= now)
}

/// Drops versions nobody can see any more: all of a record's once its live version is
/// indexed, else those older than the newest indexed earlier version.
fn prune_versions<T: Written>(
    versions: &mut BTreeMap<u64, Vec<T>>,
    live: &BTreeMap<u64, T>,
    now: DateTime<Utc>,
    lag: Duration,
) {
    versions.retain(|id, list| {
        let Some(record) = live.get(id) else {
            return false;
        };
        if indexed_at(record, lag) <= now {
            return false;
        }
        if let Some(newest_visible) = list.iter().rposition(|v| indexed_at(v, lag) <= now) {
            list.drain(..newest_visible);
        }
        !list.is_empty()
    });
}

impl SearchIndex {
    /// How many earlier versions are kept.
    pub fn len(&self) -> usize {
        self.tickets.values().map(Vec::len).sum::<usize>()
            + self.users.values().map(Vec::len).sum::<usize>()
    }
}

impl Data {
    /// Keeps `before`, the ticket as it was before a write, for search (none without lag).
    pub fn remember_ticket(&mut self, before: Option<Ticket>, lag: Duration) {
        if let Some(before) = before.filter(|_| !lag.is_zero()) {
            self.search_index
                .tickets
                .entry(before.id)
                .or_default()
                .push(before);
        }
    }

    /// Keeps `before`, the user as it was before a write, for search (none without lag).
    pub fn remember_user(&mut self, before: Option<User>, lag: Duration) {
        if let Some(before) = before.filter(|_| !lag.is_zero()) {
            self.search_index
                .users
                .entry(before.id)
                .or_default()
                .push(before);
        }
    }

    /// Tickets as search sees them at `now`, by id.
    pub fn searchable_tickets(
        &self,
        now: DateTime<Utc>,
        lag: Duration,
    ) -> impl Iterator<Item = &Ticket> {
        self.tickets
            .iter()
            .filter_map(move |(id, t)| visible(t, self.search_index.tickets.get(id), now, lag))
    }

    /// Users as search sees them at `now`, by id.
    pub fn searchable_users(
        &self,
        now: DateTime<Utc>,
        lag: Duration,
    ) -> impl Iterator<Item = &User> {
        self.users
            .iter()
            .filter_map(move |(id, u)| visible(u, self.search_index.users.get(id), now, lag))
    }

    /// Drops the earlier versions search no longer needs.
    pub fn prune_search_index(&mut self, now: DateTime<Utc>, lag: Duration) {
        prune_versions(&mut self.search_index.tickets, &self.tickets, now, lag);
        prune_versions(&mut self.search_index.users, &self.users, now, lag);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;

    #[test]
    fn search_sees_the_version_written_at_least_lag_ago() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let lag = Duration::from_secs(10);
        let mut data = Data::seeded(&SimConfig::default(), t0);
        let agent = *data.users.keys().next().unwrap();
        let before = data.users.get(&agent).cloned();
        data.remember_user(before, lag);
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        if let Some(u) = data.users.get_mut(&agent) {
            u.name = "Renamed".to_owned();
            u.updated_at = at(5);
        }
        let name_at = |data: &Data, s: i64| {
            data.searchable_users(at(s), lag)
                .next()
                .map(|u| u.name.clone())
        };
        assert_eq!(name_at(&data, 4), None, "created within the lag");
        assert_eq!(name_at(&data, 10).as_deref(), Some("Sim Agent"));
        assert_eq!(name_at(&data, 14).as_deref(), Some("Sim Agent"));
        assert_eq!(name_at(&data, 15).as_deref(), Some("Renamed"));
        data.prune_search_index(at(14), lag);
        assert_eq!(data.search_index.len(), 1, "still needed until 15");
        data.prune_search_index(at(15), lag);
        assert_eq!(data.search_index.len(), 0);
    }
}
