//! Where a pull channel's source stands (an IMAP mailbox's UIDVALIDITY and
//! last UID, a bot's `getUpdates` offset), kept across restarts in the state
//! store's generic cursors. Channels get a [`CursorStore`] when they are built
//! ([`crate::BuildContext::cursors`]); tests use [`MemoryCursors`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use intake_store::{StateStore, StoreError};

/// The two cursor calls a pull channel needs.
#[async_trait]
pub trait CursorStore: Send + Sync {
    /// The value last saved under `scope`, if any.
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError>;
    /// Saves `value` under `scope` (replacing what was there).
    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError>;
}

/// The state store's cursors.
pub struct StoreCursors(pub Arc<dyn StateStore>);

#[async_trait]
impl CursorStore for StoreCursors {
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError> {
        self.0.cursor(scope).await
    }
    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError> {
        self.0.set_cursor(scope, value).await
    }
}

/// The state store's cursors, the store handed over after the channels are
/// built (the application opens the store only when an enabled channel
/// pulls). Until then every call fails as retryable, so the pull runner
/// restarts the channel with backoff instead of losing its position.
#[derive(Default)]
pub struct DeferredCursors(OnceLock<Arc<dyn StateStore>>);

impl DeferredCursors {
    /// Hands the store over; later calls are ignored.
    pub fn set_store(&self, store: Arc<dyn StateStore>) {
        let _ = self.0.set(store);
    }

    fn store(&self) -> Result<&Arc<dyn StateStore>, StoreError> {
        self.0
            .get()
            .ok_or_else(|| StoreError::Unavailable("the state store is not open yet".into()))
    }
}

#[async_trait]
impl CursorStore for DeferredCursors {
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError> {
        self.store()?.cursor(scope).await
    }
    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError> {
        self.store()?.set_cursor(scope, value).await
    }
}

/// Cursors in memory (tests; lost on restart).
#[derive(Debug, Default)]
pub struct MemoryCursors(Mutex<BTreeMap<String, String>>);

#[async_trait]
impl CursorStore for MemoryCursors {
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError> {
        Ok(self.0.lock().expect("cursor lock").get(scope).cloned())
    }
    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError> {
        self.0
            .lock()
            .expect("cursor lock")
            .insert(scope.to_owned(), value.to_owned());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn deferred_cursors_fail_until_the_store_is_handed_over() {
        let cursors = DeferredCursors::default();
        assert!(cursors.cursor("email:help:INBOX").await.is_err());
        let dir = tempfile::tempdir().unwrap();
        let store = intake_store::SqliteStore::open(&dir.path().join("state.db"))
            .await
            .unwrap();
        cursors.set_store(Arc::new(store));
        cursors
            .set_cursor("email:help:INBOX", "7:42")
            .await
            .unwrap();
        assert_eq!(
            cursors.cursor("email:help:INBOX").await.unwrap().as_deref(),
            Some("7:42")
        );
    }
}
