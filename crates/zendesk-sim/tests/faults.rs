//! Injected faults: statuses, Retry-After, count, rate, path prefix, duration,
//! delays (and the 409 they make observable) and dropped connections.
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, sim};
use intake_zendesk_sim::{SimConfig, Simulator};
use serde_json::json;

#[tokio::test]
async fn status_faults_with_and_without_retry_after_by_count_and_prefix() {
    let (app, _) = sim();
    let added = call(&app, Method::POST, "/admin/faults", Some(json!({"status": 503, "retry_after_secs": 7, "count": 1, "path_prefix": "/api/v2/tickets"}))).await;
    assert_eq!(added.status, StatusCode::CREATED);
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"status": 500, "count": 1})),
    )
    .await;
    // groups does not match the prefix of the first rule: hit by the second
    let groups = call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(groups.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(groups.header("retry-after").is_none());
    let tickets = call(&app, Method::GET, "/api/v2/tickets", None).await;
    assert_eq!(tickets.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(tickets.header("retry-after"), Some("7"));
    // both rules are spent
    assert_eq!(
        call(&app, Method::GET, "/api/v2/tickets", None)
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn duration_fault_expires_on_the_sim_clock_and_delete_clears() {
    let (app, state) = sim();
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"status": 503, "duration_secs": 30})),
    )
    .await;
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    state.advance_clock(Duration::from_secs(31));
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::OK
    );
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"status": 502})),
    )
    .await;
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        call(&app, Method::DELETE, "/admin/faults", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::OK
    );
}

async fn statuses_with_rate(seed: u64) -> Vec<u16> {
    let (app, _) = Simulator::app(SimConfig {
        fault_seed: seed,
        requests_per_minute: None,
        ..SimConfig::default()
    });
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"status": 503, "rate": 0.3})),
    )
    .await;
    let mut out = Vec::new();
    for _ in 0..40 {
        out.push(
            call(&app, Method::GET, "/api/v2/groups", None)
                .await
                .status
                .as_u16(),
        );
    }
    out
}

#[tokio::test]
async fn rate_faults_are_deterministic_per_seed() {
    let a = statuses_with_rate(7).await;
    assert_eq!(a, statuses_with_rate(7).await);
    let failures = a.iter().filter(|s| **s == 503).count();
    assert!((3..=25).contains(&failures), "{failures} of 40");
}

#[tokio::test]
async fn invalid_fault_specs_are_rejected() {
    let (app, _) = sim();
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/admin/faults",
            Some(json!({"rate": 2.0}))
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/admin/faults",
            Some(json!({"status": 42}))
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert!(
        call(
            &app,
            Method::POST,
            "/admin/faults",
            Some(json!({"unknown": 1}))
        )
        .await
        .status
        .is_client_error()
    );
}

/// On paused time: the second update comes 100 ms into the first one's
/// 300 ms hold on the same clock, whatever the machine's speed.
#[tokio::test(start_paused = true)]
async fn overlapping_updates_of_one_ticket_get_409() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "x"}})).await;
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"delay_ms": 300, "count": 1, "path_prefix": format!("/api/v2/tickets/{id}")})),
    )
    .await;
    let slow = {
        let app = app.clone();
        tokio::spawn(async move {
            call(
                &app,
                Method::PUT,
                format!("/api/v2/tickets/{id}"),
                Some(json!({"ticket": {"comment": {"body": "slow"}}})),
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let fast = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "fast"}}})),
    )
    .await;
    assert_eq!(fast.status, StatusCode::CONFLICT);
    assert_eq!(slow.await.unwrap().status, StatusCode::OK);
    // after the slow one finished, the ticket is free again
    let again = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "again"}}})),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    let bodies: Vec<String> = state.tickets()[0]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(bodies, vec!["x", "slow", "again"]);
}

#[tokio::test]
async fn dropped_connection_over_tcp_and_slow_response() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let handle = Simulator::start(
        SimConfig {
            requests_per_minute: None,
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
    let url = format!("{}/api/v2/groups", handle.base_url);
    let admin = format!("{}/admin/faults", handle.base_url);
    client
        .post(&admin)
        .json(&json!({"drop_connection": true, "count": 1}))
        .send()
        .await
        .unwrap();
    let err = client.get(&url).header("authorization", &auth).send().await;
    assert!(
        err.is_err(),
        "dropped connection must surface as a transport error: {err:?}"
    );
    let ok = client
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    client
        .post(&admin)
        .json(&json!({"delay_ms": 400, "count": 1}))
        .send()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let slow = client
        .get(&url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(slow.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
    let requests: serde_json::Value = client
        .get(format!("{}/admin/requests", handle.base_url))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dropped = requests["requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["dropped"] == true)
        .count();
    assert_eq!(dropped, 1);
    assert_eq!(handle.state().stats()["dropped_connections"], 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn dropped_connection_in_process_breaks_the_body() {
    let (app, _) = sim();
    call(
        &app,
        Method::POST,
        "/admin/faults",
        Some(json!({"drop_connection": true, "count": 1})),
    )
    .await;
    let auth = basic(AGENT, TOKEN);
    let req = axum::http::Request::builder()
        .uri("/api/v2/groups")
        .header("authorization", auth)
        .body(axum::body::Body::empty())
        .unwrap();
    let resp = tower::ServiceExt::oneshot(app, req).await.unwrap();
    assert!(
        axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .is_err()
    );
}
