//! Store failures, each able to say whether a retry may work.

/// Why a state-store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or is busy now (locked file, pool
    /// timeout, I/O error, connection lost).
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// Opening or migrating the database failed (bad path, newer schema).
    #[error("state store cannot be opened: {0}")]
    Open(String),
    /// A stored value cannot be read back (bad effect name, out-of-range id).
    #[error("state store holds an invalid value: {0}")]
    Corrupt(String),
    /// A value cannot be stored (an id too large for the column).
    #[error("value cannot be stored: {0}")]
    InvalidValue(String),
    /// Anything else from the database.
    #[error("state store error: {0}")]
    Other(String),
}

impl StoreError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error.to_string()),
            sqlx::Error::Database(db) if is_busy_code(db.code().as_deref()) => {
                StoreError::Unavailable(error.to_string())
            }
            sqlx::Error::Migrate(_) => StoreError::Open(error.to_string()),
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
                StoreError::Corrupt(error.to_string())
            }
            _ => StoreError::Other(error.to_string()),
        }
    }
}

/// SQLite `SQLITE_BUSY` (5) and `SQLITE_LOCKED` (6) with extended codes;
/// PostgreSQL SQLSTATEs that a later attempt may not meet: serialization
/// failure (40001), deadlock (40P01), lock not available (55P03), statement
/// timeout / cancel (57014), server shutting down or starting (57P01–57P03),
/// too many connections (53300) and every connection exception (class 08).
fn is_busy_code(code: Option<&str>) -> bool {
    let Some(code) = code else { return false };
    // SQLSTATEs are five characters; SQLite result codes are shorter numbers.
    if code.len() == 5 {
        return matches!(
            code,
            "40001" | "40P01" | "55P03" | "57014" | "57P01" | "57P02" | "57P03" | "53300"
        ) || code.starts_with("08");
    }
    code.parse::<i64>()
        .is_ok_and(|numeric| matches!(numeric & 0xff, 5 | 6))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_codes_are_retryable() {
        assert!(is_busy_code(Some("5")));
        assert!(is_busy_code(Some("517"))); // SQLITE_BUSY_SNAPSHOT
        assert!(is_busy_code(Some("6")));
        assert!(is_busy_code(Some("40001")));
        assert!(is_busy_code(Some("40P01")));
        assert!(is_busy_code(Some("08006")));
        assert!(is_busy_code(Some("53300")));
        assert!(!is_busy_code(Some("23505"))); // unique violation
        assert!(!is_busy_code(Some("28P01"))); // bad password
        assert!(!is_busy_code(Some("42P01"))); // undefined table
        assert!(!is_busy_code(Some("19"))); // SQLITE_CONSTRAINT
        assert!(!is_busy_code(None));
    }

    #[test]
    fn only_unavailable_is_retryable() {
        assert!(StoreError::Unavailable("x".into()).is_retryable());
        assert!(!StoreError::Corrupt("x".into()).is_retryable());
        assert!(!StoreError::Open("x".into()).is_retryable());
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_retryable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_retryable());
    }
}
