//! Helpers shared by the integration tests: in-process calls through `oneshot`.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use intake_zendesk_sim::{SimConfig, SimState, Simulator};
use serde_json::Value;
use tower::ServiceExt;

pub const AGENT: &str = "agent@intake-sim.test";
pub const TOKEN: &str = "sim-token";

/// A simulator without search lag or rate limit unless the test sets them.
pub fn sim() -> (Router, SimState) {
    Simulator::app(SimConfig {
        search_lag: std::time::Duration::ZERO,
        requests_per_minute: None,
        ..SimConfig::default()
    })
}

pub fn basic(email: &str, token: &str) -> String {
    let raw = format!("{email}/token:{token}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends a request with custom headers; `auth` None sends no Authorization.
pub async fn send(
    app: &Router,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Reply {
    let path: String = path.into();
    let mut builder = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let body = match body {
        Some(v) => {
            builder = builder.header("content-type", "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let resp = app
        .clone()
        .oneshot(builder.body(body).expect("request"))
        .await
        .expect("infallible");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    Reply {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// Sends a request as the seeded agent.
pub async fn call(
    app: &Router,
    method: Method,
    path: impl Into<String>,
    body: Option<Value>,
) -> Reply {
    let auth = basic(AGENT, TOKEN);
    send(app, method, path, body, &[("authorization", auth.as_str())]).await
}

/// A simulator with a custom config (search lag and rate limit still off unless set).
pub fn sim_with(config: SimConfig) -> (Router, SimState) {
    Simulator::app(config)
}

/// Creates a ticket and returns its id.
pub async fn create_ticket(app: &Router, ticket: Value) -> u64 {
    let reply = call(
        app,
        Method::POST,
        "/api/v2/tickets",
        Some(serde_json::json!({"ticket": ticket})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.json()["ticket"]["id"].as_u64().expect("id")
}
