//! The chat webhook through `oneshot` (no socket): status codes, what reaches
//! the bus, the blob store and the metrics.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::LocalDirBlobStore;
use intake_bus::Topics;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{CE_TYPE, ChannelContext, HttpChannel};
use intake_channel_chat::{ChatChannel, ChatOptions, PATH, WebhookSecret, sign};
use intake_event::TicketEvent;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};
use secrecy::SecretString;
use tower::ServiceExt;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Harness {
    app: Router,
    publisher: Arc<RecordingPublisher>,
    blobs: LocalDirBlobStore,
    _dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let blobs = LocalDirBlobStore::new(dir.path().join("blobs"));
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(blobs.clone()),
    };
    let options = ChatOptions {
        secret: SecretString::from(SECRET),
        timestamp_tolerance: Duration::from_secs(300),
        max_body_bytes: 1024,
        max_attachment_bytes: 64,
        max_attachments: 2,
        ..ChatOptions::with_secret(SecretString::from(SECRET))
    };
    let channel = Arc::new(ChatChannel::new(options).unwrap());
    Harness {
        app: channel.routes(ctx),
        publisher,
        blobs,
        _dir: dir,
    }
}

fn recorder() -> (PrometheusRecorder, PrometheusHandle) {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    (recorder, handle)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn signed_at(id: &str, timestamp: i64, body: &str) -> Request<Body> {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    Request::post(PATH)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header(
            "webhook-signature",
            sign(&secret, id, timestamp, body.as_bytes()),
        )
        .body(Body::from(body.to_owned()))
        .unwrap()
}

fn signed(id: &str, body: &str) -> Request<Body> {
    signed_at(id, now(), body)
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, serde_json::Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{status}: body is not JSON ({e}): {bytes:?}"));
    (status, json)
}

const MESSAGE: &str = r#"{"conversation_id":"conv-9","author":{"id":"visitor-1","email":"Anna@Example.com"},"text":"Заказ не пришёл 📦"}"#;

#[tokio::test]
async fn valid_message_is_published_then_accepted() {
    let (recorder, handle) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let h = harness();

    let (status, body) = send(&h.app, signed("msg_1", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    let expected_id = intake_event::event_id("chat", "msg_1").to_string();
    assert_eq!(body["event_id"], expected_id);
    assert_eq!(body["status"], "accepted");

    let records = h.publisher.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record.topic, "intake.events.chat");
    // The bus key is the conversation (decision 37); a typed e-mail is a
    // claim: the contact key stays the visitor's, the address kept.
    assert_eq!(record.key, "thread:chat:conv-9");
    assert_eq!(record.header("ce_id"), Some(expected_id.as_str()));
    assert_eq!(record.header("ce_source"), Some("/intake/chat"));
    assert_eq!(record.header("ce_type"), Some(CE_TYPE));
    assert!(record.header("traceparent").is_some());
    let event = TicketEvent::from_json(&record.payload).unwrap();
    assert_eq!(event.channel_message_id, "msg_1");
    assert_eq!(event.text, "Заказ не пришёл 📦");
    assert_eq!(event.conversation.thread_id.as_deref(), Some("conv-9"));
    assert_eq!(event.contact.email.as_deref(), Some("anna@example.com"));
    assert!(!event.contact.verified);
    // The raw body is kept byte for byte, inside the event (it is small).
    assert_eq!(event.raw, None);
    let raw = event.raw_inline.expect("raw payload inline");
    assert_eq!(raw.decode().unwrap(), MESSAGE.as_bytes());

    // Redelivery: same event id, accepted again (the router de-duplicates).
    let (status, again) = send(&h.app, signed("msg_1", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(again["event_id"], expected_id);
    assert_eq!(h.publisher.records().len(), 2);

    let rendered = handle.render();
    assert!(
        rendered.contains(r#"intake_messages_received_total{channel="chat"} 2"#),
        "{rendered}"
    );
    assert!(
        rendered.contains(r#"intake_events_published_total{channel="chat"} 2"#),
        "{rendered}"
    );
}

#[tokio::test]
async fn attachment_is_stored_under_its_sha256() {
    let h = harness();
    let body = r#"{"conversation_id":"c","author":{"id":"v"},"text":"see file",
        "attachments":[{"filename":"привет.txt","content_type":"text/plain","data_base64":"0J/RgNC40LLQtdGC"}]}"#;
    let (status, answer) = send(&h.app, signed("msg_att", body)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");

    let event = TicketEvent::from_json(&h.publisher.records()[0].payload).unwrap();
    let attachment = &event.attachments[0];
    let sha = intake_blob::sha256_hex("Привет".as_bytes());
    assert_eq!(attachment.sha256, sha);
    assert_eq!(attachment.blob.as_str(), format!("sha256/{sha}"));
    let path = h.blobs.path_of(&attachment.blob).unwrap();
    assert!(path.ends_with(&sha), "{}", path.display());
    assert_eq!(std::fs::read(path).unwrap(), "Привет".as_bytes());
}

fn rejection_cases() -> Vec<(&'static str, Request<Body>, StatusCode, &'static str)> {
    let secret = WebhookSecret::parse(SECRET).unwrap();
    let ts = now();
    let mut cases = Vec::new();

    let mut wrong_sig = signed("m", MESSAGE);
    let other = WebhookSecret::parse("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    wrong_sig.headers_mut().insert(
        "webhook-signature",
        sign(&other, "m", ts, MESSAGE.as_bytes()).parse().unwrap(),
    );
    cases.push((
        "wrong signature",
        wrong_sig,
        StatusCode::UNAUTHORIZED,
        "signature",
    ));

    let tampered = Request::post(PATH)
        .header("content-type", "application/json")
        .header("webhook-id", "m")
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            sign(&secret, "m", ts, MESSAGE.as_bytes()),
        )
        .body(Body::from(MESSAGE.replace("Заказ", "Платёж")))
        .unwrap();
    cases.push((
        "tampered body",
        tampered,
        StatusCode::UNAUTHORIZED,
        "signature",
    ));

    cases.push((
        "stale timestamp",
        signed_at("m", ts - 301, MESSAGE),
        StatusCode::UNAUTHORIZED,
        "stale_timestamp",
    ));
    cases.push((
        "future timestamp",
        signed_at("m", ts + 301, MESSAGE),
        StatusCode::UNAUTHORIZED,
        "stale_timestamp",
    ));
    for header in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut request = signed("m", MESSAGE);
        request.headers_mut().remove(header);
        cases.push((
            "missing header",
            request,
            StatusCode::UNAUTHORIZED,
            "signature",
        ));
    }

    let big = format!(
        r#"{{"conversation_id":"c","author":{{"id":"v"}},"text":"{}"}}"#,
        "x".repeat(1100)
    );
    cases.push((
        "oversize by content-length",
        signed("m", &big),
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    ));
    let mut lying = signed("m", &big);
    lying
        .headers_mut()
        .insert("content-length", "10".parse().unwrap());
    cases.push((
        "oversize by bytes read",
        lying,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    ));
    let mut unsized_body = signed("m", &big);
    unsized_body.headers_mut().remove("content-length");
    cases.push((
        "oversize without content-length",
        unsized_body,
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
    ));

    let mut text_plain = signed("m", MESSAGE);
    text_plain
        .headers_mut()
        .insert("content-type", "text/plain".parse().unwrap());
    cases.push((
        "wrong content type",
        text_plain,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "content_type",
    ));
    let mut latin1 = signed("m", MESSAGE);
    latin1.headers_mut().insert(
        "content-type",
        "application/json; charset=latin1".parse().unwrap(),
    );
    cases.push((
        "wrong charset",
        latin1,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "content_type",
    ));
    let mut no_type = signed("m", MESSAGE);
    no_type.headers_mut().remove("content-type");
    cases.push((
        "no content type",
        no_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "content_type",
    ));

    cases.push((
        "bad json",
        signed("m", r#"{"conversation_id":"#),
        StatusCode::BAD_REQUEST,
        "bad_json",
    ));
    cases.push((
        "missing text and attachments",
        signed("m", r#"{"conversation_id":"c","author":{"id":"v"}}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema",
    ));
    cases.push((
        "missing author id",
        signed("m", r#"{"conversation_id":"c","author":{},"text":"x"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema",
    ));
    cases.push((
        "author not an object",
        signed("m", r#"{"conversation_id":"c","author":"v","text":"x"}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "schema",
    ));
    cases.push((
        "bad base64",
        signed("m", r#"{"conversation_id":"c","author":{"id":"v"},"attachments":[{"filename":"f","content_type":"text/plain","data_base64":"%%%"}]}"#),
        StatusCode::UNPROCESSABLE_ENTITY,
        "attachment",
    ));
    cases.push((
        "attachment too big",
        signed("m", &format!(r#"{{"conversation_id":"c","author":{{"id":"v"}},"attachments":[{{"filename":"f","content_type":"text/plain","data_base64":"{}"}}]}}"#, "QUFB".repeat(30))),
        StatusCode::UNPROCESSABLE_ENTITY,
        "attachment",
    ));
    cases
}

#[tokio::test]
async fn rejected_requests_get_their_status_and_publish_nothing() {
    let (recorder, handle) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let h = harness();
    let cases = rejection_cases();
    let count = cases.len();
    for (name, request, expected_status, expected_code) in cases {
        let (status, body) = send(&h.app, request).await;
        assert_eq!(status, expected_status, "{name}: {body}");
        assert_eq!(body["error"], expected_code, "{name}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: {body}"
        );
        assert!(
            !body.to_string().contains("MfKQ9r8"),
            "{name}: secret leaked"
        );
        assert!(
            h.publisher.records().is_empty(),
            "{name}: something was published"
        );
    }
    // Nothing reached the blob store either.
    assert!(
        !h.blobs.root().join("sha256").exists(),
        "blobs written for rejected requests"
    );

    let rendered = handle.render();
    let expectations = [
        (r#"intake_messages_rejected_total{channel="chat",reason="signature"} 5"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="stale_timestamp"} 2"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="too_large"} 3"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="content_type"} 3"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="bad_json"} 1"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="schema"} 3"#),
        (r#"intake_messages_rejected_total{channel="chat",reason="attachment"} 2"#),
        (r#"intake_signature_failures_total{channel="chat"} 7"#),
    ];
    for line in expectations {
        assert!(rendered.contains(line), "missing {line} in\n{rendered}");
    }
    assert!(
        rendered.contains(&format!(
            r#"intake_messages_received_total{{channel="chat"}} {count}"#
        )),
        "{rendered}"
    );
}

#[tokio::test]
async fn bus_failure_is_503_and_nothing_is_acked() {
    let (recorder, handle) = recorder();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let h = harness();
    h.publisher.set_failing(true);
    let (status, body) = send(&h.app, signed("msg_bus", MESSAGE)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "bus_unavailable");
    assert!(h.publisher.records().is_empty());
    assert!(
        handle.render().contains(
            r#"intake_messages_rejected_total{channel="chat",reason="bus_unavailable"} 1"#
        )
    );

    // Once the bus is back the sender's retry goes through with the same id.
    h.publisher.set_failing(false);
    let (status, body) = send(&h.app, signed("msg_bus", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(
        body["event_id"],
        intake_event::event_id("chat", "msg_bus").to_string()
    );
    assert_eq!(h.publisher.records().len(), 1);
}

#[tokio::test]
async fn blob_store_failure_is_503() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, b"x").unwrap();
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("intake"),
        blobs: Arc::new(LocalDirBlobStore::new(&not_a_dir)),
    };
    // A small message needs no blob store: its raw body travels inline.
    let inline =
        Arc::new(ChatChannel::new(ChatOptions::with_secret(SecretString::from(SECRET))).unwrap());
    let (status, body) = send(&inline.routes(ctx.clone()), signed("msg_inline", MESSAGE)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(publisher.records().len(), 1);

    // A raw body that must go to the blob store cannot be accepted without it.
    let options = ChatOptions {
        raw_inline_max_bytes: 0,
        ..ChatOptions::with_secret(SecretString::from(SECRET))
    };
    let channel = Arc::new(ChatChannel::new(options).unwrap());
    let app = channel.routes(ctx);
    let (status, body) = send(&app, signed("msg_blob", MESSAGE)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"], "blob_unavailable");
    assert!(
        !body.to_string().contains(&*not_a_dir.to_string_lossy()),
        "path leaked: {body}"
    );
    assert_eq!(
        publisher.records().len(),
        1,
        "nothing published for the 503"
    );
}

#[test]
fn bad_secret_is_refused_at_construction() {
    let err =
        ChatChannel::new(ChatOptions::with_secret(SecretString::from("hunter2"))).unwrap_err();
    assert!(!err.to_string().contains("hunter2"));
}
