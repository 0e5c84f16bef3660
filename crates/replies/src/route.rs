//! `POST /v1/zendesk/events`: signature first, then the body, then the
//! rules; a claimed comment is delivered in the background.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use intake_channel::{ChannelContext, HttpChannel};
use intake_store::{AgentReply, AgentReplyStatus, ReplyFile};
use serde_json::json;

use crate::payload::{CommentEvent, Skip};
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use crate::telemetry::{ReplySkipped, WebhookRejected};
use crate::{AgentReplies, ROUTE};

/// The mail channel's name: its agent replies follow `send_mail`.
const MAIL_CHANNEL: &str = "email";

impl HttpChannel for AgentReplies {
    fn name(&self) -> &'static str {
        "zendesk_webhook"
    }

    fn routes(self: Arc<Self>, _ctx: ChannelContext) -> axum::Router {
        self.router()
    }
}

impl AgentReplies {
    /// The route alone (the gateway mounts it through [`HttpChannel`]).
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route(ROUTE, post(receive))
            .with_state(self)
    }

    async fn handle(self: &Arc<Self>, headers: &HeaderMap, body: &[u8]) -> Response {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Err(error) = verify(
            self.options.signing_secret.bytes(),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
            chrono::Utc::now(),
            self.options.replay_window,
        ) {
            let message = error.to_string();
            WebhookRejected {
                reason: error.as_str(),
                message: &message,
            }
            .emit();
            return answer(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}));
        }
        let event: CommentEvent = match serde_json::from_slice(body) {
            Ok(event) => event,
            Err(error) => {
                let message = error.to_string();
                WebhookRejected {
                    reason: "bad_json",
                    message: &message,
                }
                .emit();
                return answer(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "bad_request", "message": message}),
                );
            }
        };
        let skipped = |reason: Skip| {
            ReplySkipped {
                ticket_id: event.ticket_id,
                comment_id: event.comment_id,
                reason: reason.as_str(),
            }
            .emit();
            answer(
                StatusCode::OK,
                json!({"status": "skipped", "reason": reason.as_str()}),
            )
        };
        if let Err(reason) = event.check() {
            return skipped(reason);
        }
        let conversation = match self.store.ticket_conversation(event.ticket_id).await {
            Ok(Some(conversation)) => conversation,
            Ok(None) => return skipped(Skip::UnknownTicket),
            Err(error) => return unavailable(&error),
        };
        if conversation.channel == MAIL_CHANNEL && !self.options.send_mail {
            return skipped(Skip::LeftToZendesk);
        }
        let reply = AgentReply {
            comment_id: event.comment_id,
            ticket_id: event.ticket_id,
            conversation,
            text: event.text(),
            subject: event.subject(),
            attachments: event
                .attachments
                .iter()
                .map(|a| ReplyFile {
                    file_name: a.file_name.clone(),
                    url: a.url.clone(),
                })
                .collect(),
            status: AgentReplyStatus::Pending,
            reason: None,
        };
        match self.store.claim_agent_reply(&reply).await {
            Ok(true) => {}
            Ok(false) => return skipped(Skip::Duplicate),
            Err(error) => return unavailable(&error),
        }
        self.spawn_delivery(reply);
        answer(StatusCode::OK, json!({"status": "accepted"}))
    }
}

async fn receive(
    State(replies): State<Arc<AgentReplies>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    replies.handle(&headers, &body).await
}

fn answer(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}

/// The store is down: 503, so Zendesk retries the request later.
fn unavailable(error: &intake_store::StoreError) -> Response {
    tracing::warn!(error = %error, "state store unavailable for a zendesk webhook");
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "unavailable"}),
    )
}
