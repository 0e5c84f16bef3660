//! Authentication of the raw body: `x-example-signature` is the lower-case
//! hex HMAC-SHA256 of the body under the shared secret, compared in
//! constant time (`Mac::verify_slice`).

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use intake_channel::RejectReason;
use intake_channel::webhook::Rejection;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-example-signature";

fn mac(secret: &SecretString) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).expect("any key length")
}

/// The signature a sender puts in [`SIGNATURE_HEADER`].
pub fn sign(secret: &SecretString, body: &[u8]) -> String {
    let mut mac = mac(secret);
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Ok when the header holds the body's signature.
pub(crate) fn verify(
    secret: &SecretString,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Rejection> {
    let refuse = |message: &str| Rejection::new(RejectReason::Signature, message);
    let header = headers
        .get(SIGNATURE_HEADER)
        .ok_or_else(|| refuse("missing x-example-signature header"))?;
    let signature = header
        .to_str()
        .ok()
        .and_then(|text| hex::decode(text.trim()).ok())
        .ok_or_else(|| refuse("x-example-signature is not hex"))?;
    let mut mac = mac(secret);
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refuse("x-example-signature does not match the body"))
}
