//! The member's profile e-mail (`users.info`) on the verified contact
//! (issue 14 point 2, decision 52), against a loopback stand-in of Slack's
//! Web API: found and cached, and a refusal, a bot or a failure never costs
//! the message.

mod common;

use std::sync::Arc;

use axum::response::IntoResponse;
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Publisher, Topics};
use intake_channel::testing::{BusMode, ControlledPublisher};
use intake_channel::{ChannelContext, HttpChannel, TicketEvent};
use intake_channel_slack::SlackChannel;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use common::*;

async fn deliver(api: &str, deliveries: &[(&str, &str)]) -> Vec<TicketEvent> {
    let dir = tempfile::tempdir().unwrap();
    let bus = ControlledPublisher::new(BusMode::Confirm);
    let ctx = ChannelContext {
        publisher: Arc::clone(&bus) as Arc<dyn Publisher>,
        topics: Topics::new("slack-profile"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))) as Arc<dyn BlobStore>,
    };
    let app = SlackChannel::new(options(api)).routes(ctx);
    for (n, (user, ts)) in deliveries.iter().enumerate() {
        let body = callback(&format!("Ev{n}"), message(user, "D0DM", "im", ts, "hello"));
        let response = app
            .clone()
            .oneshot(request(body, Some(SIGNING_SECRET)))
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    bus.records()
        .iter()
        .map(|r| TicketEvent::from_json(&r.payload).unwrap())
        .collect()
}

fn member(email: Option<&str>, is_bot: bool) -> Value {
    json!({"ok": true, "user": {"id": "U0ANNA", "is_bot": is_bot, "deleted": false,
        "profile": {"email": email, "real_name": "Anna"}}})
}

#[tokio::test]
async fn the_profile_email_goes_on_the_verified_contact_and_is_cached() {
    let (api, seen) =
        stand_in(|_, _| axum::Json(member(Some("Anna@Example.test"), false)).into_response()).await;
    let events = deliver(
        &api,
        &[
            ("U0ANNA", "1749416383.000200"),
            ("U0ANNA", "1749416384.000200"),
        ],
    )
    .await;
    assert_eq!(events.len(), 2);
    for event in &events {
        assert!(event.contact.verified);
        assert_eq!(event.contact.key, "slack:T0TEAM:U0ANNA");
        assert_eq!(event.contact.email.as_deref(), Some("anna@example.test"));
    }
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        1,
        "the second message is answered from the cache"
    );
    assert_eq!(seen[0].path, "/api/users.info");
    assert_eq!(seen[0].query.as_deref(), Some("user=U0ANNA"));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {BOT_TOKEN}").as_str())
    );
}

#[tokio::test]
async fn no_email_a_bot_a_refusal_or_a_broken_api_costs_nothing_but_the_email() {
    let answers: [Box<dyn Fn() -> axum::response::Response + Send + Sync>; 4] = [
        Box::new(|| axum::Json(member(None, false)).into_response()),
        Box::new(|| axum::Json(member(Some("bot@example.test"), true)).into_response()),
        Box::new(|| axum::Json(json!({"ok": false, "error": "missing_scope"})).into_response()),
        Box::new(|| (axum::http::StatusCode::BAD_GATEWAY, "upstream down").into_response()),
    ];
    for answer in answers {
        let (api, seen) = stand_in(move |_, _| answer()).await;
        let events = deliver(&api, &[("U0ANNA", "1749416383.000200")]).await;
        assert_eq!(events.len(), 1, "the message is published");
        assert_eq!(events[0].contact.email, None);
        assert!(events[0].contact.verified);
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}
