//! Replies by the messages API, against a loopback stand-in of the Graph API.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use intake_channel::{Reply, ReplyFailure, ReplySender};
use intake_channel_whatsapp::{OUTSIDE_WINDOW_CODE, replies};
use serde_json::json;

use common::*;

fn reply(text: &str) -> Reply {
    Reply {
        channel: "whatsapp".into(),
        contact_key: "phone:+16505551234".into(),
        conversation_id: Some(format!("{PHONE_NUMBER_ID}:16505551234")),
        ticket_id: Some(4711),
        text: text.into(),
        outcome_id: uuid::Uuid::new_v4(),
        ..Reply::default()
    }
}

fn sent(id: &str) -> axum::response::Response {
    axum::Json(json!({"messaging_product": "whatsapp",
        "contacts": [{"input": "16505551234", "wa_id": "16505551234"}],
        "messages": [{"id": id}]}))
    .into_response()
}

#[tokio::test]
async fn inside_the_window_a_session_text_is_sent() {
    let (api, seen) = stand_in(|_, _| sent("wamid.OUT1")).await;
    let sender = replies(&options(&api, "")).unwrap();
    let delivery = sender
        .send(&reply("Ticket #4711: we answer within 2 hours"))
        .await
        .unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("wamid.OUT1"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].path, format!("/v21.0/{PHONE_NUMBER_ID}/messages"));
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer graph-access-token")
    );
    assert_eq!(seen[0].body["type"], "text");
    assert_eq!(seen[0].body["to"], "16505551234");
    assert_eq!(
        seen[0].body["text"]["body"],
        "Ticket #4711: we answer within 2 hours"
    );
}

fn outside_window() -> axum::response::Response {
    let error = json!({"error": {"message": "Re-engagement message", "type": "OAuthException",
        "code": OUTSIDE_WINDOW_CODE, "error_data": {"messaging_product": "whatsapp",
        "details": "Message failed to send because more than 24 hours have passed"}}});
    (StatusCode::BAD_REQUEST, axum::Json(error)).into_response()
}

#[tokio::test]
async fn outside_the_window_the_configured_template_is_sent() {
    let (api, seen) = stand_in(|request, _| match request.body["type"].as_str() {
        Some("text") => outside_window(),
        _ => sent("wamid.TPL1"),
    })
    .await;
    let extra = "reply_template_name = \"ticket_update\"\nreply_template_language = \"de\"\n";
    let sender = replies(&options(&api, extra)).unwrap();
    let delivery = sender.send(&reply("Ticket #4711")).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("wamid.TPL1"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2);
    let template = &seen[1].body["template"];
    assert_eq!(seen[1].body["type"], "template");
    assert_eq!(template["name"], "ticket_update");
    assert_eq!(template["language"]["code"], "de");
    assert_eq!(
        template["components"][0]["parameters"][0]["text"],
        "Ticket #4711"
    );

    // Without a template the reply fails for good, naming the key.
    let sender = replies(&options(&api, "")).unwrap();
    let error = sender.send(&reply("Ticket #4711")).await.unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::Invalid);
    assert!(error.message().contains("reply_template_name"), "{error}");
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_upstreams_retry_after() {
    let (api, _) = stand_in(|_, count| {
        if count == 1 {
            let error = json!({"error": {"message": "Rate limit hit", "code": 130429}});
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "7")],
                axum::Json(error),
            )
                .into_response()
        } else {
            sent("wamid.OUT2")
        }
    })
    .await;
    let sender = replies(&options(&api, "")).unwrap();
    let error = sender.send(&reply("Ticket #4711")).await.unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::RateLimited);
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(7)));
    assert!(sender.send(&reply("Ticket #4711")).await.is_ok());
}

#[tokio::test]
async fn a_customer_known_to_be_silent_for_a_day_gets_the_template_straight_away() {
    let (api, seen) = stand_in(|_, _| sent("wamid.TPL2")).await;
    let extra = "reply_template_name = \"ticket_update\"\n";
    let sender = replies(&options(&api, extra)).unwrap();
    let mut agent = reply("Your parcel left today.");
    agent.kind = intake_channel::ReplyKind::AgentReply;
    agent.last_inbound_at = Some(chrono::Utc::now() - chrono::TimeDelta::hours(25));
    agent.attachments = vec![intake_channel::ReplyAttachment {
        file_name: "label.pdf".into(),
        url: "https://x.example/label.pdf".into(),
    }];
    let delivery = sender.send(&agent).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("wamid.TPL2"));
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "no session message first: {seen:#?}");
    assert_eq!(seen[0].body["type"], "template");
    assert_eq!(
        seen[0].body["template"]["components"][0]["parameters"][0]["text"],
        "Your parcel left today.\nlabel.pdf: https://x.example/label.pdf",
        "the file as a link"
    );
}

#[tokio::test]
async fn inside_the_window_the_files_follow_as_documents() {
    let (api, seen) = stand_in(|_, _| sent("wamid.OUT2")).await;
    let sender = replies(&options(&api, "")).unwrap();
    let mut agent = reply("Here is the label.");
    agent.last_inbound_at = Some(chrono::Utc::now() - chrono::TimeDelta::hours(2));
    agent.attachments = vec![intake_channel::ReplyAttachment {
        file_name: "label.pdf".into(),
        url: "https://x.example/label.pdf".into(),
    }];
    sender.send(&agent).await.unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(seen[0].body["type"], "text");
    assert_eq!(seen[1].body["type"], "document");
    assert_eq!(
        seen[1].body["document"]["link"],
        "https://x.example/label.pdf"
    );
    assert_eq!(seen[1].body["document"]["filename"], "label.pdf");
}
