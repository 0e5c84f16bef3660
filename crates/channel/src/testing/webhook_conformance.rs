//! The webhook half of the conformance kit: runs a webhook channel's routes
//! against an in-memory bus ([`ControlledPublisher`]) and a blob store in a
//! temporary directory, and checks what every webhook channel promises:
//!
//! - the same message delivered twice gets the same event id;
//! - missing or wrong authentication is 401 and nothing is published;
//! - the 2xx comes only after the bus confirmed: a bus that fails or stalls
//!   gives 503 with `Retry-After`, and no 2xx;
//! - a body over the channel's limit is 413 and nothing is published;
//! - a malformed body gets the channel's 4xx and nothing is published;
//! - a malformed optional field is accepted, dropped and named in the
//!   event's `dropped_fields`.
//!
//! A channel's tests call [`webhook_conformance`] once with a
//! [`WebhookTestSender`] that knows how to build and sign its requests.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::LocalDirBlobStore;
use intake_bus::{Publisher, Topics};
use tower::ServiceExt as _;

use super::{BusMode, ControlledPublisher};
use crate::{ChannelContext, PUBLISH_DEADLINE, TicketEvent};

/// What the suite needs from a channel's tests: the channel's routes and the
/// channel's requests, good and bad.
pub trait WebhookTestSender: Send + Sync {
    /// The channel's routes (a new channel each time), mounted on `ctx`.
    fn routes(&self, ctx: ChannelContext) -> axum::Router;
    /// The body limit the channel of [`WebhookTestSender::routes`] has.
    fn max_body_bytes(&self) -> usize;
    /// A valid body of the message whose source id is `id` (for channels
    /// whose id travels in the body; others may ignore it).
    fn body(&self, id: &str) -> Vec<u8>;
    /// A valid body except for one malformed optional field, and the name
    /// the event must carry in `dropped_fields`.
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str);
    /// A body the channel refuses, and the status it refuses it with.
    fn malformed_body(&self, id: &str) -> (Vec<u8>, StatusCode);
    /// A request carrying `body`, authenticated as the source does.
    fn signed(&self, id: &str, body: Vec<u8>) -> Request<Body>;
    /// A request carrying `body` without any authentication.
    fn unsigned(&self, id: &str, body: Vec<u8>) -> Request<Body>;
    /// A request carrying `body`, authenticated with a wrong key.
    fn forged(&self, id: &str, body: Vec<u8>) -> Request<Body>;
}

/// One channel under test: its routes over a controllable bus.
struct Harness {
    app: axum::Router,
    bus: Arc<ControlledPublisher>,
    _dir: tempfile::TempDir,
}

impl Harness {
    fn new(sender: &dyn WebhookTestSender, mode: BusMode) -> Self {
        let dir = tempfile::tempdir().expect("temporary blob directory");
        let bus = ControlledPublisher::new(mode);
        let ctx = ChannelContext {
            publisher: Arc::clone(&bus) as Arc<dyn Publisher>,
            topics: Topics::new("conformance"),
            blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("blobs"))),
        };
        Self {
            app: sender.routes(ctx),
            bus,
            _dir: dir,
        }
    }

    /// Sends `request`; the status, the `Retry-After` header and the JSON body.
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self
            .app
            .clone()
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = response.status();
        let retry_after = response.headers().get("retry-after").is_some();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("the answer's body");
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            retry_after,
            json,
        }
    }

    fn events(&self) -> Vec<TicketEvent> {
        self.bus
            .records()
            .iter()
            .map(|record| TicketEvent::from_json(&record.payload).expect("a ticket event"))
            .collect()
    }
}

struct Answer {
    status: StatusCode,
    retry_after: bool,
    json: serde_json::Value,
}

impl Answer {
    /// The `error` code of a JSON error body.
    fn code(&self) -> &str {
        self.json["error"]
            .as_str()
            .unwrap_or("(no JSON error body)")
    }
}

/// Runs every check of this module against the channel.
pub async fn webhook_conformance(sender: &dyn WebhookTestSender) {
    check_same_message_same_event_id(sender).await;
    check_authentication_required(sender).await;
    check_accepted_only_after_the_bus(sender).await;
    check_oversized_refused(sender).await;
    check_malformed_refused(sender).await;
    check_malformed_optional_field_dropped(sender).await;
}

/// The same delivery twice: both accepted, both events with one event id.
pub async fn check_same_message_same_event_id(sender: &dyn WebhookTestSender) {
    let harness = Harness::new(sender, BusMode::Confirm);
    let mut ids = Vec::new();
    for attempt in 0..2 {
        let answer = harness
            .send(sender.signed("conformance-1", sender.body("conformance-1")))
            .await;
        assert!(
            answer.status.is_success(),
            "delivery {attempt}: {} {}",
            answer.status,
            answer.json
        );
        ids.push(answer.json["event_id"].clone());
    }
    let events = harness.events();
    assert_eq!(events.len(), 2, "both deliveries are published");
    assert_eq!(
        events[0].event_id, events[1].event_id,
        "the same message gets the same event id"
    );
    assert_eq!(ids[0], ids[1], "the answers name the same event id");
    assert_eq!(ids[0], serde_json::json!(events[0].event_id));
}

/// Missing or wrong authentication: 401, the bus never asked.
pub async fn check_authentication_required(sender: &dyn WebhookTestSender) {
    let harness = Harness::new(sender, BusMode::Confirm);
    let cases = [
        (
            "missing",
            sender.unsigned("conformance-2", sender.body("conformance-2")),
        ),
        (
            "wrong",
            sender.forged("conformance-3", sender.body("conformance-3")),
        ),
    ];
    for (case, request) in cases {
        let answer = harness.send(request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{case} authentication: {}",
            answer.json
        );
        assert!(
            answer.json["error"].is_string(),
            "{case} authentication: a JSON error body, got {}",
            answer.json
        );
    }
    assert_eq!(
        harness.bus.attempts(),
        0,
        "nothing unauthenticated reaches the bus"
    );
}

/// A bus that refuses, then one that stalls: 503 with `Retry-After`, never
/// a 2xx; the same delivery is accepted once the bus confirms.
pub async fn check_accepted_only_after_the_bus(sender: &dyn WebhookTestSender) {
    for mode in [BusMode::Fail, BusMode::Stall] {
        let harness = Harness::new(sender, mode);
        let request = sender.signed("conformance-4", sender.body("conformance-4"));
        // A stalled bus is given up after the publish deadline; the outer
        // bound only keeps a channel that waits forever from hanging the suite.
        let answer = tokio::time::timeout(PUBLISH_DEADLINE * 3, harness.send(request))
            .await
            .unwrap_or_else(|_| panic!("bus {mode:?}: no answer within the publish deadline"));
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "bus {mode:?}: {}",
            answer.json
        );
        assert_eq!(answer.code(), "bus_unavailable", "bus {mode:?}");
        assert!(answer.retry_after, "bus {mode:?}: Retry-After is sent");
        assert_eq!(harness.bus.attempts(), 1, "bus {mode:?}: one publish tried");
        harness.bus.set_mode(BusMode::Confirm);
        let retried = harness
            .send(sender.signed("conformance-4", sender.body("conformance-4")))
            .await;
        assert!(
            retried.status.is_success(),
            "bus {mode:?} recovered: {} {}",
            retried.status,
            retried.json
        );
        assert_eq!(harness.events().len(), 1);
    }
}

/// One byte over the limit: 413, the bus never asked. The body is a valid
/// one padded with spaces, so only the limit can refuse it.
pub async fn check_oversized_refused(sender: &dyn WebhookTestSender) {
    let harness = Harness::new(sender, BusMode::Confirm);
    let limit = sender.max_body_bytes();
    let mut body = sender.body("conformance-5");
    assert!(body.len() <= limit, "the valid body fits the limit");
    body.resize(limit + 1, b' ');
    let answer = harness.send(sender.signed("conformance-5", body)).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        answer.json
    );
    assert_eq!(answer.code(), "too_large");
    assert_eq!(
        harness.bus.attempts(),
        0,
        "nothing oversized reaches the bus"
    );
}

/// A malformed body: the channel's 4xx, the bus never asked.
pub async fn check_malformed_refused(sender: &dyn WebhookTestSender) {
    let harness = Harness::new(sender, BusMode::Confirm);
    let (body, status) = sender.malformed_body("conformance-6");
    assert!(status.is_client_error(), "a malformed body is a 4xx");
    let answer = harness.send(sender.signed("conformance-6", body)).await;
    assert_eq!(answer.status, status, "{}", answer.json);
    assert!(answer.json["error"].is_string(), "{}", answer.json);
    assert_eq!(
        harness.bus.attempts(),
        0,
        "nothing malformed reaches the bus"
    );
}

/// A malformed optional field: accepted, the event names the field, and
/// `intake_fields_dropped_total` counts it. Run it on the test's own thread
/// (the default `#[tokio::test]` runtime): the metric is read from a
/// thread-local recorder.
pub async fn check_malformed_optional_field_dropped(sender: &dyn WebhookTestSender) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let harness = Harness::new(sender, BusMode::Confirm);
    let (body, field) = sender.body_with_malformed_optional_field("conformance-7");
    let answer = harness.send(sender.signed("conformance-7", body)).await;
    assert!(
        answer.status.is_success(),
        "{} {}",
        answer.status,
        answer.json
    );
    let events = harness.events();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].dropped_fields.iter().any(|name| name == field),
        "{field} is named in dropped_fields: {:?}",
        events[0].dropped_fields
    );
    let counted = format!(
        "intake_fields_dropped_total{{channel=\"{}\",field=\"{field}\"}} 1",
        events[0].channel
    );
    let rendered = metrics.render();
    assert!(
        rendered.contains(&counted),
        "{counted} is recorded:\n{rendered}"
    );
}
