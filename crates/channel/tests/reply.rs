//! The reply registry: dispatch by channel, telemetry of each outcome.

use std::sync::Arc;
use std::time::Duration;

use intake_channel::testing::FakeReplySender;
use intake_channel::{Reply, ReplyError, ReplyFailure, ReplySenders};
use metrics_exporter_prometheus::PrometheusBuilder;
use uuid::Uuid;

fn reply(channel: &str) -> Reply {
    Reply {
        channel: channel.to_owned(),
        contact_key: "email:olga@example.com".to_owned(),
        conversation_id: Some("thread-7".to_owned()),
        ticket_id: Some(4711),
        text: "We received your message.".to_owned(),
        subject: Some("Re: order 12".to_owned()),
        in_reply_to: vec!["<abc@example.com>".to_owned()],
        outcome_id: Uuid::from_u128(42),
        ..Reply::default()
    }
}

#[tokio::test]
async fn replies_go_to_their_channels_sender_and_are_counted() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let mail = FakeReplySender::new("mail");
    let telegram = FakeReplySender::new("telegram");
    let mut senders = ReplySenders::new();
    senders.register(mail.clone()).unwrap();
    senders.register(telegram.clone()).unwrap();
    let duplicate = senders.register(FakeReplySender::new("mail")).unwrap_err();
    assert_eq!(duplicate.channel, "mail");
    assert_eq!(senders.channels().collect::<Vec<_>>(), ["mail", "telegram"]);

    let delivery = senders.send(&reply("mail")).await.unwrap();
    assert_eq!(delivery.message_id.as_deref(), Some("fake-1"));
    assert_eq!(mail.sent(), vec![reply("mail")], "the reply arrives whole");
    assert!(telegram.sent().is_empty());

    telegram.fail_next(
        ReplyError::from_http_status(429, "bot API rate limit")
            .with_retry_after(Duration::from_secs(3)),
    );
    let limited = senders.send(&reply("telegram")).await.unwrap_err();
    assert!(limited.is_retryable());
    assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    telegram.fail_next(ReplyError::from_http_status(
        403,
        "bot was blocked by the user",
    ));
    let blocked = senders.send(&reply("telegram")).await.unwrap_err();
    assert!(!blocked.is_retryable());
    assert_eq!(blocked.reason(), ReplyFailure::Unauthorized);

    let nowhere = senders.send(&reply("fax")).await.unwrap_err();
    assert_eq!(nowhere.reason(), ReplyFailure::NoSender);
    assert!(!nowhere.is_retryable());

    let rendered = handle.render();
    for line in [
        r#"intake_replies_sent_total{channel="mail"} 1"#,
        r#"intake_reply_failures_total{channel="telegram",reason="rate_limited"} 1"#,
        r#"intake_reply_failures_total{channel="telegram",reason="unauthorized"} 1"#,
        r#"intake_reply_failures_total{channel="unregistered",reason="no_sender"} 1"#,
    ] {
        assert!(rendered.contains(line), "{line} in\n{rendered}");
    }
    assert!(!rendered.contains("fax"), "no free-form label values");
}

#[test]
fn senders_debug_lists_channels_only() {
    let mut senders = ReplySenders::new();
    senders
        .register(Arc::new(RefusingSmsSender) as Arc<dyn intake_channel::ReplySender>)
        .unwrap();
    assert_eq!(
        format!("{senders:?}"),
        r#"ReplySenders { channels: ["sms"] }"#
    );
}

struct RefusingSmsSender;

#[async_trait::async_trait]
impl intake_channel::ReplySender for RefusingSmsSender {
    fn channel(&self) -> &'static str {
        "sms"
    }
    async fn send(&self, _reply: &Reply) -> Result<intake_channel::Delivery, ReplyError> {
        Err(ReplyError::new(ReplyFailure::Invalid, "no sms"))
    }
}
