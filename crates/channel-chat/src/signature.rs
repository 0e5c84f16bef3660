//! Standard Webhooks signatures (<https://www.standardwebhooks.com>):
//! `webhook-signature` is a space-separated list of `v1,<base64>` entries,
//! each a base64 HMAC-SHA256 over `"{webhook-id}.{webhook-timestamp}.{body}"`
//! keyed with the bytes behind the `whsec_<base64>` secret. One matching
//! entry is enough; comparison is constant-time; the timestamp (unix seconds)
//! must be within the tolerance of the receiver's clock, in both directions.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Prefix of a serialized Standard Webhooks secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Shortest accepted key, in bytes (the spec recommends 24 to 64).
pub const MIN_SECRET_BYTES: usize = 16;

/// The HMAC key of a webhook endpoint. `Debug` never shows it.
pub struct WebhookSecret {
    key: SecretBox<Vec<u8>>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret([REDACTED])")
    }
}

/// Why a configured secret is unusable. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("webhook secret must start with \"whsec_\"")]
    MissingPrefix,
    #[error("webhook secret is not valid base64 after \"whsec_\"")]
    BadBase64,
    #[error("webhook secret is {0} bytes, at least {MIN_SECRET_BYTES} are required")]
    TooShort(usize),
}

impl SecretError {
    /// Never: a bad secret stays bad until the configuration changes.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

impl WebhookSecret {
    /// Parses `whsec_<base64 of the key bytes>`.
    pub fn parse(secret: &str) -> Result<Self, SecretError> {
        let encoded = secret
            .trim()
            .strip_prefix(SECRET_PREFIX)
            .ok_or(SecretError::MissingPrefix)?;
        let key = STANDARD
            .decode(encoded)
            .map_err(|_| SecretError::BadBase64)?;
        if key.len() < MIN_SECRET_BYTES {
            return Err(SecretError::TooShort(key.len()));
        }
        Ok(Self {
            key: SecretBox::new(Box::new(key)),
        })
    }

    /// Parses a secret held in a [`SecretString`].
    pub fn from_secret_string(secret: &SecretString) -> Result<Self, SecretError> {
        Self::parse(secret.expose_secret())
    }

    /// A new random 32-byte secret in `whsec_` form (for demos and set-up).
    pub fn generate() -> SecretString {
        let key: [u8; 32] = rand::random();
        SecretString::from(format!("{SECRET_PREFIX}{}", STANDARD.encode(key)))
    }

    fn mac(&self, id: &str, timestamp: &str, body: &[u8]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.key.expose_secret())
            .expect("hmac accepts keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` value for a delivery: `v1,<base64>`.
pub fn sign(secret: &WebhookSecret, id: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = secret
        .mac(id, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v1,{}", STANDARD.encode(tag))
}

/// Why a delivery failed authentication.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("{0} header is not valid")]
    MalformedHeader(&'static str),
    #[error("webhook-timestamp is {0} seconds old, outside the accepted window")]
    TooOld(i64),
    #[error("webhook-timestamp is {0} seconds in the future, outside the accepted window")]
    InFuture(i64),
    #[error("no webhook-signature entry matches")]
    NoMatch,
}

impl VerifyError {
    /// Never: the same request fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }

    /// True for timestamp-window failures (metric reason `stale_timestamp`).
    pub fn is_timestamp(&self) -> bool {
        matches!(self, VerifyError::TooOld(_) | VerifyError::InFuture(_))
    }
}

/// Parses `webhook-timestamp` and checks it is within `tolerance` of `now`
/// (unix seconds). Cheap, so it runs before the body is read.
pub fn check_timestamp(timestamp: &str, now: i64, tolerance: Duration) -> Result<i64, VerifyError> {
    let value: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| VerifyError::MalformedHeader("webhook-timestamp"))?;
    let tolerance = i64::try_from(tolerance.as_secs()).unwrap_or(i64::MAX);
    let age = now.saturating_sub(value);
    if age > tolerance {
        return Err(VerifyError::TooOld(age));
    }
    let ahead = age.saturating_neg();
    if ahead > tolerance {
        return Err(VerifyError::InFuture(ahead));
    }
    Ok(value)
}

/// Checks the `webhook-signature` header against the body in constant time.
/// Entries of other versions (`v1a,...`) are skipped; one `v1` match passes.
pub fn verify_signature(
    secret: &WebhookSecret,
    id: &str,
    timestamp: &str,
    signature_header: &str,
    body: &[u8],
) -> Result<(), VerifyError> {
    let expected = secret.mac(id, timestamp, body).finalize().into_bytes();
    let mut matched = false;
    for entry in signature_header.split(' ').filter(|e| !e.is_empty()) {
        let Some(("v1", encoded)) = entry.split_once(',') else {
            continue;
        };
        let Ok(candidate) = STANDARD.decode(encoded) else {
            continue;
        };
        // No early exit: every entry is checked, each in constant time.
        matched |= bool::from(candidate.as_slice().ct_eq(expected.as_slice()));
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::NoMatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The reference vector published with the Standard Webhooks spec.
    const SPEC_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SPEC_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SPEC_TS: i64 = 1_614_265_330;
    const SPEC_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SPEC_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn signs_the_spec_vector() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert_eq!(sign(&secret, SPEC_ID, SPEC_TS, SPEC_BODY), SPEC_SIG);
        verify_signature(&secret, SPEC_ID, "1614265330", SPEC_SIG, SPEC_BODY).unwrap();
    }

    #[test]
    fn any_matching_entry_passes_and_tampering_fails() {
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        let ts = "1614265330";
        let several = format!("v1a,abc v1,AAAA {SPEC_SIG} v1,not-base64!");
        verify_signature(&secret, SPEC_ID, ts, &several, SPEC_BODY).unwrap();

        let cases: [(&str, &str, &[u8]); 4] = [
            (SPEC_ID, "v1,AAAA", SPEC_BODY),
            (SPEC_ID, SPEC_SIG, br#"{"test": 2432232315}"#),
            ("msg_other", SPEC_SIG, SPEC_BODY),
            (SPEC_ID, "", SPEC_BODY),
        ];
        for (id, header, body) in cases {
            assert_eq!(
                verify_signature(&secret, id, ts, header, body),
                Err(VerifyError::NoMatch),
                "{id} {header}"
            );
        }
        // Same signature, other timestamp.
        assert!(verify_signature(&secret, SPEC_ID, "1614265331", SPEC_SIG, SPEC_BODY).is_err());
        // Other secret.
        let other = WebhookSecret::parse(&format!("whsec_{}", STANDARD.encode([7u8; 24]))).unwrap();
        assert!(verify_signature(&other, SPEC_ID, ts, SPEC_SIG, SPEC_BODY).is_err());
    }

    #[test]
    fn timestamps_outside_the_window_fail_both_ways() {
        let tolerance = Duration::from_secs(300);
        let now = 1_700_000_000;
        assert_eq!(check_timestamp("1700000000", now, tolerance), Ok(now));
        assert!(check_timestamp("1699999700", now, tolerance).is_ok());
        assert!(check_timestamp("1700000300", now, tolerance).is_ok());
        assert_eq!(
            check_timestamp("1699999699", now, tolerance),
            Err(VerifyError::TooOld(301))
        );
        assert_eq!(
            check_timestamp("1700000301", now, tolerance),
            Err(VerifyError::InFuture(301))
        );
        for bad in ["", "abc", "1.5", "99999999999999999999999"] {
            assert_eq!(
                check_timestamp(bad, now, tolerance),
                Err(VerifyError::MalformedHeader("webhook-timestamp")),
                "{bad:?}"
            );
        }
        assert!(check_timestamp("-9223372036854775808", now, tolerance).is_err());
    }

    #[test]
    fn secrets_are_validated_and_never_printed() {
        assert_eq!(
            WebhookSecret::parse("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap_err(),
            SecretError::MissingPrefix
        );
        assert_eq!(
            WebhookSecret::parse("whsec_***").unwrap_err(),
            SecretError::BadBase64
        );
        assert_eq!(
            WebhookSecret::parse("whsec_AAAA").unwrap_err(),
            SecretError::TooShort(3)
        );
        let secret = WebhookSecret::parse(SPEC_SECRET).unwrap();
        assert!(!format!("{secret:?}").contains("MfKQ"));

        let generated = WebhookSecret::generate();
        assert!(!format!("{generated:?}").contains("whsec_"));
        let parsed = WebhookSecret::from_secret_string(&generated).unwrap();
        let sig = sign(&parsed, "id", 1, b"x");
        verify_signature(&parsed, "id", "1", &sig, b"x").unwrap();
    }
}
