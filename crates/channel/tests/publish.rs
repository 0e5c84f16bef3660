//! `publish_event`: topic, key, headers, payload and metrics.

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{CE_TYPE, ChannelContext, publish_event};
use intake_event::{Contact, ContactKey, TicketEvent};
use metrics_exporter_prometheus::PrometheusBuilder;

fn event() -> TicketEvent {
    let contact = Contact {
        key: ContactKey::email("Olga@Example.com").unwrap().into_string(),
        ..Contact::default()
    };
    let received = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    TicketEvent::new("chat", "msg_1", contact, "Привет 👋", received)
}

#[tokio::test]
async fn publishes_with_topic_key_cloudevent_headers_and_counts() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);

    let publisher = RecordingPublisher::new();
    let dir = std::env::temp_dir();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(dir)),
    };
    let event = event();
    let position = publish_event(&ctx, &event).await.unwrap();
    assert_eq!(position.offset, 0);

    let records = publisher.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.topic, "intake.events.chat");
    assert_eq!(record.key, "email:olga@example.com");
    assert_eq!(
        record.header("ce_id"),
        Some(event.event_id.to_string().as_str())
    );
    assert_eq!(record.header("ce_source"), Some("/intake/chat"));
    assert_eq!(record.header("ce_type"), Some(CE_TYPE));
    assert_eq!(record.header("ce_specversion"), Some("1.0"));
    assert_eq!(record.header("ce_time"), Some("2026-11-22T10:00:00.000Z"));
    assert_eq!(record.header("content-type"), Some("application/json"));
    let traceparent = record.header("traceparent").unwrap();
    let parts: Vec<_> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len(), parts[3]),
        ("00", 32, 16, "01")
    );
    assert_ne!(parts[1], "0".repeat(32));
    assert_eq!(TicketEvent::from_json(&record.payload).unwrap(), event);

    // A second publish gets a fresh trace id.
    publish_event(&ctx, &event).await.unwrap();
    let second = publisher.records()[1]
        .header("traceparent")
        .unwrap()
        .to_owned();
    assert_ne!(second, traceparent);

    publisher.set_failing(true);
    let err = publish_event(&ctx, &event).await.unwrap_err();
    assert!(err.is_retryable());

    let rendered = handle.render();
    assert!(
        rendered.contains(r#"intake_events_published_total{channel="chat"} 2"#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"intake_event_publish_failures_total{channel="chat"} 1"#),
        "{rendered}"
    );
}

#[test]
fn a_size_refusal_is_permanent_and_names_the_limit() {
    use intake_bus::BusError;
    use intake_channel::{PublishRefusal, RejectReason};

    let too_large = PublishRefusal::of(&BusError::TooLarge {
        limit_bytes: 1_000_000,
    });
    assert_eq!(too_large.reason, RejectReason::EventTooLarge);
    assert_eq!(too_large.reason.status().as_u16(), 413);
    assert!(too_large.message.contains("1000000 bytes"), "{too_large:?}");
    assert_eq!(too_large.retry_after, None, "never retry a size refusal");

    let down = PublishRefusal::of(&BusError::Unavailable("broker down".into()));
    assert_eq!(down.reason, RejectReason::BusUnavailable);
    assert_eq!(down.reason.status().as_u16(), 503);
    assert!(down.retry_after.is_some());
    assert!(
        !down.message.contains("broker down"),
        "no backend detail to the sender"
    );
}
