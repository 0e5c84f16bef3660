//! Replies by `sendMessage` to a loopback stand-in of the Bot API: the
//! chat, the reply to a group message, a 429 honoured after its
//! `retry_after`, and a `retry_after` too long to wait returned to the caller.

mod support;

use std::sync::atomic::Ordering;
use std::time::Duration;

use intake_channel::{Channel, Reply, ReplyFailure, ReplySender};
use intake_channel_telegram::Telegram;
use intake_channel_telegram::reply::TelegramReplySender;
use serde_json::json;
use support::{bot_api, options};

fn reply(conversation: Option<&str>, in_reply_to: &[&str]) -> Reply {
    Reply {
        channel: "telegram".to_owned(),
        contact_key: "telegram:111222333".to_owned(),
        conversation_id: conversation.map(str::to_owned),
        ticket_id: Some(17),
        text: "Ticket #17: we answer within 2 hours".to_owned(),
        in_reply_to: in_reply_to.iter().map(|s| (*s).to_owned()).collect(),
        outcome_id: uuid::Uuid::new_v4(),
        ..Reply::default()
    }
}

#[tokio::test]
async fn a_reply_goes_to_the_customers_chat_with_the_ticket_number() {
    let (api, state) = bot_api().await;
    let sender = TelegramReplySender::new(&options(&api, "")).unwrap();
    let delivery = sender.send(&reply(None, &[])).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("9001"));
    let sent = state.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [json!({"chat_id": "111222333", "text": "Ticket #17: we answer within 2 hours"})]
    );
}

#[tokio::test]
async fn in_a_group_the_reply_answers_the_message() {
    let (api, state) = bot_api().await;
    let sender = TelegramReplySender::new(&options(&api, "")).unwrap();
    let group = "-1001234567890";
    sender
        .send(&reply(Some(group), &["support:-1001234567890:310"]))
        .await
        .unwrap();
    // A message id of another chat or bot is not used.
    sender
        .send(&reply(Some(group), &["other:-1001234567890:310"]))
        .await
        .unwrap();
    let sent = state.sent.lock().unwrap().clone();
    assert_eq!(sent[0]["chat_id"], group);
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 310);
    assert_eq!(sent[1].get("reply_parameters"), None);
}

#[tokio::test]
async fn a_429_is_retried_after_telegrams_retry_after() {
    let (api, state) = bot_api().await;
    state.throttle.store(1, Ordering::SeqCst);
    state.retry_after_secs.store(1, Ordering::SeqCst);
    let sender = TelegramReplySender::new(&options(&api, "")).unwrap();
    let started = std::time::Instant::now();
    sender.send(&reply(None, &[])).await.unwrap();
    assert_eq!(
        state.sent.lock().unwrap().len(),
        2,
        "sent again after the 429"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "waited retry_after"
    );
}

#[tokio::test]
async fn a_429_past_the_attempts_or_the_wait_is_rate_limited_with_retry_after() {
    let (api, state) = bot_api().await;
    state.throttle.store(10, Ordering::SeqCst);
    state.retry_after_secs.store(1, Ordering::SeqCst);
    let sender = TelegramReplySender::new(&options(&api, "reply_max_attempts = 2\n")).unwrap();
    let error = sender.send(&reply(None, &[])).await.unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::RateLimited);
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    assert_eq!(state.sent.lock().unwrap().len(), 2);

    // A wait longer than reply_max_wait_secs is not waited here.
    state.retry_after_secs.store(600, Ordering::SeqCst);
    let error = sender.send(&reply(None, &[])).await.unwrap_err();
    assert!(error.is_retryable());
    assert_eq!(error.retry_after(), Some(Duration::from_secs(600)));
    assert_eq!(state.sent.lock().unwrap().len(), 3, "one attempt only");
}

#[tokio::test]
async fn refusals_and_an_unreachable_api_are_classified_and_never_show_the_token() {
    let sender = TelegramReplySender::new(&options("http://127.0.0.1:9", "")).unwrap();
    let error = sender.send(&reply(None, &[])).await.unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::Unreachable);
    assert!(!error.to_string().contains(support::TOKEN), "{error}");

    let mut no_chat = reply(None, &[]);
    no_chat.contact_key = "email:a@b.c".to_owned();
    let error = sender.send(&no_chat).await.unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::Invalid);
}

#[test]
fn the_registration_provides_the_reply_sender() {
    let sender = Telegram::reply_sender(&options("http://127.0.0.1:9", "")).unwrap();
    assert_eq!(sender.expect("a sender").channel(), "telegram");
}
