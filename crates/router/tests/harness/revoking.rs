//! A bus whose consumers can be given a rebalance: the real bus underneath,
//! with a switch that makes the next record polled from a chosen topic come
//! out of a poll that also revoked its partition, the way Kafka's eager
//! protocol revokes every partition when a member joins and assigns them
//! again inside one poll (the record is then the new assignment's).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use intake_bus::{Bus, BusError, Consumer, Delivery, PartitionLag, Publisher};

pub struct RevokingBus {
    inner: Arc<dyn Bus>,
    rebalance: Arc<Rebalance>,
}

/// The switch, shared by every consumer of the bus.
#[derive(Default)]
pub struct Rebalance {
    /// The topic whose next polled record comes after a revocation.
    armed: Mutex<Option<String>>,
    /// Revocations reported so far.
    happened: Mutex<Vec<(String, i32)>>,
}

impl Rebalance {
    /// The next record polled from `topic` comes out of a poll that revoked
    /// (and gave back) its partition.
    pub fn arm(&self, topic: &str) {
        *self.armed.lock().unwrap() = Some(topic.to_owned());
    }

    /// The (topic, partition)s revoked so far.
    pub fn happened(&self) -> Vec<(String, i32)> {
        self.happened.lock().unwrap().clone()
    }
}

impl RevokingBus {
    pub fn wrap(inner: Arc<dyn Bus>) -> (Arc<dyn Bus>, Arc<Rebalance>) {
        let rebalance = Arc::new(Rebalance::default());
        let bus = RevokingBus {
            inner,
            rebalance: rebalance.clone(),
        };
        (Arc::new(bus), rebalance)
    }
}

struct RevokingConsumer {
    inner: Box<dyn Consumer>,
    rebalance: Arc<Rebalance>,
    revoked: Vec<(String, i32)>,
}

#[async_trait]
impl Consumer for RevokingConsumer {
    async fn poll(&mut self, timeout: Duration) -> Result<Option<Delivery>, BusError> {
        let polled = self.inner.poll(timeout).await?;
        if let Some(delivery) = &polled {
            let mut armed = self.rebalance.armed.lock().unwrap();
            if armed.as_deref() == Some(delivery.topic.as_str()) {
                *armed = None;
                let slot = (delivery.topic.clone(), delivery.partition);
                self.rebalance.happened.lock().unwrap().push(slot.clone());
                self.revoked.push(slot);
            }
        }
        Ok(polled)
    }

    async fn done(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        self.inner.done(delivery).await
    }

    async fn lag(&mut self) -> Result<Vec<PartitionLag>, BusError> {
        self.inner.lag().await
    }

    fn revoked(&mut self) -> Vec<(String, i32)> {
        let mut revoked = std::mem::take(&mut self.revoked);
        revoked.extend(self.inner.revoked());
        revoked
    }
}

#[async_trait]
impl Bus for RevokingBus {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    fn publisher(&self) -> Arc<dyn Publisher> {
        self.inner.publisher()
    }

    async fn consumer(
        &self,
        group: &str,
        topics: &[String],
    ) -> Result<Box<dyn Consumer>, BusError> {
        let inner = self.inner.consumer(group, topics).await?;
        Ok(Box::new(RevokingConsumer {
            inner,
            rebalance: self.rebalance.clone(),
            revoked: Vec::new(),
        }))
    }

    async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        self.inner.ensure_topics(topics).await
    }

    async fn check_ready(&self) -> Result<(), BusError> {
        self.inner.check_ready().await
    }

    async fn close(&self) -> Result<(), BusError> {
        self.inner.close().await
    }
}
