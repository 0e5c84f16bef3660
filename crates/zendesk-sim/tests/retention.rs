//! Bounded memory: expired idempotency keys, update logs, unattached uploads and
//! search versions are pruned as the sim clock moves on.
mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, send, sim_with};
use intake_zendesk_sim::{Retained, SimConfig};
use serde_json::json;
use tower::ServiceExt;

async fn upload(app: &axum::Router) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/v2/uploads?filename=a.txt")
        .header("authorization", basic(AGENT, TOKEN))
        .header("content-type", "text/plain")
        .body(Body::from("hello"))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn expired_records_are_pruned_on_a_request_after_the_clock_moves() {
    let (app, state) = sim_with(SimConfig {
        search_lag: Duration::from_secs(5),
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let auth = basic(AGENT, TOKEN);
    let keyed = send(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "keyed"}}})),
        &[("authorization", auth.as_str()), ("idempotency-key", "k")],
    )
    .await;
    assert_eq!(keyed.status, StatusCode::CREATED);
    let id = create_ticket(&app, json!({"comment": {"body": "plain"}})).await;
    let updated = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"status": "open"}})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK);
    upload(&app).await;
    assert_eq!(
        state.retained(),
        Retained {
            idempotency_keys: 1,
            update_logs: 1,
            uploads: 1,
            search_versions: 1,
        }
    );

    // 11 sim-minutes: the update log and the search version are gone, the rest stays
    state.advance_clock(Duration::from_secs(11 * 60));
    call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(
        state.retained(),
        Retained {
            idempotency_keys: 1,
            update_logs: 0,
            uploads: 1,
            search_versions: 0,
        }
    );

    // past the upload (60 min) and idempotency (2 h) lifetimes: nothing is left
    state.advance_clock(Duration::from_secs(2 * 60 * 60));
    call(&app, Method::GET, "/admin/clock", None).await;
    assert_eq!(state.retained(), Retained::default());
    let stats = call(&app, Method::GET, "/admin/stats", None).await.json();
    assert_eq!(stats["retained"]["idempotency_keys"], 0);
    assert_eq!(state.tickets().len(), 2, "tickets themselves are kept");
}

#[tokio::test]
async fn pruning_runs_at_most_once_per_sim_minute_unless_asked() {
    let (app, state) = sim_with(SimConfig {
        requests_per_minute: None,
        search_lag: Duration::ZERO,
        ..SimConfig::default()
    });
    upload(&app).await;
    // a pruning 10 s before the upload token expires keeps it
    state.advance_clock(Duration::from_secs(60 * 60 - 10));
    call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(state.retained().uploads, 1);
    // expired now, but the last pruning is only 20 sim-seconds old
    state.advance_clock(Duration::from_secs(20));
    call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(state.retained().uploads, 1);
    state.prune();
    assert_eq!(
        state.retained().uploads,
        0,
        "an explicit prune runs at once"
    );
    upload(&app).await;
    state.advance_clock(Duration::from_secs(60 * 60 + 60));
    call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(state.retained().uploads, 0, "pruned a sim-minute later");
}
