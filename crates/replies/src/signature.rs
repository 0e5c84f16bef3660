//! Zendesk's webhook signature: `X-Zendesk-Webhook-Signature` is
//! base64(HMAC-SHA256(signing secret, timestamp + raw body)), the timestamp
//! being `X-Zendesk-Webhook-Signature-Timestamp` as sent. Checked before the
//! body is parsed, in constant time, and only within the replay window.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "x-zendesk-webhook-signature";
/// The timestamp header (RFC 3339, e.g. `2026-12-01T10:00:00Z`).
pub const TIMESTAMP_HEADER: &str = "x-zendesk-webhook-signature-timestamp";

/// Why a request was refused; the `reason` label of the rejection metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the signature or timestamp header is missing")]
    Missing,
    #[error("the timestamp is not an RFC 3339 time")]
    BadTimestamp,
    #[error("the timestamp is outside the replay window")]
    Stale,
    #[error("the signature does not match")]
    Mismatch,
}

impl SignatureError {
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureError::Missing => "signature_missing",
            SignatureError::BadTimestamp => "bad_timestamp",
            SignatureError::Stale => "stale",
            SignatureError::Mismatch => "bad_signature",
        }
    }
}

/// The signature Zendesk sends for `timestamp` and `body`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    STANDARD.encode(mac(secret, timestamp, body).finalize().into_bytes())
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    mac
}

/// Checks one request's headers against `body`, at `now`.
pub fn verify(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
    replay_window: Duration,
) -> Result<(), SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let sent = DateTime::parse_from_rfc3339(timestamp.trim())
        .map_err(|_| SignatureError::BadTimestamp)?
        .with_timezone(&Utc);
    let skew = (now - sent).abs().to_std().unwrap_or(Duration::MAX);
    if skew > replay_window {
        return Err(SignatureError::Stale);
    }
    let given = STANDARD
        .decode(signature.trim())
        .map_err(|_| SignatureError::Mismatch)?;
    let expected = mac(secret, timestamp, body).finalize().into_bytes();
    if bool::from(expected.as_slice().ct_eq(&given)) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_signature_over_timestamp_and_body_is_accepted() {
        let ts = "2026-12-01T10:00:00Z";
        let body = br#"{"ticket_id":"1"}"#;
        let signature = sign(b"s3cret", ts, body);
        let now = at("2026-12-01T10:04:00Z");
        assert_eq!(
            verify(b"s3cret", Some(ts), Some(&signature), body, now, WINDOW),
            Ok(())
        );
    }

    #[test]
    fn a_known_vector_matches() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog"), RFC 4231 style vector.
        assert_eq!(
            sign(b"key", "The quick brown fox ", b"jumps over the lazy dog"),
            "97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="
        );
    }

    #[test]
    fn wrong_secret_body_timestamp_or_age_is_refused() {
        let ts = "2026-12-01T10:00:00Z";
        let body = b"{}";
        let good = sign(b"s3cret", ts, body);
        let now = at("2026-12-01T10:00:30Z");
        let check = |secret: &[u8], ts: Option<&str>, sig: Option<&str>, body: &[u8], now| {
            verify(secret, ts, sig, body, now, WINDOW)
        };
        assert_eq!(
            check(b"other", Some(ts), Some(&good), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", Some(ts), Some(&good), b"{ }", now),
            Err(SignatureError::Mismatch)
        );
        let later = "2026-12-01T10:00:01Z";
        assert_eq!(
            check(b"s3cret", Some(later), Some(&good), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", Some(ts), Some("not base64!"), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", None, Some(&good), body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check(b"s3cret", Some("yesterday"), Some(&good), body, now),
            Err(SignatureError::BadTimestamp)
        );
        let late = at("2026-12-01T10:05:01Z");
        assert_eq!(
            check(b"s3cret", Some(ts), Some(&good), body, late),
            Err(SignatureError::Stale)
        );
    }
}
