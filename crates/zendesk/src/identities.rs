//! The User Identities API: the e-mail addresses, phone numbers and other
//! ids one Zendesk user is known by
//! (<https://developer.zendesk.com/api-reference/ticketing/users/user_identities/>).
//!
//! `POST /api/v2/users/{user_id}/identities` with `{"identity": {"type",
//! "value"}}` adds one (201 with the identity); the documented types are
//! `email`, `twitter`, `facebook`, `google`, `phone_number`,
//! `agent_forwarding`, `any_channel`, `foreign`, `sdk` and `messaging`.
//! An identity belongs to one user: a value another user already holds is
//! refused with 422 `RecordInvalid` and the description
//! "… is already being used by another user" (the same text Zendesk gives
//! for a duplicate e-mail on a user, see
//! <https://support.zendesk.com/hc/en-us/articles/4408831446298>), which
//! [`Error::is_identity_taken`] recognises.

use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Call, Client};
use crate::error::Error;

/// The identity types intake adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityType {
    Email,
    PhoneNumber,
    /// An id from another system (intake: a messenger's contact key such as
    /// `telegram:42`, which has no Zendesk identity type of its own).
    Foreign,
}

impl IdentityType {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityType::Email => "email",
            IdentityType::PhoneNumber => "phone_number",
            IdentityType::Foreign => "foreign",
        }
    }
}

/// One identity of a user, as Zendesk returns it. `type` stays a string:
/// users carry types intake never adds (`twitter`, `messaging`, …).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserIdentity {
    pub id: u64,
    pub user_id: u64,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    #[serde(default)]
    pub verified: bool,
    #[serde(default)]
    pub primary: bool,
}

impl UserIdentity {
    /// Whether this is the identity `kind`/`value` (e-mails compare without case).
    pub fn is(&self, kind: IdentityType, value: &str) -> bool {
        self.kind == kind.as_str()
            && match kind {
                IdentityType::Email => self.value.eq_ignore_ascii_case(value),
                _ => self.value == value,
            }
    }
}

#[derive(Serialize)]
struct NewIdentity<'a> {
    #[serde(rename = "type")]
    kind: IdentityType,
    value: &'a str,
    /// E-mail only: add it without sending the customer a verification mail
    /// (the channel already verified it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    skip_verify_email: bool,
}

#[derive(Serialize)]
struct IdentityBody<'a> {
    identity: NewIdentity<'a>,
}

#[derive(Deserialize)]
struct IdentityEnvelope {
    identity: UserIdentity,
}

/// The description Zendesk gives an identity value another user holds.
const TAKEN_TEXT: &str = "already being used by another user";

impl Client {
    /// `GET /api/v2/users/{user_id}/identities`.
    pub async fn user_identities(&self, user_id: u64) -> Result<Vec<UserIdentity>, Error> {
        let call = Call::get(
            "list_user_identities",
            format!("/api/v2/users/{user_id}/identities"),
        );
        self.list(call, "identities").await
    }

    /// `POST /api/v2/users/{user_id}/identities`: adds `kind`/`value` to the
    /// user. A value another user holds is an error for which
    /// [`Error::is_identity_taken`] is true.
    pub async fn add_user_identity(
        &self,
        user_id: u64,
        kind: IdentityType,
        value: &str,
    ) -> Result<UserIdentity, Error> {
        if value.trim().is_empty() {
            return Err(Error::InvalidInput("empty identity value".into()));
        }
        let body = IdentityBody {
            identity: NewIdentity {
                kind,
                value,
                skip_verify_email: kind == IdentityType::Email,
            },
        };
        let call = Call::json(
            "create_user_identity",
            Method::POST,
            format!("/api/v2/users/{user_id}/identities"),
            &body,
        )?;
        let envelope: IdentityEnvelope = self.execute(call).await?.json()?;
        Ok(envelope.identity)
    }
}

impl Error {
    /// Zendesk refused an identity because another user already holds it.
    pub fn is_identity_taken(&self) -> bool {
        match self {
            Error::Api {
                status: 422, body, ..
            } => body.texts().any(|text| text.contains(TAKEN_TEXT)),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiErrorBody;

    fn api(status: u16, body: &str) -> Error {
        Error::Api {
            endpoint: "create_user_identity",
            status,
            body: Box::new(ApiErrorBody::parse(body.as_bytes())),
            request_id: None,
            retry_after: None,
        }
    }

    #[test]
    fn a_value_held_by_another_user_is_recognised() {
        let taken = api(
            422,
            r#"{"error":"RecordInvalid","description":"Record validation errors","details":{"value":[{"description":"Value: +4915112345678 is already being used by another user","error":"DuplicateValue"}]}}"#,
        );
        assert!(taken.is_identity_taken());
        assert!(!taken.is_retryable());
        let other = api(
            422,
            r#"{"error":"RecordInvalid","details":{"value":[{"description":"Value: is invalid"}]}}"#,
        );
        assert!(!other.is_identity_taken());
        assert!(!api(500, "{}").is_identity_taken());
    }

    #[test]
    fn the_request_body_is_the_documented_one() {
        let body = IdentityBody {
            identity: NewIdentity {
                kind: IdentityType::PhoneNumber,
                value: "+4915112345678",
                skip_verify_email: false,
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            serde_json::json!({"identity": {"type": "phone_number", "value": "+4915112345678"}})
        );
    }
}
