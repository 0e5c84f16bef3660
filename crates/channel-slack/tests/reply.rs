//! Replies by chat.postMessage, against a loopback stand-in of the Web API.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use intake_channel::{Reply, ReplyFailure, ReplySender};
use intake_channel_slack::replies;
use serde_json::json;

use common::*;

fn reply() -> Reply {
    Reply {
        channel: "slack".into(),
        contact_key: "slack:T0TEAM:U0ANNA".into(),
        conversation_id: Some(format!("T0TEAM:{SUPPORT}:1749416383.000200")),
        ticket_id: Some(4711),
        text: "Ticket #4711: we answer within 2 hours".into(),
        outcome_id: uuid::Uuid::new_v4(),
        ..Reply::default()
    }
}

#[tokio::test]
async fn the_reply_is_posted_in_the_thread_and_a_429_carries_its_retry_after() {
    let (api, seen) = stand_in(|_, count| match count {
        1 => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "3")], "").into_response(),
        2 => axum::Json(json!({"ok": false, "error": "not_in_channel"})).into_response(),
        _ => axum::Json(json!({"ok": true, "channel": SUPPORT, "ts": "1749416500.000100"}))
            .into_response(),
    })
    .await;
    let sender = replies(&options(&api)).unwrap();
    let limited = sender.send(&reply()).await.unwrap_err();
    assert_eq!(limited.reason(), ReplyFailure::RateLimited);
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    let refused = sender.send(&reply()).await.unwrap_err();
    assert_eq!(refused.reason(), ReplyFailure::UnknownRecipient);
    assert!(!refused.is_retryable());
    let delivery = sender.send(&reply()).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("1749416500.000100"));

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].path, "/api/chat.postMessage");
    assert_eq!(
        seen[2].authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert_eq!(
        seen[2].body,
        json!({"channel": SUPPORT, "thread_ts": "1749416383.000200",
            "text": "Ticket #4711: we answer within 2 hours"})
    );

    let mut no_thread = reply();
    no_thread.conversation_id = None;
    let invalid = sender.send(&no_thread).await.unwrap_err();
    assert_eq!(invalid.reason(), ReplyFailure::Invalid);
}
