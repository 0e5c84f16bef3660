//! Faults after processing: Zendesk applied the request, but the client saw a 5xx,
//! a dropped connection or a slow answer.
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, send, sim};
use intake_zendesk_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

async fn add_fault(app: &axum::Router, spec: Value) {
    let added = call(app, Method::POST, "/admin/faults", Some(spec)).await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
}

fn comment_bodies(state: &intake_zendesk_sim::SimState) -> Vec<String> {
    state.tickets()[0]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn keyed_create_with_a_500_after_processing_exists_once_and_the_retry_hits_the_key() {
    let (app, state) = sim();
    add_fault(
        &app,
        json!({"status": 500, "retry_after_secs": 3, "count": 1, "after_processing": true,
               "path_prefix": "/api/v2/tickets"}),
    )
    .await;
    let listed = call(&app, Method::GET, "/admin/faults", None).await.json();
    assert_eq!(listed["faults"][0]["after_processing"], true);
    let body = json!({"ticket": {"subject": "s", "comment": {"body": "hello"}}});
    let auth = basic(AGENT, TOKEN);
    let headers = [
        ("authorization", auth.as_str()),
        ("idempotency-key", "key-500"),
    ];
    let failed = send(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(body.clone()),
        &headers,
    )
    .await;
    assert_eq!(failed.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failed.header("retry-after"), Some("3"));
    assert!(
        failed.header("location").is_none(),
        "the client sees only the error"
    );
    assert_eq!(state.tickets().len(), 1, "Zendesk applied the create");

    let retry = send(&app, Method::POST, "/api/v2/tickets", Some(body), &headers).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert_eq!(retry.header("x-idempotency-lookup"), Some("hit"));
    assert_eq!(retry.json()["ticket"]["id"], state.tickets()[0]["id"]);
    assert_eq!(state.tickets().len(), 1, "the retry created nothing");
    let records = state.requests();
    assert!(records[records.len() - 2].fault);
    assert_eq!(records[records.len() - 2].status, 500);
}

#[tokio::test]
async fn a_500_before_processing_still_creates_nothing() {
    let (app, state) = sim();
    add_fault(&app, json!({"status": 503, "count": 1})).await;
    let reply = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "x"}}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(state.tickets().is_empty());
}

#[tokio::test]
async fn update_with_a_dropped_connection_after_processing_keeps_the_comment_once() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "first"}})).await;
    add_fault(
        &app,
        json!({"drop_connection": true, "count": 1, "after_processing": true}),
    )
    .await;
    let auth = basic(AGENT, TOKEN);
    let req = axum::http::Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/v2/tickets/{id}"))
        .header("authorization", auth)
        .header("content-type", "application/json")
        .body(axum::body::Body::from(
            json!({"ticket": {"comment": {"body": "applied but unseen"}}}).to_string(),
        ))
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app.clone(), req).await.unwrap();
    assert!(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .is_err(),
        "the client sees a broken exchange"
    );
    assert_eq!(comment_bodies(&state), vec!["first", "applied but unseen"]);
    assert_eq!(state.stats()["dropped_connections"], 1);
}

/// On paused time: the 400 ms delay and the polling run on one clock, so
/// the ticket is seen before the answer however slow the machine is.
#[tokio::test(start_paused = true)]
async fn over_tcp_a_drop_after_processing_is_a_transport_error_and_a_delay_comes_after() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = Simulator::start(
        SimConfig {
            requests_per_minute: None,
            search_lag: Duration::ZERO,
            ..SimConfig::default()
        },
        listener,
    )
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let auth = basic(AGENT, TOKEN);
    let admin = format!("{}/admin/faults", handle.base_url);
    let tickets = format!("{}/api/v2/tickets", handle.base_url);
    let fault = |spec: Value| client.post(&admin).json(&spec).send();
    fault(json!({"drop_connection": true, "count": 1, "after_processing": true}))
        .await
        .unwrap();
    let dropped = client
        .post(&tickets)
        .header("authorization", &auth)
        .json(&json!({"ticket": {"comment": {"body": "one"}}}))
        .send()
        .await;
    assert!(dropped.is_err(), "dropped: {dropped:?}");
    assert_eq!(handle.state().tickets().len(), 1);

    // A delay after processing: the ticket exists before the answer arrives.
    fault(json!({"delay_ms": 400, "count": 1, "after_processing": true}))
        .await
        .unwrap();
    let slow = {
        let client = client.clone();
        let auth = auth.clone();
        let tickets = tickets.clone();
        tokio::spawn(async move {
            client
                .post(&tickets)
                .header("authorization", &auth)
                .json(&json!({"ticket": {"comment": {"body": "two"}}}))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    };
    let mut seen_early = false;
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        if handle.state().tickets().len() == 2 {
            seen_early = !slow.is_finished();
            break;
        }
    }
    assert!(seen_early, "the ticket exists while the answer is delayed");
    assert_eq!(slow.await.unwrap().unwrap(), 201);
    handle.shutdown().await;
}
