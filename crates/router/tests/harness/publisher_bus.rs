//! A bus that is the real bus underneath with another publisher in front:
//! the shared shape of the test buses that change what publishing does.

use std::sync::Arc;

use async_trait::async_trait;
use intake_bus::{Bus, BusError, Consumer, Publisher};

pub struct PublisherBus {
    inner: Arc<dyn Bus>,
    publisher: Arc<dyn Publisher>,
}

impl PublisherBus {
    /// `inner` for everything but publishing, which goes to `publisher`.
    pub fn wrap(inner: Arc<dyn Bus>, publisher: Arc<dyn Publisher>) -> Arc<dyn Bus> {
        Arc::new(PublisherBus { inner, publisher })
    }
}

#[async_trait]
impl Bus for PublisherBus {
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
