//! The Slack post against a loopback stand-in of Slack: chat.postMessage
//! with the bot token and channel, incoming webhooks, and which failures
//! are retried.

use std::time::Duration;

use axum::Json;
use axum::response::IntoResponse;
use intake_channel::testing::api_stand_in;
use intake_sla_watch::{SlackNotifier, SlackTarget};
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn chat_post_message_sends_the_token_and_channel_and_reads_slacks_refusals() {
    let (base, seen) = api_stand_in("/api/", |_, count| match count {
        1 => Json(json!({"ok": true, "ts": "1.2"})).into_response(),
        2 => Json(json!({"ok": false, "error": "invalid_auth"})).into_response(),
        3 => Json(json!({"ok": false, "error": "ratelimited"})).into_response(),
        _ => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    })
    .await;
    let target = SlackTarget::PostMessage {
        bot_token: SecretString::from("xoxb-test-token"),
        channel: "C0SUPPORT".to_owned(),
        api_base_url: url::Url::parse(&base).unwrap(),
    };
    assert!(!format!("{target:?}").contains("xoxb"));
    let slack = SlackNotifier::new(target, Duration::from_secs(5)).unwrap();
    slack.post("warning text").await.unwrap();
    let refused = slack.post("warning text").await.unwrap_err();
    assert_eq!(
        (refused.reason, refused.is_retryable()),
        ("unauthorized", false)
    );
    let limited = slack.post("warning text").await.unwrap_err();
    assert_eq!(
        (limited.reason, limited.is_retryable()),
        ("rate_limited", true)
    );
    let down = slack.post("warning text").await.unwrap_err();
    assert_eq!((down.reason, down.is_retryable()), ("upstream_error", true));
    assert!(!format!("{down} {down:?}").contains("xoxb"));

    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].path, "/api/chat.postMessage");
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer xoxb-test-token")
    );
    assert_eq!(
        seen[0].body,
        json!({"channel": "C0SUPPORT", "text": "warning text"})
    );
}

#[tokio::test]
async fn an_incoming_webhook_gets_the_text_and_a_gone_hook_is_permanent() {
    let (base, seen) = api_stand_in("/services/", |_, count| match count {
        1 => "ok".into_response(),
        _ => (axum::http::StatusCode::NOT_FOUND, "no_service").into_response(),
    })
    .await;
    let url = format!("{base}T1/B1/hook-secret");
    let slack = SlackNotifier::new(
        SlackTarget::Webhook(SecretString::from(url)),
        Duration::from_secs(5),
    )
    .unwrap();
    slack.post("hello").await.unwrap();
    let gone = slack.post("hello").await.unwrap_err();
    assert_eq!((gone.reason, gone.is_retryable()), ("rejected", false));
    assert!(!format!("{gone} {gone:?}").contains("hook-secret"));
    assert_eq!(seen.lock().unwrap()[0].body, json!({"text": "hello"}));
    assert_eq!(seen.lock().unwrap()[0].path, "/services/T1/B1/hook-secret");
}

#[tokio::test]
async fn an_unreachable_slack_is_retryable_and_does_not_show_the_url() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/services/T/B/closed-secret");
    let slack = SlackNotifier::new(
        SlackTarget::Webhook(SecretString::from(url)),
        Duration::from_secs(5),
    )
    .unwrap();
    let error = slack.post("hello").await.unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    assert!(
        !format!("{error} {error:?}").contains("closed-secret"),
        "{error:?}"
    );
}
