//! Replies by the Cloud API's messages endpoint:
//! `POST {api_base_url}/{phone_number_id}/messages` with the access token.
//!
//! A session text (`type: text`) is sent when the customer wrote within the
//! last 24 hours (the customer-care window; the reply's `last_inbound_at`,
//! from the state store) or when that time is unknown; WhatsApp answers
//! error code 131047 outside the window. Outside it (known, or so answered)
//! the configured template (`reply_template`, its body parameter the reply's
//! text with the files as links) is sent instead; without one the reply
//! fails as `invalid`. Inside the window each file of the reply follows as a
//! `document` message by link. The recipient and the
//! business number come from the conversation (`<phone_number_id>:<wa_id>`,
//! as the channel's events carry it), else from the contact key and
//! `phone_number_id`.

use std::time::Duration;

use async_trait::async_trait;
use intake_channel::{Delivery, Reply, ReplyError, ReplyFailure, ReplySender};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

use crate::CHANNEL;

/// The Cloud API's error code for a session message outside the window.
pub const OUTSIDE_WINDOW_CODE: i64 = 131047;

/// The template sent outside the customer-care window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTemplate {
    /// The approved template's name.
    pub name: String,
    /// Its language code (`en_US`).
    pub language: String,
}

/// Sends replies to WhatsApp users.
#[derive(Debug, Clone)]
pub struct WhatsAppReplies {
    pub(crate) http: reqwest::Client,
    pub(crate) api_base_url: Url,
    pub(crate) access_token: SecretString,
    pub(crate) phone_number_id: Option<String>,
    pub(crate) template: Option<ReplyTemplate>,
}

impl WhatsAppReplies {
    /// The business number and the recipient's `wa_id` of `reply`.
    fn route(&self, reply: &Reply) -> Result<(String, String), ReplyError> {
        if let Some((number, wa_id)) = reply
            .conversation_id
            .as_deref()
            .and_then(|c| c.split_once(':'))
        {
            return Ok((number.to_owned(), wa_id.to_owned()));
        }
        let wa_id = reply
            .contact_key
            .strip_prefix("phone:+")
            .or_else(|| reply.contact_key.strip_prefix("whatsapp:"))
            .ok_or_else(|| {
                ReplyError::new(ReplyFailure::Invalid, "the contact is not a WhatsApp user")
            })?;
        let number = self.phone_number_id.clone().ok_or_else(|| {
            ReplyError::new(
                ReplyFailure::Invalid,
                "no conversation and no channels.whatsapp.phone_number_id",
            )
        })?;
        Ok((number, wa_id.to_owned()))
    }

    /// One call of the messages endpoint; the answer's JSON on success, or
    /// the error with the Cloud API's error code when it gave one.
    async fn post(&self, number: &str, body: &Value) -> Result<Value, (ReplyError, Option<i64>)> {
        let url = self
            .api_base_url
            .join(&format!("{number}/messages"))
            .map_err(|_| {
                (
                    ReplyError::new(ReplyFailure::Invalid, "bad phone number id"),
                    None,
                )
            })?;
        let answer = self
            .http
            .post(url)
            .bearer_auth(self.access_token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| {
                let reason = if e.is_timeout() {
                    ReplyFailure::Timeout
                } else {
                    ReplyFailure::Unreachable
                };
                (
                    ReplyError::new(reason, format!("messages API: {}", e.without_url())),
                    None,
                )
            })?;
        let status = answer.status();
        let retry_after = answer
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let json: Value = answer.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(json);
        }
        let code = json["error"]["code"].as_i64();
        let mut error = ReplyError::from_http_status(
            status.as_u16(),
            format!(
                "messages API answered {status} (error code {})",
                code.map_or("-".to_owned(), |c| c.to_string())
            ),
        );
        if let Some(wait) = retry_after {
            error = error.with_retry_after(wait);
        }
        Err((error, code))
    }
}

#[async_trait]
impl ReplySender for WhatsAppReplies {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        let (number, wa_id) = self.route(reply)?;
        // Known to be outside the window: the template straight away (a
        // session message would only be refused with 131047).
        if reply
            .last_inbound_at
            .is_some_and(|at| !window_open(at, chrono::Utc::now()))
        {
            let answer = self.send_template(&number, &wa_id, reply).await?;
            return Ok(delivery(&answer));
        }
        let session = message(
            &wa_id,
            json!({"type": "text", "text": {"body": reply.text}}),
        );
        let file_only = reply.text.trim().is_empty() && !reply.attachments.is_empty();
        let sent = if file_only {
            Ok(Value::Null)
        } else {
            self.post(&number, &session).await
        };
        let mut answer = match sent {
            Ok(answer) => answer,
            Err((_, Some(OUTSIDE_WINDOW_CODE))) => {
                let answer = self.send_template(&number, &wa_id, reply).await?;
                return Ok(delivery(&answer));
            }
            Err((error, _)) => return Err(error),
        };
        // Inside the window the files follow as documents (by link; the
        // Cloud API fetches them).
        for attachment in &reply.attachments {
            let document = message(
                &wa_id,
                json!({"type": "document", "document": {
                    "link": attachment.url,
                    "filename": attachment.file_name,
                }}),
            );
            let sent = self.post(&number, &document).await.map_err(|(e, _)| e)?;
            if answer.is_null() {
                answer = sent;
            }
        }
        Ok(delivery(&answer))
    }
}

/// WhatsApp's customer-care window: session messages only within this
/// time after the customer's last message.
pub const CUSTOMER_CARE_WINDOW: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// True while a session message to a customer who last wrote at `last` is
/// allowed at `now`.
pub fn window_open(
    last: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> bool {
    now - last < CUSTOMER_CARE_WINDOW
}

/// A message to `wa_id`: the common fields and `content` (`type` and its object).
fn message(wa_id: &str, content: Value) -> Value {
    let mut body = json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": wa_id,
    });
    if let (Some(body), Value::Object(content)) = (body.as_object_mut(), content) {
        body.extend(content);
    }
    body
}

fn delivery(answer: &Value) -> Delivery {
    Delivery {
        message_id: answer["messages"][0]["id"].as_str().map(str::to_owned),
    }
}

impl WhatsAppReplies {
    /// The configured template, its body parameter the text with the files
    /// as links (a template carries no documents).
    async fn send_template(
        &self,
        number: &str,
        wa_id: &str,
        reply: &Reply,
    ) -> Result<Value, ReplyError> {
        let Some(template) = &self.template else {
            return Err(ReplyError::new(
                ReplyFailure::Invalid,
                "outside the 24-hour window and no channels.whatsapp.reply_template_name",
            ));
        };
        let body = message(
            wa_id,
            json!({"type": "template", "template": {
                "name": template.name,
                "language": {"code": template.language},
                "components": [{
                    "type": "body",
                    "parameters": [{"type": "text", "text": reply.text_with_links()}],
                }],
            }}),
        );
        self.post(number, &body).await.map_err(|(e, _)| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_24_hours_from_the_last_message() {
        let last = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(window_open(last, last + chrono::TimeDelta::hours(23)));
        assert!(!window_open(last, last + chrono::TimeDelta::hours(24)));
        assert!(!window_open(last, last + chrono::TimeDelta::days(3)));
    }

    #[test]
    fn a_message_has_the_common_fields_and_its_content() {
        let body = message("7900", json!({"type": "text", "text": {"body": "hi"}}));
        assert_eq!(
            body,
            json!({"messaging_product": "whatsapp", "recipient_type": "individual",
                   "to": "7900", "type": "text", "text": {"body": "hi"}})
        );
    }
}
