//! Webhooks and the one trigger intake needs (issue 16): an agent comment
//! added through the admin API fires the documented trigger ("comment is
//! present, current user is an agent") and delivers the JSON body of
//! docs/agent-replies.md, signed as Zendesk signs webhooks:
//! `X-Zendesk-Webhook-Signature` = base64(HMAC-SHA256(secret, timestamp + body)).
//!
//! Retries imitate Zendesk's documented behaviour (docs/zendesk-simulator.md,
//! "Webhooks"): 409 is retried up to 3 times; 429 and 503 are retried when
//! `Retry-After` is at most 60 seconds; a timeout or a refused connection is
//! retried up to 5 times; any other answer ends the delivery.

use std::time::Duration;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::error::ApiError;
use crate::model::Comment;
use crate::state::SimState;

/// The registered webhook endpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Webhook {
    pub url: String,
    pub signing_secret: String,
}

/// A file of an agent comment (`file_name`, `url`), as the trigger's
/// attachment loop renders it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentFile {
    pub file_name: String,
    pub url: String,
}

/// The channels `/admin/tickets/native` creates tickets in: via type, via
/// id and the name `{{ticket.via}}` renders. Ids 0 (web form) and 4 (mail)
/// are from Zendesk's via types reference; 48 (web widget) and 29 (chat)
/// are as we remember them, *unconfirmed* (the trigger intake installs
/// only asks "not 5", the API).
pub const NATIVE_VIAS: [(&str, u64, &str); 4] = [
    ("email", 4, "Mail"),
    ("web_form", 0, "Web Form"),
    ("web_widget", 48, "Web Widget"),
    ("chat", 29, "Chat"),
];

/// A ticket to create "as Zendesk's own channel would".
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NativeTicketInput {
    /// One of [`NATIVE_VIAS`] (`email`, `web_form`, `web_widget`, `chat`).
    pub via: String,
    pub requester_name: String,
    pub requester_email: String,
    #[serde(default)]
    pub subject: Option<String>,
    /// The customer's message (the first comment).
    pub body: String,
}

/// How long one webhook request may take (Zendesk: 12 seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(12);
/// Retries after a 409.
const CONFLICT_RETRIES: u32 = 3;
/// Retries after a timeout or a connection failure.
const TIMEOUT_RETRIES: u32 = 5;
/// Retries after a 429/503 with a short enough `Retry-After`.
const THROTTLE_RETRIES: u32 = 3;
/// The longest `Retry-After` that is honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);
/// Wait between retries when the answer names none.
const RETRY_WAIT: Duration = Duration::from_millis(500);

/// The signature Zendesk sends.
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(timestamp.as_bytes());
    mac.update(body);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

impl SimState {
    pub fn set_webhook(&self, webhook: Option<Webhook>) {
        self.data().webhook = webhook;
    }

    /// Adds a comment by the seeded agent to ticket `id` (with `files` as
    /// its attachments in the webhook body); returns the comment id and the
    /// webhook body the trigger renders, or None for an unknown ticket.
    pub fn agent_comment(
        &self,
        id: u64,
        body: &str,
        public: bool,
        files: &[CommentFile],
    ) -> Option<(u64, Value)> {
        let agent = self.agent_id();
        let now = self.now();
        let mut data = self.data();
        let comment_id = data.next_id();
        let audit_id = data.next_id();
        let ticket = data.tickets.get_mut(&id)?;
        ticket.comments.push(Comment {
            id: comment_id,
            audit_id,
            author_id: agent,
            body: body.to_owned(),
            html_body: format!("<p>{body}</p>"),
            public,
            attachments: Vec::new(),
            created_at: now,
            custom_metadata: Default::default(),
        });
        ticket.updated_at = now;
        if ticket.status == "new" {
            ticket.status = "open".to_owned();
        }
        let payload = json!({
            "ticket_id": id.to_string(),
            "comment_id": comment_id.to_string(),
            "author_id": agent.to_string(),
            "author_role": "admin",
            "requester_id": ticket.requester_id.to_string(),
            "public": public.to_string(),
            "body": body,
            "html_body": format!("<p>{body}</p>"),
            "subject": ticket.subject.clone().unwrap_or_default(),
            "attachments": files,
        });
        Some((comment_id, payload))
    }

    /// Creates a ticket "as Zendesk's own channel would" (`via` one of
    /// [`NATIVE_VIAS`]): the requester found by e-mail or made an end user,
    /// the first comment theirs, `via.channel` set; then fires the created
    /// triggers. Returns the ticket id, the requester's and how many
    /// deliveries started.
    pub fn native_ticket(&self, ticket: &NativeTicketInput) -> Result<(u64, u64, usize), ApiError> {
        let (channel, via_id, via_name) = NATIVE_VIAS
            .iter()
            .copied()
            .find(|(name, _, _)| *name == ticket.via)
            .ok_or_else(|| {
                ApiError::invalid("via", "via: one of email, web_form, web_widget, chat")
            })?;
        let now = self.now();
        let base = self.render();
        let render = base.get();
        let (id, requester_id) = {
            let mut data = self.data();
            let requester_id = match data.user_by_email(&ticket.requester_email) {
                Some(user) => user.id,
                None => data.add_user(
                    &ticket.requester_name,
                    Some(ticket.requester_email.clone()),
                    None,
                    "end-user",
                    now,
                ),
            };
            let input = json!({
                "subject": ticket.subject,
                "comment": {"body": ticket.body, "public": true, "author_id": requester_id},
                "requester_id": requester_id,
            });
            let (id, _audit) =
                crate::api::ticket_ops::create(&mut data, &render, &input, requester_id, now)?;
            if let Some(created) = data.tickets.get_mut(&id) {
                created.via = Some(channel.to_owned());
            }
            (id, requester_id)
        };
        let facts = crate::triggers::CreatedFacts {
            ticket_id: id,
            via_name,
            via_id,
            requester_id,
            requester_name: &ticket.requester_name,
            requester_email: &ticket.requester_email,
            subject: ticket.subject.as_deref().unwrap_or_default(),
            description: &ticket.body,
        };
        Ok((id, requester_id, self.fire_created_triggers(&facts)))
    }

    /// Delivers `payload` to the registered webhook in the background (with
    /// Zendesk's retries); false when no webhook is registered.
    pub fn deliver_webhook(&self, payload: &Value) -> bool {
        let Some(webhook) = self.data().webhook.clone() else {
            return false;
        };
        let body = payload.to_string();
        let state = self.clone();
        tokio::spawn(async move { state.deliver(webhook, body).await });
        true
    }

    pub(crate) async fn deliver(&self, webhook: Webhook, body: String) {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("http client");
        let (mut conflicts, mut timeouts, mut throttles) = (0, 0, 0);
        loop {
            let timestamp = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let signature = sign(&webhook.signing_secret, &timestamp, body.as_bytes());
            let sent = client
                .post(&webhook.url)
                .header("content-type", "application/json")
                .header("x-zendesk-webhook-signature-timestamp", &timestamp)
                .header("x-zendesk-webhook-signature", signature)
                .body(body.clone())
                .send()
                .await;
            let wait = match sent {
                Err(_) if timeouts < TIMEOUT_RETRIES => {
                    timeouts += 1;
                    RETRY_WAIT
                }
                Err(error) => {
                    tracing::warn!(error = %error, "sim webhook delivery given up");
                    self.count_webhook("failed");
                    return;
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let retry_after = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    match status {
                        200..=299 => {
                            self.count_webhook("delivered");
                            return;
                        }
                        409 if conflicts < CONFLICT_RETRIES => {
                            conflicts += 1;
                            RETRY_WAIT
                        }
                        429 | 503
                            if throttles < THROTTLE_RETRIES
                                && retry_after.is_some_and(|w| w <= MAX_RETRY_AFTER) =>
                        {
                            throttles += 1;
                            retry_after.unwrap_or(RETRY_WAIT)
                        }
                        _ => {
                            tracing::warn!(status, "sim webhook delivery refused");
                            self.count_webhook("failed");
                            return;
                        }
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    fn count_webhook(&self, outcome: &str) {
        *self
            .data()
            .webhook_deliveries
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    /// Webhook deliveries by outcome (`delivered`, `failed`).
    pub fn webhook_deliveries(&self) -> Value {
        json!(self.data().webhook_deliveries)
    }
}
