//! A bus that refuses records over a size limit on chosen topics, the way a
//! broker refuses a record over `message.max.bytes`: permanently, with a
//! non-retryable error. Everything else goes to the real bus underneath.

use std::sync::Arc;

use async_trait::async_trait;
use intake_bus::{Bus, BusError, Position, Publisher, Record};

use super::publisher_bus::PublisherBus;

/// Key, payload and header bytes of a record.
pub fn record_bytes(record: &Record) -> usize {
    record.key.len()
        + record.payload.len()
        + record
            .headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum::<usize>()
}

pub struct LimitedBus;

struct LimitedPublisher {
    inner: Arc<dyn Publisher>,
    topic: String,
    limit_bytes: usize,
}

impl LimitedBus {
    /// Refuses records of `topic` larger than `limit_bytes` ([`record_bytes`]).
    pub fn wrap(inner: Arc<dyn Bus>, topic: String, limit_bytes: usize) -> Arc<dyn Bus> {
        let publisher = Arc::new(LimitedPublisher {
            inner: inner.publisher(),
            topic,
            limit_bytes,
        });
        PublisherBus::wrap(inner, publisher)
    }
}

#[async_trait]
impl Publisher for LimitedPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        let size = record_bytes(&record);
        if record.topic == self.topic && size > self.limit_bytes {
            return Err(BusError::Rejected(format!(
                "record of {size} bytes is larger than the limit of {} bytes",
                self.limit_bytes
            )));
        }
        self.inner.publish(record).await
    }
}
