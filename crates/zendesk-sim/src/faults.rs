//! Injected faults, the account rate limit and the request log (state that is not persisted).

use std::collections::{BTreeMap, HashSet, VecDeque};

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Most requests kept in the admin request log.
pub const REQUEST_LOG_CAPACITY: usize = 10_000;

/// A fault rule as posted to `POST /admin/faults`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// Status to answer with instead of handling the request (e.g. 503); none = no error.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` seconds sent with the error status.
    #[serde(default)]
    pub retry_after_secs: Option<u64>,
    /// How many matching requests the rule hits before it is spent; none = unlimited.
    #[serde(default)]
    pub count: Option<u32>,
    /// Probability (0.0..=1.0) that a matching request is hit; uses the seeded RNG.
    #[serde(default)]
    pub rate: Option<f64>,
    /// Delay before answering (or, for ticket updates, while the update holds the ticket).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Close the connection without any response.
    #[serde(default)]
    pub drop_connection: bool,
    /// Only requests whose path starts with this prefix match; none = every API request.
    #[serde(default)]
    pub path_prefix: Option<String>,
    /// The rule expires this many sim-seconds after it was added; none = never.
    #[serde(default)]
    pub duration_secs: Option<u64>,
}

/// What a matched fault does to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultAction {
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    pub delay_ms: u64,
    pub drop_connection: bool,
}

#[derive(Debug, Clone)]
struct ActiveFault {
    spec: FaultSpec,
    remaining: Option<u32>,
    expires_at: Option<DateTime<Utc>>,
}

/// One request as recorded for `GET /admin/requests`.
#[derive(Debug, Clone, Serialize)]
pub struct RequestRecord {
    pub request_id: String,
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub idempotency_key: Option<String>,
    /// Only the scheme (`Basic`, `Bearer`) of the Authorization header.
    pub authorization: Option<String>,
    pub status: u16,
    /// Whether the connection was closed without a response.
    pub dropped: bool,
    pub fault: bool,
    pub at: DateTime<Utc>,
}

/// Fixed one-minute window of the account rate limit on the sim clock.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RateWindow {
    /// Start of the current window (a whole sim-minute).
    pub window_start: Option<DateTime<Utc>>,
    /// Requests counted in the current window.
    pub used: u32,
}

/// Runtime-only state: faults, RNG, rate window, request log, counters, in-flight updates.
pub struct Runtime {
    faults: Vec<ActiveFault>,
    rng: StdRng,
    pub rate: RateWindow,
    pub requests: VecDeque<RequestRecord>,
    pub by_status: BTreeMap<u16, u64>,
    pub dropped: u64,
    pub faults_injected: u64,
    pub updates_in_flight: HashSet<u64>,
}

impl Runtime {
    pub fn new(seed: u64) -> Runtime {
        Runtime {
            faults: Vec::new(),
            rng: StdRng::seed_from_u64(seed),
            rate: RateWindow::default(),
            requests: VecDeque::new(),
            by_status: BTreeMap::new(),
            dropped: 0,
            faults_injected: 0,
            updates_in_flight: HashSet::new(),
        }
    }

    pub fn reset(&mut self, seed: u64) {
        let in_flight = std::mem::take(&mut self.updates_in_flight);
        *self = Runtime::new(seed);
        self.updates_in_flight = in_flight;
    }

    pub fn add_fault(&mut self, spec: FaultSpec, now: DateTime<Utc>) {
        let expires_at = spec
            .duration_secs
            .map(|s| now + chrono::Duration::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000)));
        self.faults.push(ActiveFault {
            remaining: spec.count,
            spec,
            expires_at,
        });
    }

    pub fn clear_faults(&mut self) {
        self.faults.clear();
    }

    pub fn active_faults(&self) -> Vec<FaultSpec> {
        self.faults.iter().map(|f| f.spec.clone()).collect()
    }

    /// Decides whether a request to `path` is hit by a fault; the first matching rule wins.
    pub fn pick_fault(&mut self, path: &str, now: DateTime<Utc>) -> Option<FaultAction> {
        self.faults
            .retain(|f| f.remaining != Some(0) && f.expires_at.is_none_or(|until| now < until));
        for fault in &mut self.faults {
            if let Some(prefix) = &fault.spec.path_prefix
                && !path.starts_with(prefix.as_str())
            {
                continue;
            }
            if let Some(rate) = fault.spec.rate {
                let roll: f64 = self.rng.random();
                if roll >= rate {
                    continue;
                }
            }
            if let Some(remaining) = fault.remaining.as_mut() {
                *remaining -= 1;
            }
            self.faults_injected += 1;
            return Some(FaultAction {
                status: fault.spec.status,
                retry_after_secs: fault.spec.retry_after_secs,
                delay_ms: fault.spec.delay_ms.unwrap_or(0),
                drop_connection: fault.spec.drop_connection,
            });
        }
        None
    }

    /// Counts one request against the account limit.
    /// Returns `Ok(remaining)` or `Err(retry_after_secs)` when over the limit.
    pub fn take_rate(&mut self, limit: u32, now: DateTime<Utc>) -> Result<u32, u64> {
        let minute = now.timestamp().div_euclid(60) * 60;
        let start = DateTime::<Utc>::from_timestamp(minute, 0).unwrap_or(now);
        if self.rate.window_start != Some(start) {
            self.rate.window_start = Some(start);
            self.rate.used = 0;
        }
        if self.rate.used >= limit {
            return Err(self.rate_reset_secs(now));
        }
        self.rate.used += 1;
        Ok(limit - self.rate.used)
    }

    /// Seconds until the current rate window ends (at least 1).
    pub fn rate_reset_secs(&self, now: DateTime<Utc>) -> u64 {
        let start = self.rate.window_start.unwrap_or(now);
        let end = start + chrono::Duration::seconds(60);
        let ms = (end - now).num_milliseconds().max(0);
        u64::try_from((ms + 999) / 1000).unwrap_or(60).max(1)
    }

    pub fn record(&mut self, record: RequestRecord) {
        *self.by_status.entry(record.status).or_default() += 1;
        if record.dropped {
            self.dropped += 1;
        }
        if self.requests.len() >= REQUEST_LOG_CAPACITY {
            self.requests.pop_front();
        }
        self.requests.push_back(record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FaultSpec {
        FaultSpec {
            status: Some(503),
            retry_after_secs: None,
            count: None,
            rate: None,
            delay_ms: None,
            drop_connection: false,
            path_prefix: None,
            duration_secs: None,
        }
    }

    #[test]
    fn count_limited_fault_is_spent_after_count_hits() {
        let now = Utc::now();
        let mut rt = Runtime::new(1);
        rt.add_fault(
            FaultSpec {
                count: Some(2),
                ..spec()
            },
            now,
        );
        assert!(rt.pick_fault("/api/v2/tickets", now).is_some());
        assert!(rt.pick_fault("/api/v2/tickets", now).is_some());
        assert!(rt.pick_fault("/api/v2/tickets", now).is_none());
    }

    #[test]
    fn rate_fault_is_deterministic_for_a_seed() {
        let now = Utc::now();
        let run = || {
            let mut rt = Runtime::new(42);
            rt.add_fault(
                FaultSpec {
                    rate: Some(0.5),
                    ..spec()
                },
                now,
            );
            (0..64)
                .map(|_| rt.pick_fault("/api/v2/x", now).is_some())
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let hits = first.iter().filter(|h| **h).count();
        assert!((16..=48).contains(&hits), "hits {hits}");
    }

    #[test]
    fn fault_expires_after_duration_on_the_given_clock() {
        let now = Utc::now();
        let mut rt = Runtime::new(1);
        rt.add_fault(
            FaultSpec {
                duration_secs: Some(10),
                ..spec()
            },
            now,
        );
        assert!(
            rt.pick_fault("/a", now + chrono::Duration::seconds(9))
                .is_some()
        );
        assert!(
            rt.pick_fault("/a", now + chrono::Duration::seconds(10))
                .is_none()
        );
    }

    #[test]
    fn rate_window_resets_each_minute() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_040, 0).unwrap();
        let mut rt = Runtime::new(1);
        assert_eq!(rt.take_rate(2, now), Ok(1));
        assert_eq!(rt.take_rate(2, now), Ok(0));
        assert_eq!(rt.take_rate(2, now), Err(60));
        let later = now + chrono::Duration::seconds(45);
        assert_eq!(rt.take_rate(2, later), Err(15));
        let next = now + chrono::Duration::seconds(60);
        assert_eq!(rt.take_rate(2, next), Ok(1));
    }
}
