//! Authentication of a delivery. `POST`: `X-Hub-Signature-256` is
//! `sha256=<hex HMAC-SHA256 of the raw body under the app secret>`,
//! compared in constant time (`Mac::verify_slice`) before anything is
//! parsed. `GET` (subscription check): `hub.verify_token` equals the
//! configured token, compared in constant time.

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use intake_channel::RejectReason;
use intake_channel::webhook::Rejection;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

fn mac(secret: &SecretString) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("any key length")
}

/// The value Meta puts in [`SIGNATURE_HEADER`] for `body` (`sha256=<hex>`).
pub fn sign(app_secret: &SecretString, body: &[u8]) -> String {
    let mut mac = mac(app_secret);
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// Ok when the header holds the body's signature.
pub(crate) fn verify(
    app_secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    let refuse = |message: &str| Rejection::new(RejectReason::Signature, message);
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| refuse("missing x-hub-signature-256 header"))?;
    let signature = header
        .to_str()
        .ok()
        .and_then(|text| text.trim().strip_prefix("sha256="))
        .and_then(|text| hex::decode(text).ok())
        .ok_or_else(|| refuse("x-hub-signature-256 is not sha256=<hex>"))?;
    let mut mac = mac(app_secret);
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refuse("x-hub-signature-256 does not match the body"))
}

/// True when `given` is the configured verify token (constant time).
pub(crate) fn token_matches(expected: &SecretString, given: &str) -> bool {
    bool::from(expected.expose_secret().as_bytes().ct_eq(given.as_bytes()))
}
