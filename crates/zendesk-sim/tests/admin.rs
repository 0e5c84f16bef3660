//! Admin API, request log, stats, HTML page and state persistence.
mod common;

use axum::http::{Method, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, send, sim, sim_with};
use intake_zendesk_sim::{SimConfig, Simulator};
use serde_json::json;

#[tokio::test]
async fn request_log_redacts_authorization_and_keeps_idempotency_key() {
    let (app, _) = sim();
    let auth = basic(AGENT, TOKEN);
    send(
        &app,
        Method::POST,
        "/api/v2/tickets.json?x=1",
        Some(json!({"ticket": {"comment": {"body": "b"}}})),
        &[
            ("authorization", auth.as_str()),
            ("idempotency-key", "key-7"),
        ],
    )
    .await;
    let log = call(&app, Method::GET, "/admin/requests", None).await;
    assert!(
        !log.text.contains(&auth[6..]),
        "credentials must not be logged"
    );
    let first = &log.json()["requests"][0];
    assert_eq!(first["method"], "POST");
    assert_eq!(first["path"], "/api/v2/tickets");
    assert_eq!(first["query"], "x=1");
    assert_eq!(first["idempotency_key"], "key-7");
    assert_eq!(first["authorization"], "Basic");
    assert_eq!(first["status"], 201);
    assert!(first["at"].is_string());
}

#[tokio::test]
async fn stats_count_statuses_and_show_the_rate_window() {
    let (app, _) = sim_with(SimConfig {
        requests_per_minute: Some(1),
        ..SimConfig::default()
    });
    call(&app, Method::GET, "/api/v2/groups", None).await;
    call(&app, Method::GET, "/api/v2/groups", None).await;
    call(&app, Method::GET, "/api/v2/groups", None).await;
    let stats = call(&app, Method::GET, "/admin/stats", None).await.json();
    assert_eq!(stats["by_status"]["200"], 1);
    assert_eq!(stats["by_status"]["429"], 2);
    assert_eq!(stats["rate_limit"]["limit_per_minute"], 1);
    assert_eq!(stats["rate_limit"]["used"], 1);
}

#[tokio::test]
async fn clock_advance_reset_and_status_endpoints() {
    let (app, state) = sim();
    let before = chrono::DateTime::parse_from_rfc3339(
        call(&app, Method::GET, "/admin/clock", None).await.json()["now"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    call(
        &app,
        Method::POST,
        "/admin/clock/advance",
        Some(json!({"seconds": 7200})),
    )
    .await;
    let after = chrono::DateTime::parse_from_rfc3339(
        call(&app, Method::GET, "/admin/clock", None).await.json()["now"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert!((after - before).num_seconds() >= 7200);
    let id = create_ticket(&app, json!({"comment": {"body": "x"}})).await;
    let set = call(
        &app,
        Method::POST,
        format!("/admin/tickets/{id}/status"),
        Some(json!({"status": "solved"})),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK);
    let tickets = call(&app, Method::GET, "/admin/tickets", None).await.json();
    assert_eq!(tickets["tickets"][0]["status"], "solved");
    assert_eq!(tickets["tickets"][0]["comments"][0]["body"], "x");
    assert_eq!(
        call(&app, Method::POST, "/admin/tickets/999/close", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    call(&app, Method::POST, "/admin/reset", None).await;
    assert!(state.tickets().is_empty());
    assert_eq!(state.users().len(), 1);
}

#[tokio::test]
async fn html_page_lists_tickets_and_escapes_text() {
    let (app, _) = sim();
    create_ticket(
        &app,
        json!({"subject": "<script>alert(1)</script>", "comment": {"body": "a & b <img src=x>"}}),
    )
    .await;
    let page = send(&app, Method::GET, "/", None, &[]).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.text.contains("a &amp; b &lt;img src=x&gt;"));
    assert!(!page.text.contains("<script>"));
    assert!(!page.text.contains("<img"));
    assert!(page.text.contains("http-equiv=\"refresh\""));
}

#[tokio::test]
async fn state_file_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = SimConfig {
        state_file: Some(dir.path().join("sim.json")),
        requests_per_minute: None,
        ..SimConfig::default()
    };
    let (app, state) = Simulator::try_app(config.clone()).unwrap();
    let id = create_ticket(
        &app,
        json!({"comment": {"body": "persisted"}, "requester": {"name": "P", "email": "p@x.test"}}),
    )
    .await;
    call(
        &app,
        Method::POST,
        "/admin/clock/advance",
        Some(json!({"seconds": 3600})),
    )
    .await;
    let now_before = state.now();
    drop((app, state));
    let (app, state) = Simulator::try_app(config.clone()).unwrap();
    assert_eq!(state.tickets()[0]["id"].as_u64(), Some(id));
    assert_eq!(state.tickets()[0]["comments"][0]["body"], "persisted");
    assert!(
        state.now() >= now_before - chrono::Duration::seconds(1),
        "clock offset restored"
    );
    let next = create_ticket(&app, json!({"comment": {"body": "next"}})).await;
    assert_eq!(next, id + 1, "id counters restored");
    std::fs::write(dir.path().join("sim.json"), b"not json").unwrap();
    assert!(Simulator::try_app(config).is_err());
}
