//! Bounded memory: records that only matter for a while are dropped once expired.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::api::ticket_ops::UPDATE_WINDOW_SECS;
use crate::api::tickets::IDEMPOTENCY_TTL_SECS;
use crate::state::{Data, SimState};

/// Sim-seconds between two automatic prunings (checked on every request).
pub const PRUNE_INTERVAL_SECS: i64 = 60;

/// How many short-lived records the simulator holds (served in `GET /admin/stats`).
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Retained {
    /// Idempotency keys (expire 2 sim-hours after first use).
    pub idempotency_keys: usize,
    /// Per-ticket, per-user update logs of the 10-minute update limit.
    pub update_logs: usize,
    /// Upload tokens not yet attached to a comment (expire after 60 sim-minutes).
    pub uploads: usize,
    /// Earlier record versions kept for search while an update is indexed.
    pub search_versions: usize,
}

impl Data {
    /// Drops expired idempotency keys, update times outside the update-limit window,
    /// expired unattached uploads and search versions nobody can see any more.
    pub fn prune(&mut self, now: DateTime<Utc>, search_lag: Duration) {
        let key_ttl = chrono::Duration::seconds(IDEMPOTENCY_TTL_SECS);
        self.idempotency.retain(|_, e| now - e.created_at < key_ttl);
        let window = chrono::Duration::seconds(UPDATE_WINDOW_SECS);
        self.ticket_updates.retain(|_, times| {
            times.retain(|t| now - *t < window);
            !times.is_empty()
        });
        self.uploads.retain(|_, u| u.expires_at > now);
        self.prune_search_index(now, search_lag);
    }

    /// Counts of the records [`Data::prune`] bounds.
    pub fn retained(&self) -> Retained {
        Retained {
            idempotency_keys: self.idempotency.len(),
            update_logs: self.ticket_updates.len(),
            uploads: self.uploads.len(),
            search_versions: self.search_index.len(),
        }
    }
}

impl SimState {
    /// Drops expired records now (the simulator also does it at most once per sim-minute,
    /// on the first request after the minute).
    pub fn prune(&self) {
        let now = self.now();
        let lag = self.config().search_lag;
        self.data().prune(now, lag);
    }

    /// Prunes when the last pruning is [`PRUNE_INTERVAL_SECS`] old on the sim clock.
    pub(crate) fn prune_if_due(&self) {
        let now = self.now();
        let due = {
            let mut rt = self.runtime();
            let due = rt
                .last_prune
                .is_none_or(|last| now - last >= chrono::Duration::seconds(PRUNE_INTERVAL_SECS));
            if due {
                rt.last_prune = Some(now);
            }
            due
        };
        if due {
            self.data().prune(now, self.config().search_lag);
        }
    }

    /// How many short-lived records are held right now.
    pub fn retained(&self) -> Retained {
        self.data().retained()
    }
}
