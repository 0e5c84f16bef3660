//! A bus whose publishes to one topic fail with a retryable error a given
//! number of times (a broker briefly unavailable), then go through.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use intake_bus::{Bus, BusError, Consumer, Position, Publisher, Record};

pub struct FlakyBus {
    inner: Arc<dyn Bus>,
    publisher: Arc<FlakyPublisher>,
}

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
        let bus = Arc::new(FlakyBus {
            inner,
            publisher: Arc::clone(&publisher),
        });
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

#[async_trait]
impl Bus for FlakyBus {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        self.publisher.clone()
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Consumer>, BusError> {
        self.inner.consumer(group, topics).await
    }

    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        self.inner.ensure_topics(topics).await
    }

    async fn check_ready(&self) -> Result<(), BusError> {
        self.inner.check_ready().await
    }
}
