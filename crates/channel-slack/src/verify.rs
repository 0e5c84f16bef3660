//! Request signing v0: `X-Slack-Signature` is `v0=<hex HMAC-SHA256 of
//! "v0:<X-Slack-Request-Timestamp>:<raw body>" under the signing secret>`.
//! The timestamp must be within the replay window of the gateway clock
//! (checked from the headers, before the body is read); the signature is
//! compared in constant time (`Mac::verify_slice`) before parsing.

use std::time::Duration;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use intake_channel::RejectReason;
use intake_channel::webhook::Rejection;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The header carrying the unix time of the request.
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";

fn mac(secret: &SecretString, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("any key length");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The value Slack puts in [`SIGNATURE_HEADER`] for `body` sent at `timestamp`.
pub fn sign(secret: &SecretString, timestamp: &str, body: &[u8]) -> String {
    format!(
        "v0={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

fn refuse(message: &str) -> Rejection {
    Rejection::new(RejectReason::Signature, message)
}

fn timestamp(headers: &HeaderMap) -> Result<&str, Rejection> {
    headers
        .get(TIMESTAMP_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .ok_or_else(|| refuse("missing x-slack-request-timestamp header"))
}

/// Both headers present and the timestamp within `window` of `now` (unix seconds).
pub(crate) fn check_headers(
    headers: &HeaderMap,
    window: Duration,
    now: i64,
) -> Result<(), Rejection> {
    if headers.get(SIGNATURE_HEADER).is_none() {
        return Err(refuse("missing x-slack-signature header"));
    }
    let sent: i64 = timestamp(headers)?
        .parse()
        .map_err(|_| refuse("x-slack-request-timestamp is not unix seconds"))?;
    if now.abs_diff(sent) > window.as_secs() {
        return Err(Rejection::new(
            RejectReason::StaleTimestamp,
            format!(
                "x-slack-request-timestamp is more than {} seconds away from the gateway clock",
                window.as_secs()
            ),
        ));
    }
    Ok(())
}

/// Ok when the signature header holds the signature of `body`.
pub(crate) fn verify(
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    let timestamp = timestamp(headers)?;
    let signature = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("v0="))
        .and_then(|v| hex::decode(v).ok())
        .ok_or_else(|| refuse("x-slack-signature is not v0=<hex>"))?;
    mac(secret, timestamp, body)
        .verify_slice(&signature)
        .map_err(|_| refuse("x-slack-signature does not match the body"))
}
