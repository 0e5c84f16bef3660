//! The Slack webhook beyond the conformance suite: the handshake, the
//! replay window, which messages become events, threads, retries.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Publisher, Topics};
use intake_channel::testing::{BusMode, ControlledPublisher};
use intake_channel::{ChannelContext, HttpChannel, TicketEvent};
use intake_channel_slack::{RETRY_HEADER, SlackChannel};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use common::*;

struct Harness {
    app: axum::Router,
    bus: Arc<ControlledPublisher>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bus = ControlledPublisher::new(BusMode::Confirm);
        let blobs = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
        let ctx = ChannelContext {
            publisher: Arc::clone(&bus) as Arc<dyn Publisher>,
            topics: Topics::new("slack-test"),
            blobs: blobs as Arc<dyn BlobStore>,
        };
        let app = SlackChannel::new(options("http://127.0.0.1:9/api/")).routes(ctx);
        Self {
            app,
            bus,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    fn events(&self) -> Vec<TicketEvent> {
        self.bus
            .records()
            .iter()
            .map(|r| TicketEvent::from_json(&r.payload).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn the_url_verification_handshake_is_answered_with_its_challenge_when_signed() {
    let harness = Harness::new();
    let body = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "url_verification",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    .to_string()
    .into_bytes();
    let (status, json) = harness
        .send(request(body.clone(), Some(SIGNING_SECRET)))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        json,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    let (status, _) = harness.send(request(body, Some("wrong"))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(harness.events().is_empty());
}

#[tokio::test]
async fn a_signature_outside_the_five_minute_window_is_refused() {
    let harness = Harness::new();
    let body = callback(
        "Ev0OLD",
        message("U0ANNA", "D0DM", "im", "1749416383.000200", "hi"),
    );
    let old = (chrono::Utc::now().timestamp() - 301).to_string();
    let (status, json) = harness
        .send(request_at(body.clone(), Some(SIGNING_SECRET), &old))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(json["error"], "stale_timestamp", "{json}");
    let recent = (chrono::Utc::now().timestamp() - 200).to_string();
    let (status, _) = harness
        .send(request_at(body, Some(SIGNING_SECRET), &recent))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.events().len(), 1);
}

#[tokio::test]
async fn direct_messages_and_support_channels_count_bots_and_the_app_itself_do_not() {
    let harness = Harness::new();
    let mut bot = message(
        "U0OTHERBOT",
        SUPPORT,
        "channel",
        "1749416390.000100",
        "beep",
    );
    bot["bot_id"] = json!("B0BOT");
    let mut bot_message = json!({"type": "message", "subtype": "bot_message", "text": "x",
        "ts": "1749416391.000100", "channel": SUPPORT, "channel_type": "channel", "bot_id": "B1"});
    bot_message["username"] = json!("deploys");
    let mut edit = message("U0ANNA", SUPPORT, "channel", "1749416392.000100", "edited");
    edit["subtype"] = json!("message_changed");
    let cases = [
        (
            "Ev01",
            message("U0ANNA", "D0DM", "im", "1749416383.000200", "DM to the app"),
            true,
        ),
        (
            "Ev02",
            message(
                "U0BEN",
                SUPPORT,
                "channel",
                "1749416384.000200",
                "in support",
            ),
            true,
        ),
        (
            "Ev03",
            message(
                "U0BEN",
                "C0RANDOM",
                "channel",
                "1749416385.000200",
                "elsewhere",
            ),
            false,
        ),
        (
            "Ev04",
            message(
                BOT_USER,
                SUPPORT,
                "channel",
                "1749416386.000200",
                "our own ack",
            ),
            false,
        ),
        ("Ev05", bot, false),
        ("Ev06", bot_message, false),
        ("Ev07", edit, false),
    ];
    for (id, event, becomes_event) in cases {
        let before = harness.events().len();
        let (status, json) = harness
            .send(request(callback(id, event), Some(SIGNING_SECRET)))
            .await;
        assert_eq!(status, StatusCode::OK, "{id}: {json}");
        assert_eq!(
            harness.events().len() - before,
            usize::from(becomes_event),
            "{id}"
        );
    }
    let events = harness.events();
    assert_eq!(events[0].contact.key, "slack:T0TEAM:U0ANNA");
    assert!(events[0].contact.verified, "Slack vouches for the member");
    assert_eq!(events[0].text, "DM to the app");
    assert_eq!(events[1].metadata["slack.channel"], SUPPORT);
}

#[tokio::test]
async fn a_thread_reply_joins_the_threads_conversation_and_a_retry_makes_no_new_event() {
    let harness = Harness::new();
    let root = message(
        "U0ANNA",
        SUPPORT,
        "channel",
        "1749416383.000200",
        "VPN is down",
    );
    let mut reply = message(
        "U0BEN",
        SUPPORT,
        "channel",
        "1749416399.000500",
        "for me too",
    );
    reply["thread_ts"] = json!("1749416383.000200");
    harness
        .send(request(callback("Ev0ROOT", root), Some(SIGNING_SECRET)))
        .await;
    let body = callback("Ev0REPLY", reply);
    let (status, first) = harness
        .send(request(body.clone(), Some(SIGNING_SECRET)))
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = harness.events();
    assert_eq!(events.len(), 2);
    let thread = format!("T0TEAM:{SUPPORT}:1749416383.000200");
    assert_eq!(
        events[0].conversation.thread_id.as_deref(),
        Some(thread.as_str())
    );
    assert_eq!(
        events[1].conversation.thread_id.as_deref(),
        Some(thread.as_str())
    );
    assert_eq!(
        events[1].conversation.in_reply_to.as_deref(),
        Some("1749416383.000200")
    );

    // Slack retries the same delivery: same event id (the router suppresses it).
    let mut retry = request(body, Some(SIGNING_SECRET));
    retry
        .headers_mut()
        .insert(RETRY_HEADER, "1".parse().unwrap());
    retry
        .headers_mut()
        .insert("x-slack-retry-reason", "http_timeout".parse().unwrap());
    let (status, again) = harness.send(retry).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["event_id"], first["event_id"]);
    assert_eq!(first["event_id"], events[1].event_id.to_string());
}
