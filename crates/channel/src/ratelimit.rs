//! Per-sender flood protection: a keyed GCRA limiter (`governor`) on the
//! event's contact key. A sender may send `burst` messages at once, then one
//! every `60 / messages_per_minute` seconds; anything faster is refused with
//! `429 rate_limited` and a `Retry-After`.
//!
//! Memory stays bounded: senders whose state is back to "fresh" (their
//! bucket refilled) are dropped by a periodic `retain_recent`, run at most
//! once per [`CLEANUP_INTERVAL`] from the request path on a blocking thread.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

/// How often idle senders are forgotten.
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(60);

type Limiter<C> =
    RateLimiter<String, DefaultKeyedStateStore<String>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// Per-sender message rate limit.
pub struct SenderLimiter<C: Clock = DefaultClock> {
    limiter: Arc<Limiter<C>>,
    messages_per_minute: NonZeroU32,
    /// Clock reading (nanoseconds since the limiter's start) of the last cleanup.
    last_cleanup_nanos: AtomicU64,
    start: C::Instant,
}

impl<C: Clock> std::fmt::Debug for SenderLimiter<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderLimiter")
            .field("messages_per_minute", &self.messages_per_minute)
            .field("senders", &self.limiter.len())
            .finish()
    }
}

/// A sender is over its limit; it may send again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    pub retry_after: Duration,
}

impl SenderLimiter<DefaultClock> {
    /// `None` when `messages_per_minute` is 0 (no limit). A `burst` of 0 is
    /// taken as 1.
    pub fn new(messages_per_minute: u32, burst: u32) -> Option<Self> {
        Self::with_clock(messages_per_minute, burst, DefaultClock::default())
    }
}

impl<C> SenderLimiter<C>
where
    C: Clock + Send + Sync + 'static,
    C::Instant: Send + Sync,
{
    /// Like [`SenderLimiter::new`] with an explicit clock (tests use a fake one).
    pub fn with_clock(messages_per_minute: u32, burst: u32, clock: C) -> Option<Self> {
        let messages_per_minute = NonZeroU32::new(messages_per_minute)?;
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_minute(messages_per_minute).allow_burst(burst);
        let start = clock.now();
        let limiter = RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock);
        Some(Self {
            limiter: Arc::new(limiter),
            messages_per_minute,
            last_cleanup_nanos: AtomicU64::new(0),
            start,
        })
    }

    /// The configured sustained rate.
    pub fn messages_per_minute(&self) -> u32 {
        self.messages_per_minute.get()
    }

    /// Takes one message of `sender` from its allowance.
    pub fn check(&self, sender: &str) -> Result<(), RateLimited> {
        self.maybe_cleanup();
        let key = sender.to_owned();
        self.limiter.check_key(&key).map_err(|not_until| {
            let now = self.limiter.clock().now();
            RateLimited {
                retry_after: not_until.wait_time_from(now),
            }
        })
    }

    /// Number of senders currently remembered.
    pub fn tracked_senders(&self) -> usize {
        self.limiter.len()
    }

    /// Forgets every sender whose allowance is full again. Runs inline.
    pub fn forget_idle_senders(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// Starts [`Self::forget_idle_senders`] on a blocking thread when the
    /// last run is more than [`CLEANUP_INTERVAL`] ago (one caller wins).
    fn maybe_cleanup(&self) {
        let now = self.limiter.clock().now();
        let elapsed = now.duration_since(self.start).as_u64();
        let last = self.last_cleanup_nanos.load(Ordering::Relaxed);
        let interval = u64::try_from(CLEANUP_INTERVAL.as_nanos()).unwrap_or(u64::MAX);
        if elapsed.saturating_sub(last) < interval {
            return;
        }
        if self
            .last_cleanup_nanos
            .compare_exchange(last, elapsed, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let limiter = Arc::clone(&self.limiter);
        let cleanup = move || {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(cleanup);
            }
            Err(_) => cleanup(),
        }
    }
}

/// Whole seconds to announce in `Retry-After`: rounded up, at least 1.
pub fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn burst_then_sustained_rate_per_sender() {
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(60, 3, clock.clone()).unwrap();
        for _ in 0..3 {
            limiter.check("chat:a").unwrap();
        }
        let refused = limiter.check("chat:a").unwrap_err();
        assert!(
            refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_secs(1),
            "{refused:?}"
        );
        // Another sender is unaffected.
        limiter.check("chat:b").unwrap();
        // One message per second is replenished.
        clock.advance(Duration::from_secs(1));
        limiter.check("chat:a").unwrap();
        assert!(limiter.check("chat:a").is_err());
    }

    #[test]
    fn zero_means_unlimited() {
        assert!(SenderLimiter::new(0, 10).is_none());
    }

    #[test]
    fn idle_senders_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(60, 2, clock.clone()).unwrap();
        for index in 0..100 {
            limiter.check(&format!("chat:{index}")).unwrap();
        }
        limiter.check("chat:busy").unwrap();
        limiter.check("chat:busy").unwrap();
        assert_eq!(limiter.tracked_senders(), 101);
        // The one-message senders are indistinguishable from new ones once
        // their bucket refilled (governor keeps one interval of margin); the
        // busy sender still owes one more second.
        clock.advance(Duration::from_millis(2500));
        limiter.forget_idle_senders();
        assert_eq!(limiter.tracked_senders(), 1);
        clock.advance(Duration::from_secs(5));
        limiter.forget_idle_senders();
        assert_eq!(limiter.tracked_senders(), 0);
    }

    #[test]
    fn cleanup_runs_by_itself_after_the_interval() {
        let clock = FakeRelativeClock::default();
        let limiter = SenderLimiter::with_clock(60, 1, clock.clone()).unwrap();
        limiter.check("chat:old").unwrap();
        clock.advance(CLEANUP_INTERVAL + Duration::from_secs(1));
        // No runtime here: the cleanup runs inline on this check.
        limiter.check("chat:new").unwrap();
        assert_eq!(limiter.tracked_senders(), 1);
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(20)), 20);
        assert_eq!(retry_after_secs(Duration::from_millis(20_001)), 21);
    }
}
