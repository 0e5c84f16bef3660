//! The original payload of a message: inside the event when it is small
//! ([`InlineRaw`], no blob write before the 202), in the blob store when it
//! is not ([`BlobRef`] in `raw`).

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::event::{BlobRef, TicketEvent};

/// Largest raw payload any adapter may put inside an event, in bytes. Its
/// base64 (4/3 of it, about 350 KB) plus the rest of the event stays well
/// under [`MAX_RECORD_BYTES`](crate::MAX_RECORD_BYTES); adapters
/// configure a smaller threshold (64 KiB by default) and fall back to the
/// blob store for anything larger.
pub const MAX_INLINE_RAW_BYTES: usize = 256 * 1024;

/// A raw payload carried inside the event (`raw_inline`), byte for byte.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "The original payload inside the event: standard base64 (RFC 4648, padded) of the bytes, with their SHA-256 and size so a reader can verify them."
)]
pub struct InlineRaw {
    /// Standard base64 (RFC 4648 alphabet, with padding) of the bytes.
    pub base64: String,
    /// Lower-case hex SHA-256 of the bytes (not of the base64).
    pub sha256: String,
    /// Size of the bytes (not of the base64).
    pub size: u64,
}

/// Why an inline raw payload cannot be trusted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InlineRawError {
    #[error("raw_inline.base64 is not standard base64")]
    Base64,
    #[error("raw_inline is {found} bytes, but says {declared}")]
    Size { declared: u64, found: u64 },
    #[error("raw_inline does not match its sha256")]
    Digest,
}

impl InlineRaw {
    /// Encodes `bytes`.
    pub fn new(bytes: &[u8]) -> Self {
        Self {
            base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            sha256: hex::encode(Sha256::digest(bytes)),
            size: bytes.len() as u64,
        }
    }

    /// The bytes, checked against `size` and `sha256`.
    pub fn decode(&self) -> Result<Vec<u8>, InlineRawError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&self.base64)
            .map_err(|_| InlineRawError::Base64)?;
        let found = bytes.len() as u64;
        if found != self.size {
            return Err(InlineRawError::Size {
                declared: self.size,
                found,
            });
        }
        if !hex::encode(Sha256::digest(&bytes)).eq_ignore_ascii_case(&self.sha256) {
            return Err(InlineRawError::Digest);
        }
        Ok(bytes)
    }
}

/// Where an event's raw payload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawPayload<'a> {
    /// Inside the event (`raw_inline`).
    Inline(&'a InlineRaw),
    /// In the blob store (`raw`), as every event had it before `raw_inline`.
    Blob(&'a BlobRef),
}

impl TicketEvent {
    /// The raw payload's place: `raw_inline` when present (an adapter sets
    /// one of the two), else the blob reference `raw`, else none.
    pub fn raw_payload(&self) -> Option<RawPayload<'_>> {
        match (&self.raw_inline, &self.raw) {
            (Some(inline), _) => Some(RawPayload::Inline(inline)),
            (None, Some(blob)) => Some(RawPayload::Blob(blob)),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_verifies() {
        let raw = InlineRaw::new(b"abc");
        assert_eq!(raw.base64, "YWJj");
        assert_eq!(
            raw.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(raw.size, 3);
        assert_eq!(raw.decode().unwrap(), b"abc");
    }

    #[test]
    fn tampered_payloads_are_refused() {
        let good = InlineRaw::new(b"abc");
        let other = InlineRaw {
            base64: "YWJk".into(),
            ..good.clone()
        };
        assert_eq!(other.decode(), Err(InlineRawError::Digest));
        let short = InlineRaw {
            size: 4,
            ..good.clone()
        };
        assert_eq!(
            short.decode(),
            Err(InlineRawError::Size {
                declared: 4,
                found: 3
            })
        );
        let garbage = InlineRaw {
            base64: "not base64!".into(),
            ..good
        };
        assert_eq!(garbage.decode(), Err(InlineRawError::Base64));
    }
}
