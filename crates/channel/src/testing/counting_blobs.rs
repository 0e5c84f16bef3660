//! A blob store that counts its writes.

use std::sync::Arc;

use async_trait::async_trait;

/// A blob store that counts the writes it passes on to `inner`, so a test
/// can tell how many durable writes a message cost.
pub struct CountingBlobStore<S> {
    pub inner: S,
    puts: std::sync::atomic::AtomicUsize,
}

impl<S> CountingBlobStore<S> {
    pub fn new(inner: S) -> Arc<Self> {
        Arc::new(Self {
            inner,
            puts: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// `put` calls so far.
    pub fn puts(&self) -> usize {
        self.puts.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl<S: intake_blob::BlobStore> intake_blob::BlobStore for CountingBlobStore<S> {
    async fn put(&self, bytes: &[u8]) -> Result<intake_blob::BlobRef, intake_blob::BlobError> {
        self.puts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.put(bytes).await
    }
    async fn get(&self, r: &intake_blob::BlobRef) -> Result<Vec<u8>, intake_blob::BlobError> {
        self.inner.get(r).await
    }
    async fn exists(&self, r: &intake_blob::BlobRef) -> Result<bool, intake_blob::BlobError> {
        self.inner.exists(r).await
    }
    async fn check_ready(&self) -> Result<(), intake_blob::BlobError> {
        self.inner.check_ready().await
    }
    async fn purge_older_than(
        &self,
        age: std::time::Duration,
    ) -> Result<intake_blob::PurgeReport, intake_blob::BlobError> {
        self.inner.purge_older_than(age).await
    }
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
}
