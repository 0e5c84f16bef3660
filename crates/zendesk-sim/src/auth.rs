//! Authentication of API requests.
//!
//! Rule (the simulator's choice, documented in `docs/zendesk-simulator.md`):
//! - `Basic base64("{email}/token:{api_token}")`: the API token belongs to the
//!   account, so any existing user's e-mail is accepted with it; the request
//!   acts as that user.
//! - `Bearer {oauth_token}`: acts as the seeded agent (`agent_email`).
//! - Anything else, a wrong token or an unknown e-mail: 401.
//! - An authenticated user whose role is `end-user`: 403 on every API endpoint.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use secrecy::ExposeSecret;

use crate::error::ApiError;
use crate::state::SimState;

/// The user a request acts as (inserted into request extensions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser(pub u64);

/// Compares two byte strings without an early exit on the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Resolves the request's credentials to an agent, or the error Zendesk would answer.
pub fn authenticate(state: &SimState, headers: &HeaderMap) -> Result<AuthUser, ApiError> {
    let value = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthenticated)?;
    let (scheme, credentials) = value.split_once(' ').ok_or(ApiError::Unauthenticated)?;
    let config = state.config();
    let email = if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(credentials.trim())
            .map_err(|_| ApiError::Unauthenticated)?;
        let decoded = String::from_utf8(decoded).map_err(|_| ApiError::Unauthenticated)?;
        let (login, token) = decoded.split_once(':').ok_or(ApiError::Unauthenticated)?;
        let email = login
            .strip_suffix("/token")
            .ok_or(ApiError::Unauthenticated)?;
        if !same(
            token.as_bytes(),
            config.api_token.expose_secret().as_bytes(),
        ) {
            return Err(ApiError::Unauthenticated);
        }
        email.to_owned()
    } else if scheme.eq_ignore_ascii_case("bearer") {
        let expected = config
            .oauth_token
            .as_ref()
            .ok_or(ApiError::Unauthenticated)?;
        if !same(
            credentials.trim().as_bytes(),
            expected.expose_secret().as_bytes(),
        ) {
            return Err(ApiError::Unauthenticated);
        }
        config.agent_email.clone()
    } else {
        return Err(ApiError::Unauthenticated);
    };
    let data = state.data();
    let user = data
        .user_by_email(&email)
        .ok_or(ApiError::Unauthenticated)?;
    if !user.is_agent() {
        return Err(ApiError::Forbidden);
    }
    Ok(AuthUser(user.id))
}
