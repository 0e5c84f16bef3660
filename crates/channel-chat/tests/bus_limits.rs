//! A message the bus refuses for its size is answered 413 with the limit
//! (not 503 + Retry-After, which senders would retry forever), through the
//! real embedded bus and a real Kafka broker.

mod common;

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use intake_blob::LocalDirBlobStore;
use intake_bus::{Bus, BusOptions, EmbeddedOptions, KafkaOptions, Topics};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions};
use metrics_exporter_prometheus::PrometheusBuilder;

use common::{options, retry_after, send, signed};

async fn app(
    bus: &Arc<dyn Bus>,
    topics: Topics,
    dir: &tempfile::TempDir,
    opts: ChatOptions,
) -> Router {
    bus.ensure_topics(&[topics.events("chat")]).await.unwrap();
    let ctx = ChannelContext {
        publisher: bus.publisher(),
        topics,
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
    };
    Arc::new(ChatChannel::new(opts).unwrap()).routes(ctx)
}

#[tokio::test]
async fn an_event_over_the_embedded_record_limit_is_413_with_the_limit() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().unwrap();
    let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(
        dir.path().join("bus.sqlite"),
    )))
    .await
    .unwrap();
    let app = app(
        &bus,
        Topics::new("intake"),
        &dir,
        ChatOptions {
            max_attachments: 1000,
            max_body_bytes: 8 << 20,
            ..options()
        },
    )
    .await;
    // 900 attachments with 255-character emoji names: about 1.1 MB of
    // event JSON, every field within its own limit.
    let filename = "📄".repeat(255);
    let attachments: Vec<_> = (0..900)
        .map(|_| serde_json::json!({"filename": filename, "content_type": "text/plain", "data_base64": "QQ=="}))
        .collect();
    let body = serde_json::json!({"conversation_id": "c", "author": {"id": "v"},
        "text": "many files", "attachments": attachments})
    .to_string();
    let (status, headers, answer) = send(&app, signed("huge", &body)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "event_too_large");
    let limit = intake_bus::EMBEDDED_MAX_RECORD_BYTES.to_string();
    assert!(
        answer["message"].as_str().unwrap().contains(&limit),
        "{answer}"
    );
    assert_eq!(
        retry_after(&headers),
        None,
        "a size refusal is never retried"
    );

    // The bus itself is fine: a normal message goes through.
    let small = r#"{"conversation_id":"c","author":{"id":"v"},"text":"hi"}"#;
    let (status, _, answer) = send(&app, signed("small", small)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let rendered = handle.render();
    assert!(
        rendered.contains(
            r#"intake_messages_rejected_total{channel="chat",reason="event_too_large"} 1"#
        ),
        "{rendered}"
    );
    assert!(
        !rendered.contains(r#"reason="bus_unavailable""#),
        "{rendered}"
    );
}

fn kafka_broker() -> Option<String> {
    match std::env::var("INTAKE_TEST_KAFKA") {
        Ok(address) if !address.trim().is_empty() => Some(address),
        _ if std::env::var_os("CI").is_some() => {
            panic!("INTAKE_TEST_KAFKA is not set under CI: run `scripts/test-services start`")
        }
        _ => {
            eprintln!("skipping kafka test: INTAKE_TEST_KAFKA is not set");
            None
        }
    }
}

#[tokio::test]
async fn kafka_message_size_too_large_is_413_with_the_limit() {
    let Some(brokers) = kafka_broker() else {
        return;
    };
    let mut kafka = KafkaOptions::new(brokers);
    kafka.replication_factor = 1;
    kafka.partitions = 1;
    // The producer's record limit, small so the test message stays small.
    kafka
        .properties
        .insert("message.max.bytes".into(), "4000".into());
    let bus = intake_bus::connect(BusOptions::Kafka(kafka)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("chat-size-{}", uuid::Uuid::new_v4().simple());
    let app = app(&bus, Topics::new(prefix), &dir, options()).await;

    let long = serde_json::json!({"conversation_id": "c", "author": {"id": "v"},
        "text": "я".repeat(3000)})
    .to_string();
    let (status, headers, answer) = send(&app, signed("kafka-huge", &long)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["error"], "event_too_large");
    assert!(
        answer["message"].as_str().unwrap().contains("4000 bytes"),
        "{answer}"
    );
    assert_eq!(retry_after(&headers), None);

    let small = r#"{"conversation_id":"c","author":{"id":"v"},"text":"hi"}"#;
    let (status, _, answer) = send(&app, signed("kafka-small", small)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
}
