//! Signed visitor identities (`author.identity_token`), following Zendesk
//! messaging's model for authenticated visitors: the site's backend, which
//! knows who is logged in, signs a short-lived JWT with a secret it shares
//! with the gateway; the widget passes it along. Whatever a visitor types
//! into the chat (an e-mail, a phone) stays a claim.
//!
//! The token is a compact JWT, `HS256` only (any JWT library can make it),
//! with the claims
//!
//! | claim | required | meaning |
//! |---|---|---|
//! | `external_id` | yes | the site's own user id |
//! | `exp` | yes | expiry, unix seconds (60 s of clock skew tolerated) |
//! | `email` | no | the user's e-mail, vouched for by the site |
//! | `phone` | no | the user's phone, international form, vouched for by the site |
//! | `name` | no | the user's display name |
//!
//! The key is the bytes of the identity secret as written (as JWT libraries
//! take an HMAC secret), at least [`MIN_IDENTITY_SECRET_BYTES`] of them.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use intake_event::{normalise_email, normalise_phone};

/// Fewest secret bytes accepted: RFC 7518 asks HS256 keys to be at least as
/// long as the hash output (256 bits).
pub const MIN_IDENTITY_SECRET_BYTES: usize = 32;

/// Clock skew tolerated on `exp`, in seconds.
const LEEWAY_SECS: u64 = 60;

/// Checks identity tokens with the site's identity secret. `Debug` never
/// shows the key.
#[derive(Clone)]
pub struct IdentityVerifier {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for IdentityVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityVerifier").finish_non_exhaustive()
    }
}

/// The identity secret is unusable. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the chat identity secret must be at least {MIN_IDENTITY_SECRET_BYTES} bytes long")]
pub struct IdentitySecretError;

impl IdentitySecretError {
    /// Never: the configuration has to change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Why a token was not accepted (logged, never shown to the sender; the
/// token is then dropped and the visitor treated as unverified).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("no identity secret is configured (channels.chat.identity_secret_env)")]
    NotConfigured,
    #[error("the identity token has expired")]
    Expired,
    #[error("the identity token's signature does not match the identity secret")]
    Signature,
    #[error("the identity token is not an HS256 JWT with the required claims")]
    Malformed,
    #[error("the identity token's {0} claim is invalid")]
    Claim(&'static str),
}

/// What a valid token vouches for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedIdentity {
    /// The site's user id.
    pub external_id: String,
    /// Normalised (trimmed, lower case).
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    external_id: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    phone: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

impl IdentityVerifier {
    pub fn new(secret: &SecretString) -> Result<Self, IdentitySecretError> {
        let bytes = secret.expose_secret().as_bytes();
        if bytes.len() < MIN_IDENTITY_SECRET_BYTES {
            return Err(IdentitySecretError);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp"]);
        Ok(Self {
            key: DecodingKey::from_secret(bytes),
            validation,
        })
    }

    /// Checks signature, algorithm and expiry, then the claims.
    pub fn verify(&self, token: &str) -> Result<VerifiedIdentity, IdentityError> {
        use jsonwebtoken::errors::ErrorKind;
        let data = jsonwebtoken::decode::<Claims>(token.trim(), &self.key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => IdentityError::Expired,
                ErrorKind::InvalidSignature => IdentityError::Signature,
                _ => IdentityError::Malformed,
            })?;
        let claims = data.claims;
        let external_id = claims.external_id.trim().to_owned();
        if external_id.is_empty() || external_id.chars().any(char::is_control) {
            return Err(IdentityError::Claim("external_id"));
        }
        let present =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let email = present(claims.email)
            .map(|address| normalise_email(&address).map_err(|_| IdentityError::Claim("email")))
            .transpose()?;
        let phone = present(claims.phone)
            .map(|number| normalise_phone(&number).map_err(|_| IdentityError::Claim("phone")))
            .transpose()?;
        let name = present(claims.name).filter(|n| !n.chars().any(char::is_control));
        Ok(VerifiedIdentity {
            external_id,
            email,
            phone,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    use super::*;

    const SECRET: &str = "site-identity-secret-0123456789abcdef";

    fn token(claims: serde_json::Value, secret: &str, algorithm: Algorithm) -> String {
        jsonwebtoken::encode(
            &Header::new(algorithm),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn verifier() -> IdentityVerifier {
        IdentityVerifier::new(&SecretString::from(SECRET)).unwrap()
    }

    fn in_an_hour() -> i64 {
        chrono::Utc::now().timestamp() + 3600
    }

    #[test]
    fn a_valid_token_vouches_for_its_claims() {
        let claims = json!({"external_id": " u-1 ", "email": "Olga@Example.com",
            "phone": "+7 999 123-45-67", "name": "Ольга", "exp": in_an_hour()});
        let identity = verifier()
            .verify(&token(claims, SECRET, Algorithm::HS256))
            .unwrap();
        assert_eq!(
            identity,
            VerifiedIdentity {
                external_id: "u-1".into(),
                email: Some("olga@example.com".into()),
                phone: Some("+79991234567".into()),
                name: Some("Ольга".into()),
            }
        );
    }

    #[test]
    fn bad_tokens_are_refused_with_their_reason() {
        let good = json!({"external_id": "u-1", "email": "a@example.com", "exp": in_an_hour()});
        let v = verifier();
        let cases = [
            (
                token(
                    good.clone(),
                    "another-secret-0123456789abcdefgh",
                    Algorithm::HS256,
                ),
                IdentityError::Signature,
            ),
            (
                token(good.clone(), SECRET, Algorithm::HS384),
                IdentityError::Malformed,
            ),
            (
                token(
                    json!({"external_id": "u-1", "exp": chrono::Utc::now().timestamp() - 3600}),
                    SECRET,
                    Algorithm::HS256,
                ),
                IdentityError::Expired,
            ),
            (
                token(json!({"external_id": "u-1"}), SECRET, Algorithm::HS256),
                IdentityError::Malformed,
            ),
            (
                token(
                    json!({"email": "a@example.com", "exp": in_an_hour()}),
                    SECRET,
                    Algorithm::HS256,
                ),
                IdentityError::Malformed,
            ),
            (
                token(
                    json!({"external_id": "u", "email": "nope", "exp": in_an_hour()}),
                    SECRET,
                    Algorithm::HS256,
                ),
                IdentityError::Claim("email"),
            ),
            ("not.a.jwt".to_owned(), IdentityError::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(v.verify(&token), Err(expected.clone()), "{expected:?}");
        }
        // `alg: none` is never accepted.
        let unsigned = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url(good.to_string().as_bytes())
        );
        assert!(v.verify(&unsigned).is_err());
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn short_secrets_are_refused_and_never_shown() {
        assert_eq!(
            IdentityVerifier::new(&SecretString::from("short")).unwrap_err(),
            IdentitySecretError
        );
        assert!(!format!("{:?}", verifier()).contains(SECRET));
    }
}
