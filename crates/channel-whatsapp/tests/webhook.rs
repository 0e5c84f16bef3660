//! The WhatsApp webhook beyond the conformance suite: the subscription
//! check, every message of a payload as its own event, statuses, unknown
//! types, media through the media endpoint.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Publisher, Topics};
use intake_channel::testing::{BusMode, ControlledPublisher};
use intake_channel::{ChannelContext, HttpChannel, TicketEvent};
use intake_channel_whatsapp::WhatsAppChannel;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use common::*;

struct Harness {
    app: axum::Router,
    bus: Arc<ControlledPublisher>,
    blobs: Arc<LocalDirBlobStore>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(api: &str, extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let bus = ControlledPublisher::new(BusMode::Confirm);
        let blobs = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
        let ctx = ChannelContext {
            publisher: Arc::clone(&bus) as Arc<dyn Publisher>,
            topics: Topics::new("wa-test"),
            blobs: Arc::clone(&blobs) as Arc<dyn BlobStore>,
        };
        let app = WhatsAppChannel::new(options(api, extra))
            .unwrap()
            .routes(ctx);
        Self {
            app,
            bus,
            blobs,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value, String) {
        let response = self.app.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
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

const API: &str = "http://127.0.0.1:9/v21.0/";

fn get(query: &str) -> Request<Body> {
    Request::get(format!("/v1/whatsapp?{query}"))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn the_subscription_check_echoes_the_challenge_only_for_the_right_token() {
    let harness = Harness::new(API, "");
    let (status, _, text) = harness
        .send(get(&format!(
            "hub.mode=subscribe&hub.verify_token={VERIFY_TOKEN}&hub.challenge=1158201444"
        )))
        .await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "1158201444"));

    let (status, json, _) = harness
        .send(get(
            "hub.mode=subscribe&hub.verify_token=guess&hub.challenge=1",
        ))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(json["error"], "signature", "{json}");
    let (status, _, _) = harness.send(get("hub.challenge=1")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_message_of_a_payload_becomes_one_event_and_statuses_none() {
    let harness = Harness::new(API, "");
    let (anna, ben) = ("16505551234", "4915112345678");
    let body = payload(vec![
        vec![
            change(
                &[(anna, json!("Anna")), (ben, json!("Ben"))],
                vec![
                    text("wamid.A1", anna, "My order has not arrived"),
                    text("wamid.B1", ben, "Wrong size delivered"),
                ],
            ),
            status_change("delivered"),
        ],
        vec![change(
            &[(anna, json!("Anna"))],
            vec![text("wamid.A2", anna, "Order 1234")],
        )],
    ]);
    let (status, json, _) = harness.send(request(body.clone(), Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let events = harness.events();
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e.channel_message_id.as_str())
        .collect();
    assert_eq!(ids, ["wamid.A1", "wamid.B1", "wamid.A2"]);
    let answered: Vec<String> = json["event_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_owned())
        .collect();
    let published: Vec<String> = events.iter().map(|e| e.event_id.to_string()).collect();
    assert_eq!(answered, published);
    let keys: Vec<&str> = events.iter().map(|e| e.contact.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "phone:+16505551234",
            "phone:+4915112345678",
            "phone:+16505551234"
        ]
    );
    assert_eq!(events[1].contact.name.as_deref(), Some("Ben"));
    assert!(
        events.iter().all(|e| e.contact.verified),
        "Meta vouches for the number"
    );
    assert_eq!(
        events[0].conversation.thread_id.as_deref(),
        Some("106540352242922:16505551234")
    );
    assert_eq!(events[2].text, "Order 1234");

    // Meta delivers the same payload again: the same event ids.
    let (status, again, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["event_ids"], json["event_ids"]);

    // Statuses only: 200, nothing published.
    let before = harness.events().len();
    let statuses = payload(vec![vec![status_change("read"), status_change("sent")]]);
    let (status, json, _) = harness.send(request(statuses, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["event_ids"], json!([]));
    assert_eq!(harness.events().len(), before);
}

#[tokio::test]
async fn a_batch_is_answered_only_after_the_bus_confirmed_every_event() {
    let harness = Harness::new(API, "");
    harness.bus.set_mode(BusMode::Fail);
    let body = payload(vec![vec![change(
        &[],
        vec![
            text("wamid.X1", "16505551234", "one"),
            text("wamid.X2", "16505551235", "two"),
        ],
    )]]);
    let (status, json, _) = harness.send(request(body.clone(), Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert!(harness.events().is_empty());
    harness.bus.set_mode(BusMode::Confirm);
    let (status, _, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.events().len(), 2);
}

#[tokio::test]
async fn a_message_type_the_adapter_does_not_read_is_kept_as_a_note() {
    let harness = Harness::new(API, "");
    let order = json!({"from": "16505551234", "id": "wamid.O1", "timestamp": "1749416383",
        "type": "order", "order": {"catalog_id": "c-1", "product_items": []}});
    let unsupported = json!({"from": "16505551234", "id": "wamid.U1", "timestamp": "1749416383",
        "type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]});
    let body = payload(vec![vec![change(&[], vec![order, unsupported])]]);
    let (status, json, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let events = harness.events();
    assert_eq!(events.len(), 2);
    for (event, kind) in events.iter().zip(["order", "unsupported"]) {
        assert!(
            event.text.contains(&format!("\"{kind}\"")),
            "{}",
            event.text
        );
        assert_eq!(event.metadata["whatsapp.type"], kind);
        assert!(event.raw_inline.is_some() || event.raw.is_some());
    }
}

fn image(id: &str, media_id: &str, caption: &str) -> Value {
    json!({"from": "16505551234", "id": id, "timestamp": "1749416383", "type": "image",
        "image": {"caption": caption, "mime_type": "image/jpeg", "sha256": "x", "id": media_id}})
}

#[tokio::test]
async fn media_are_downloaded_through_the_media_endpoint_within_the_size_limit() {
    let (api, seen) = stand_in(|request, _| {
        let host = &request.host;
        match request.path.as_str() {
            "/v21.0/MEDIA-SMALL" => axum::Json(json!({"messaging_product": "whatsapp",
                "url": format!("http://{host}/files/small"), "mime_type": "image/jpeg",
                "file_size": "5", "id": "MEDIA-SMALL"}))
            .into_response(),
            "/v21.0/MEDIA-BIG" => axum::Json(json!({"url": format!("http://{host}/files/big"),
                "file_size": 10_000}))
            .into_response(),
            "/v21.0/MEDIA-LYING" => {
                axum::Json(json!({"url": format!("http://{host}/files/big")})).into_response()
            }
            "/files/small" => b"JPEG!".to_vec().into_response(),
            "/files/big" => vec![7u8; 10_000].into_response(),
            _ => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        }
    })
    .await;
    let harness = Harness::new(&api, "max_media_bytes = 1000\n");
    let body = payload(vec![vec![change(
        &[],
        vec![
            image("wamid.M1", "MEDIA-SMALL", "the parcel"),
            image("wamid.M2", "MEDIA-BIG", ""),
            image("wamid.M3", "MEDIA-LYING", "no size given"),
        ],
    )]]);
    let (status, json, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let events = harness.events();
    assert_eq!(events.len(), 3);
    let small = &events[0];
    assert_eq!(small.text, "the parcel");
    assert_eq!(small.attachments.len(), 1);
    assert_eq!(small.attachments[0].size, 5);
    assert_eq!(small.attachments[0].content_type, "image/jpeg");
    let stored = harness.blobs.get(&small.attachments[0].blob).await.unwrap();
    assert_eq!(stored, b"JPEG!");
    for big in &events[1..] {
        assert!(big.attachments.is_empty());
        assert!(big.text.contains("attachment not stored"), "{}", big.text);
        assert!(big.text.contains("1000-byte limit"), "{}", big.text);
    }
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer graph-access-token"))
    );

    // The media endpoint failing: 503, Meta delivers again, nothing published.
    let before = harness.events().len();
    let body = payload(vec![vec![change(
        &[],
        vec![image("wamid.M4", "MEDIA-DOWN", "")],
    )]]);
    let (status, json, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{json}");
    assert_eq!(harness.events().len(), before);
}

#[tokio::test]
async fn the_access_token_is_never_sent_to_a_media_host_that_is_not_allowed() {
    // Another origin on loopback stands for a host the media answer names
    // but nobody allowed: it must never see a request, let alone the token.
    let (elsewhere, elsewhere_seen) = stand_in(|_, _| b"JPEG!".to_vec().into_response()).await;
    let foreign = format!("{elsewhere}/files/f");
    let (api, seen) = stand_in(move |request, _| match request.path.as_str() {
        "/v21.0/MEDIA-FOREIGN" => {
            axum::Json(json!({"url": foreign.clone(), "file_size": 5})).into_response()
        }
        "/v21.0/MEDIA-HTTP-CDN" => {
            axum::Json(json!({"url": "http://lookaside.fbsbx.com/x", "file_size": 5}))
                .into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    })
    .await;
    let harness = Harness::new(&api, "");
    let body = payload(vec![vec![change(
        &[],
        vec![
            image("wamid.F1", "MEDIA-FOREIGN", "from elsewhere"),
            image("wamid.F2", "MEDIA-HTTP-CDN", "plain http"),
        ],
    )]]);
    let (status, json, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let events = harness.events();
    assert_eq!(events.len(), 2, "the messages still become events");
    for event in &events {
        assert!(event.attachments.is_empty());
        assert!(
            event
                .text
                .contains("is not allowed (channels.whatsapp.media_hosts)"),
            "{}",
            event.text
        );
    }
    assert!(
        elsewhere_seen.lock().unwrap().is_empty(),
        "no request reached the foreign host"
    );
    assert_eq!(seen.lock().unwrap().len(), 2, "only the two media lookups");
}

#[tokio::test]
async fn statuses_are_counted_as_ignored_notices() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let harness = Harness::new(API, "");
    let body = payload(vec![vec![
        status_change("sent"),
        status_change("delivered"),
        change(&[], vec![text("wamid.S1", "16505551234", "hi")]),
    ]]);
    let (status, _, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(harness.events().len(), 1);
    let rendered = metrics.render();
    let line = rendered
        .lines()
        .find(|l| l.starts_with("intake_notices_ignored_total{"))
        .unwrap_or_else(|| panic!("no notices counter in:\n{rendered}"));
    assert!(
        line.contains("channel=\"whatsapp\"") && line.contains("kind=\"status\""),
        "{line}"
    );
    assert!(line.ends_with(" 2"), "{line}");
}

#[tokio::test]
async fn a_malformed_message_is_set_aside_and_counted_while_the_others_of_its_delivery_go_on() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let harness = Harness::new(API, "");
    let mut no_sender = text("wamid.B2", "16505551234", "who am I");
    no_sender.as_object_mut().unwrap().remove("from");
    let body = payload(vec![vec![change(
        &[],
        vec![
            text("wamid.B1", "16505551234", "first"),
            no_sender,
            text("wamid.B3", "16505551234", "third"),
        ],
    )]]);
    let (status, json, _) = harness.send(request(body, Some(APP_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let texts: Vec<_> = harness.events().iter().map(|e| e.text.clone()).collect();
    assert_eq!(texts, ["first", "third"]);
    let rendered = metrics.render();
    let line = rendered
        .lines()
        .find(|l| l.starts_with("intake_messages_rejected_total{"))
        .unwrap_or_else(|| panic!("no rejection counter in:\n{rendered}"));
    assert!(
        line.contains("channel=\"whatsapp\"") && line.contains("reason=\"schema\""),
        "{line}"
    );
    assert!(line.ends_with(" 1"), "{line}");
}
