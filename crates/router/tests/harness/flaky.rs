//! A bus whose publishes to one topic fail with a retryable error a given
//! number of times (a broker briefly unavailable), then go through.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use intake_bus::{Bus, BusError, Position, Publisher, Record};

use super::publisher_bus::PublisherBus;

pub struct FlakyBus;

pub struct FlakyPublisher {
    inner: Arc<dyn Publisher>,
    topic: String,
    failures_left: AtomicUsize,
    /// Publishes to the topic that were refused so far.
    pub refused: AtomicUsize,
}

impl FlakyBus {
    /// Fails the first `failures` publishes to `topic`; returns the bus and
    /// its publisher (to read how many were refused).
    pub fn wrap(
        inner: Arc<dyn Bus>,
        topic: String,
        failures: usize,
    ) -> (Arc<dyn Bus>, Arc<FlakyPublisher>) {
        let publisher = Arc::new(FlakyPublisher {
            inner: inner.publisher(),
            topic,
            failures_left: AtomicUsize::new(failures),
            refused: AtomicUsize::new(0),
        });
        let bus = PublisherBus::wrap(inner, publisher.clone());
        (bus, publisher)
    }
}

#[async_trait]
impl Publisher for FlakyPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        if record.topic == self.topic {
            let failing = self
                .failures_left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                    left.checked_sub(1)
                })
                .is_ok();
            if failing {
                self.refused.fetch_add(1, Ordering::SeqCst);
                return Err(BusError::Unavailable("broker briefly down".to_owned()));
            }
        }
        self.inner.publish(record).await
    }
}
