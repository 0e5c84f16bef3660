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
use intake_store::{AgentReply, AgentReplyStatus, NativeTicketState, ReplyFile};
use serde_json::json;

use crate::native::{CreatedEvent, event_for};
use crate::payload::{CommentEvent, Skip, WebhookBody};
use crate::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify};
use crate::telemetry::{NativeTicketReceived, ReplySkipped, WebhookRejected};
use crate::{AgentReplies, ROUTE};

/// The mail channel's name: its agent replies follow `send_mail`.
const MAIL_CHANNEL: &str = "email";

impl HttpChannel for AgentReplies {
    fn name(&self) -> &'static str {
        "zendesk_webhook"
    }

    fn routes(self: Arc<Self>, ctx: ChannelContext) -> axum::Router {
        self.router_with_bus(ctx)
    }
}

impl AgentReplies {
    /// The route with the bus that tickets Zendesk created go out on (the
    /// gateway mounts it so through [`HttpChannel`]).
    pub fn router_with_bus(self: Arc<Self>, ctx: ChannelContext) -> axum::Router {
        // Mounted once; a second mount keeps the first bus.
        let _ = self.bus.set(ctx);
        self.router()
    }

    /// The route alone: without a bus, a ticket Zendesk created is answered
    /// 503 (see [`AgentReplies::router_with_bus`]).
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
        let event: CommentEvent = match WebhookBody::parse(body) {
            Ok(WebhookBody::Comment(event)) => event,
            Ok(WebhookBody::Created(created)) => return self.handle_created(&created).await,
            Err(message) => {
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
            Ok(None) => {
                return match self.store.native_ticket(event.ticket_id).await {
                    Ok(Some(_)) => skipped(Skip::ZendeskChannel),
                    Ok(None) => skipped(Skip::UnknownTicket),
                    Err(error) => unavailable(&error),
                };
            }
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

impl AgentReplies {
    /// A ticket Zendesk created in one of its own channels: recorded once,
    /// then handed to the router on the bus (`native.rs`).
    async fn handle_created(self: &Arc<Self>, created: &CreatedEvent) -> Response {
        let via = created.via();
        let said = |result: &'static str| {
            NativeTicketReceived {
                ticket_id: created.ticket_id,
                via: &via,
                result,
            }
            .emit();
            answer(StatusCode::OK, json!({"status": result}))
        };
        if created.through_api() {
            return said("api");
        }
        match self.store.ticket_conversation(created.ticket_id).await {
            Ok(Some(_)) => return said("own_ticket"),
            Ok(None) => {}
            Err(error) => return unavailable(&error),
        }
        let Some(bus) = self.bus.get() else {
            tracing::warn!(
                ticket_id = created.ticket_id,
                "a ticket zendesk created, but the route has no bus to hand it on"
            );
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "unavailable"}),
            );
        };
        match self
            .store
            .record_native_ticket(&created.record(chrono::Utc::now()))
            .await
        {
            Ok(NativeTicketState::Received) => {}
            Ok(_) => return said("duplicate"),
            Err(error) => return unavailable(&error),
        }
        // The first record's contents: a redelivery after a failed publish
        // sends the same event (same id, same receipt time).
        let stored = match self.store.native_ticket(created.ticket_id).await {
            Ok(Some((stored, _))) => stored,
            Ok(None) => {
                return unavailable(&intake_store::StoreError::Corrupt(
                    "a recorded native ticket is gone".to_owned(),
                ));
            }
            Err(error) => return unavailable(&error),
        };
        if let Err(error) = intake_channel::publish_event(bus, &event_for(&stored)).await {
            tracing::warn!(ticket_id = created.ticket_id, error = %error, "a ticket zendesk created is not on the bus");
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({"error": "unavailable"}),
            );
        }
        if let Err(error) = self.store.native_ticket_published(created.ticket_id).await {
            // On the bus already: Zendesk's retry publishes the same event
            // again, which the router finds recorded.
            return unavailable(&error);
        }
        said("accepted")
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
