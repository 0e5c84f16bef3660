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
    /// Status to answer with (e.g. 503) instead of handling the request, or instead of
    /// its response with `after_processing`; none = no error.
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
    /// Only requests with this HTTP method (`PUT`, `GET`, ...; any case) match; none = any.
    #[serde(default)]
    pub method: Option<String>,
    /// The rule expires this many sim-seconds after it was added; none = never.
    #[serde(default)]
    pub duration_secs: Option<u64>,
    /// Let the request be handled (its effect is kept), then delay, drop or replace the
    /// response: "Zendesk applied it, but the client saw an error". Default: before.
    #[serde(default)]
    pub after_processing: bool,
    /// With `delay_ms` on a ticket update: the request waits in Zendesk's
    /// queue for the delay *before* it takes the ticket (another update of
    /// the ticket may run meanwhile), and is applied even if the client gave
    /// up. Default: the delayed update holds the ticket while it waits.
    #[serde(default)]
    pub queued: bool,
}

/// What a matched fault does to one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultAction {
    pub status: Option<u16>,
    pub retry_after_secs: Option<u64>,
    pub delay_ms: u64,
    pub drop_connection: bool,
    pub after_processing: bool,
    pub queued: bool,
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

/// Length of the sliding window of the account rate limit.
pub const RATE_WINDOW_SECS: i64 = 60;

/// Sliding 60-second log of the requests counted against the account limit (sim clock).
#[derive(Debug, Clone, Default)]
pub struct RateWindow {
    /// Sim times of the counted requests still inside the window, oldest first.
    counted: VecDeque<DateTime<Utc>>,
}

impl RateWindow {
    /// Forgets the requests that left the window (counted `RATE_WINDOW_SECS` or more ago).
    fn slide(&mut self, now: DateTime<Utc>) {
        let window = chrono::Duration::seconds(RATE_WINDOW_SECS);
        while self.counted.front().is_some_and(|t| now - *t >= window) {
            self.counted.pop_front();
        }
    }

    /// Requests counted in the window ending at `now`.
    pub fn used(&mut self, now: DateTime<Utc>) -> usize {
        self.slide(now);
        self.counted.len()
    }

    /// Sim time of the oldest counted request still in the window.
    pub fn oldest(&self) -> Option<DateTime<Utc>> {
        self.counted.front().copied()
    }
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
    /// The Update Ticket and user-creation windows (`endpoint_limits.rs`).
    pub endpoints: crate::endpoint_limits::EndpointWindows,
    /// Slow (delayed) ticket updates that have not finished yet, whether
    /// their client still waits or not.
    pub slow_updates: usize,
    /// Sim time of the last pruning of expired records (see `SimState::prune`).
    pub last_prune: Option<DateTime<Utc>>,
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
            endpoints: Default::default(),
            slow_updates: 0,
            last_prune: None,
        }
    }

    pub fn reset(&mut self, seed: u64) {
        let in_flight = std::mem::take(&mut self.updates_in_flight);
        let slow = self.slow_updates;
        *self = Runtime::new(seed);
        self.updates_in_flight = in_flight;
        self.slow_updates = slow;
    }

    /// A delay drawn uniformly from `shortest..=longest` (seeded RNG).
    pub fn draw_delay(
        &mut self,
        shortest: std::time::Duration,
        longest: std::time::Duration,
    ) -> std::time::Duration {
        if longest <= shortest {
            return shortest;
        }
        let span = (longest - shortest).as_micros() as u64;
        shortest + std::time::Duration::from_micros(self.rng.random_range(0..=span))
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
    pub fn pick_fault(
        &mut self,
        method: &str,
        path: &str,
        now: DateTime<Utc>,
    ) -> Option<FaultAction> {
        self.faults
            .retain(|f| f.remaining != Some(0) && f.expires_at.is_none_or(|until| now < until));
        for fault in &mut self.faults {
            if let Some(prefix) = &fault.spec.path_prefix
                && !path.starts_with(prefix.as_str())
            {
                continue;
            }
            if let Some(wanted) = &fault.spec.method
                && !wanted.eq_ignore_ascii_case(method)
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
                after_processing: fault.spec.after_processing,
                queued: fault.spec.queued,
            });
        }
        None
    }

    /// Counts one request against the account limit (a sliding 60-second window).
    /// Returns `Ok(remaining)` or `Err(retry_after_secs)` when over the limit.
    pub fn take_rate(&mut self, limit: u32, now: DateTime<Utc>) -> Result<u32, u64> {
        let used = self.rate.used(now);
        let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
        if used >= limit_usize {
            return Err(self.rate_reset_secs(now));
        }
        self.rate.counted.push_back(now);
        Ok(u32::try_from(limit_usize - used - 1).unwrap_or(0))
    }

    /// Seconds until the oldest counted request leaves the window (at least 1; a full
    /// window when nothing is counted).
    pub fn rate_reset_secs(&self, now: DateTime<Utc>) -> u64 {
        let Some(oldest) = self.rate.oldest() else {
            return RATE_WINDOW_SECS.unsigned_abs();
        };
        let leaves = oldest + chrono::Duration::seconds(RATE_WINDOW_SECS);
        let ms = (leaves - now).num_milliseconds().max(0);
        u64::try_from((ms + 999) / 1000)
            .unwrap_or(RATE_WINDOW_SECS.unsigned_abs())
            .max(1)
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
            method: None,
            duration_secs: None,
            after_processing: false,
            queued: false,
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
        assert!(rt.pick_fault("GET", "/api/v2/tickets", now).is_some());
        assert!(rt.pick_fault("GET", "/api/v2/tickets", now).is_some());
        assert!(rt.pick_fault("GET", "/api/v2/tickets", now).is_none());
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
                .map(|_| rt.pick_fault("GET", "/api/v2/x", now).is_some())
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
            rt.pick_fault("GET", "/a", now + chrono::Duration::seconds(9))
                .is_some()
        );
        assert!(
            rt.pick_fault("GET", "/a", now + chrono::Duration::seconds(10))
                .is_none()
        );
    }

    #[test]
    fn requests_leave_the_rate_window_sixty_seconds_after_they_were_counted() {
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

    #[test]
    fn a_burst_across_a_minute_boundary_is_still_limited() {
        // 10:00:59.5, the last half second of a calendar minute
        let end_of_minute = DateTime::<Utc>::from_timestamp_millis(1_700_000_099_500).unwrap();
        let mut rt = Runtime::new(1);
        for _ in 0..3 {
            assert!(rt.take_rate(3, end_of_minute).is_ok());
        }
        let next_minute = end_of_minute + chrono::Duration::seconds(1);
        assert_eq!(rt.take_rate(3, next_minute), Err(59));
        // staggered requests free one slot each as they leave
        let mut rt = Runtime::new(1);
        let t0 = end_of_minute;
        assert!(rt.take_rate(2, t0).is_ok());
        assert!(rt.take_rate(2, t0 + chrono::Duration::seconds(30)).is_ok());
        assert_eq!(rt.take_rate(2, t0 + chrono::Duration::seconds(59)), Err(1));
        assert_eq!(rt.take_rate(2, t0 + chrono::Duration::seconds(60)), Ok(0));
        assert_eq!(rt.take_rate(2, t0 + chrono::Duration::seconds(61)), Err(29));
    }
}
