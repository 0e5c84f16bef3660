#![forbid(unsafe_code)]
//! The blob store: attachments and raw payloads live here, events carry
//! [`BlobRef`]s, never the bytes.
//!
//! Blobs are content-addressed: the reference of a blob is
//! `sha256/<64 lower-case hex digits>` of its bytes, so storing the same bytes
//! twice is a no-op and a reference can be computed without any I/O
//! ([`content_ref`]).
//!
//! Two backends: [`LocalDirBlobStore`] (a directory, one machine) and
//! [`S3BlobStore`] (any S3-compatible object store, shared by gateways and
//! routers on different machines). Both keep the same layout,
//! `sha256/<first two hex>/<hex>` (under the S3 key prefix), so a directory
//! can be copied into a bucket as it is.

mod local;
mod retention;
mod s3;

use std::time::Duration;

use async_trait::async_trait;
pub use intake_event::BlobRef;
pub use local::LocalDirBlobStore;
pub use retention::PurgeReport;
pub use s3::{S3BlobStore, S3Credentials, S3Options, is_valid_prefix};
use sha2::{Digest, Sha256};

/// Stores and fetches immutable blobs by content address.
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` durably and returns their reference. Idempotent; storing
    /// bytes that are already there makes them new again for retention.
    async fn put(&self, bytes: &[u8]) -> Result<BlobRef, BlobError>;
    /// Reads the blob behind `r`, checking that its content matches.
    async fn get(&self, r: &BlobRef) -> Result<Vec<u8>, BlobError>;
    /// True when a blob is stored under `r`.
    async fn exists(&self, r: &BlobRef) -> Result<bool, BlobError>;
    /// Readiness: Ok when the store can be written now.
    async fn check_ready(&self) -> Result<(), BlobError>;
    /// Deletes blobs last stored more than `age` ago. A blob stored again
    /// while the sweep runs is kept (see each backend for how).
    async fn purge_older_than(&self, age: Duration) -> Result<PurgeReport, BlobError>;
    /// The backend's name for logs and metrics (`local`, `s3`).
    fn backend(&self) -> &'static str;
}

/// Blob store failures. Every variant says whether retrying may work.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// The reference is not of the form `sha256/<64 lower-case hex>`.
    #[error("invalid blob reference {0:?}: expected sha256/<64 lower-case hex digits>")]
    InvalidRef(String),
    /// No blob is stored under the reference.
    #[error("blob {0} not found")]
    NotFound(String),
    /// The stored bytes do not hash to their reference.
    #[error("blob {0} is corrupt: its content does not match its sha256")]
    Corrupt(String),
    /// The storage failed (disk full, permissions, directory missing, ...).
    #[error("blob store i/o failed during {operation}: {source}")]
    Io {
        operation: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The object store cannot be reached or failed (connection refused,
    /// timeout, 5xx after the client's own retries).
    #[error("blob store unavailable during {operation}: {message}")]
    Unavailable {
        operation: &'static str,
        message: String,
    },
    /// The object store refused the request for a reason that does not pass
    /// by itself (credentials refused, no access, no such bucket).
    #[error("blob store refused {operation}: {message}")]
    Rejected {
        operation: &'static str,
        message: String,
    },
    /// The backend's settings cannot work (bad endpoint, empty bucket name).
    #[error("blob store is misconfigured: {0}")]
    Config(String),
}

impl BlobError {
    /// True when the same call may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, BlobError::Io { .. } | BlobError::Unavailable { .. })
    }
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The content address of `bytes`: `sha256/<hex>`. No I/O.
pub fn content_ref(bytes: &[u8]) -> BlobRef {
    BlobRef(format!("sha256/{}", sha256_hex(bytes)))
}

/// Checks that `r` is `sha256/<64 lower-case hex>` and returns the hex part.
/// Anything else (path separators, `..`, upper case, other lengths) is refused,
/// so a reference can never address a file outside the store.
pub fn parse_ref(r: &BlobRef) -> Result<&str, BlobError> {
    let invalid = || BlobError::InvalidRef(r.as_str().to_owned());
    let hex_part = r.as_str().strip_prefix("sha256/").ok_or_else(invalid)?;
    let valid = hex_part.len() == 64
        && hex_part
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !valid {
        return Err(invalid());
    }
    Ok(hex_part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ref_is_sha256_of_bytes() {
        // sha256("abc"), a well-known test vector.
        assert_eq!(
            content_ref(b"abc").as_str(),
            "sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn refs_are_validated() {
        let good = content_ref(b"x");
        assert_eq!(parse_ref(&good).unwrap().len(), 64);
        let bad = [
            "",
            "sha256/",
            "sha256/../../etc/passwd",
            "md5/ba7816bf8f01cfea414140de5dae2223",
            "sha256/BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
            "sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015a/",
            "/sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha256/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/..",
        ];
        for r in bad {
            let err = parse_ref(&BlobRef(r.to_owned())).unwrap_err();
            assert!(matches!(err, BlobError::InvalidRef(_)), "{r:?}: {err}");
            assert!(!err.is_retryable());
        }
    }
}
