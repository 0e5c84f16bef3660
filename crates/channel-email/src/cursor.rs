//! Where a mailbox's catch-up stands: `<UIDVALIDITY>:<last handed-off UID>`,
//! kept in the state store's generic cursors under `email:<account>:<mailbox>`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use intake_store::{StateStore, StoreError};

/// The two cursor calls the channel needs (so tests can use memory).
#[async_trait]
pub trait CursorStore: Send + Sync {
    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError>;
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

/// A mailbox position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UidCursor {
    pub uid_validity: u32,
    pub last_uid: u32,
}

impl UidCursor {
    pub fn parse(value: &str) -> Option<Self> {
        let (validity, uid) = value.split_once(':')?;
        Some(Self {
            uid_validity: validity.parse().ok()?,
            last_uid: uid.parse().ok()?,
        })
    }

    pub fn render(self) -> String {
        format!("{}:{}", self.uid_validity, self.last_uid)
    }
}

/// The cursor scope of an account's mailbox.
pub fn scope(account: &str, mailbox: &str) -> String {
    format!("email:{account}:{mailbox}")
}

#[cfg(test)]
mod tests {
    use super::UidCursor;

    #[test]
    fn cursors_round_trip_and_garbage_is_none() {
        let cursor = UidCursor {
            uid_validity: 1_700_000_000,
            last_uid: 42,
        };
        assert_eq!(UidCursor::parse(&cursor.render()), Some(cursor));
        assert_eq!(UidCursor::parse("garbage"), None);
        assert_eq!(UidCursor::parse("1:x"), None);
    }
}
