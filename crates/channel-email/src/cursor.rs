//! Where a mailbox's catch-up stands: `<UIDVALIDITY>:<last handed-off UID>`,
//! kept in the state store's generic cursors under `email:<account>:<mailbox>`.

pub use intake_channel::cursor::{CursorStore, MemoryCursors, StoreCursors};

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
