//! Auth, idempotency, rate limits and response headers.
mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, send, sim, sim_with};
use intake_zendesk_sim::SimConfig;
use secrecy::SecretString;
use serde_json::json;

#[tokio::test]
async fn auth_basic_bearer_401_and_403() {
    let (app, state) = sim_with(SimConfig {
        oauth_token: Some(SecretString::from("oauth-123")),
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let ok = send(
        &app,
        Method::GET,
        "/api/v2/groups",
        None,
        &[("authorization", &basic(AGENT, TOKEN))],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    let bearer = send(
        &app,
        Method::GET,
        "/api/v2/groups",
        None,
        &[("authorization", "Bearer oauth-123")],
    )
    .await;
    assert_eq!(bearer.status, StatusCode::OK);
    for bad in [
        basic(AGENT, "wrong"),
        basic("nobody@x.test", TOKEN),
        "Bearer nope".to_owned(),
        String::new(),
    ] {
        let headers: Vec<(&str, &str)> = if bad.is_empty() {
            vec![]
        } else {
            vec![("authorization", bad.as_str())]
        };
        let reply = send(&app, Method::GET, "/api/v2/groups", None, &headers).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(reply.json(), json!({"error": "Couldn't authenticate you"}));
    }
    state.create_user("End", "end@x.test", "end-user");
    let reply = send(
        &app,
        Method::GET,
        "/api/v2/groups",
        None,
        &[("authorization", &basic("end@x.test", TOKEN))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(reply.json()["error"]["title"], "Forbidden");
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("You do not have access to this page.")
    );
}

#[tokio::test]
async fn bearer_is_refused_when_no_oauth_token_configured() {
    let (app, _) = sim();
    let reply = send(
        &app,
        Method::GET,
        "/api/v2/groups",
        None,
        &[("authorization", "Bearer sim-token")],
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
}

async fn create_with_key(app: &axum::Router, key: &str, body: serde_json::Value) -> common::Reply {
    let auth = basic(AGENT, TOKEN);
    send(
        app,
        Method::POST,
        "/api/v2/tickets",
        Some(body),
        &[("authorization", auth.as_str()), ("idempotency-key", key)],
    )
    .await
}

#[tokio::test]
async fn idempotency_miss_hit_mismatch_and_expiry() {
    let (app, state) = sim();
    let body = json!({"ticket": {"subject": "s", "comment": {"body": "b"}}});
    let first = create_with_key(&app, "k1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED);
    assert_eq!(first.header("x-idempotency-lookup"), Some("miss"));
    let second = create_with_key(&app, "k1", body.clone()).await;
    assert_eq!(second.status, StatusCode::CREATED);
    assert_eq!(second.header("x-idempotency-lookup"), Some("hit"));
    assert_eq!(second.json(), first.json());
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(state.tickets().len(), 1);
    let other = create_with_key(
        &app,
        "k1",
        json!({"ticket": {"subject": "other", "comment": {"body": "b"}}}),
    )
    .await;
    assert_eq!(other.status, StatusCode::BAD_REQUEST);
    assert_eq!(other.json()["error"], "IdempotentRequestError");
    assert_eq!(state.tickets().len(), 1);
    state.advance_clock(Duration::from_secs(2 * 3600 + 1));
    let after = create_with_key(&app, "k1", body).await;
    assert_eq!(after.status, StatusCode::CREATED);
    assert_eq!(after.header("x-idempotency-lookup"), Some("miss"));
    assert_ne!(after.json()["ticket"]["id"], first.json()["ticket"]["id"]);
    assert_eq!(state.tickets().len(), 2);
}

#[tokio::test]
async fn rate_limit_headers_429_and_window_reset_on_sim_clock() {
    let (app, state) = sim_with(SimConfig {
        requests_per_minute: Some(3),
        ..SimConfig::default()
    });
    let first = call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(first.header("x-rate-limit"), Some("3"));
    assert_eq!(first.header("x-rate-limit-remaining"), Some("2"));
    assert!(
        first.header("ratelimit-limit").is_none(),
        "only ticketing endpoints carry ratelimit-*"
    );
    let second = call(&app, Method::GET, "/api/v2/tickets", None).await;
    assert_eq!(second.header("ratelimit-limit"), Some("3"));
    assert_eq!(second.header("ratelimit-remaining"), Some("1"));
    let reset: u64 = second.header("ratelimit-reset").unwrap().parse().unwrap();
    assert!((1..=60).contains(&reset));
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::OK
    );
    let limited = call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(
        serde_json::from_str::<serde_json::Value>(&limited.text).is_err(),
        "429 body is not JSON"
    );
    assert_eq!(limited.header("x-rate-limit-remaining"), Some("0"));
    assert_eq!(state.responses_with_status(429), 1);
    state.advance_clock(Duration::from_secs(retry));
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups", None).await.status,
        StatusCode::OK
    );
}

/// Moves the sim clock to 500 ms before the next whole sim-minute.
fn advance_to_end_of_minute(state: &intake_zendesk_sim::SimState) {
    let into_minute = state.now().timestamp_millis().rem_euclid(60_000);
    let to_go = (59_500 - into_minute).rem_euclid(60_000);
    state.advance_clock(Duration::from_millis(u64::try_from(to_go).unwrap()));
}

/// On paused time: the sim clock moves only by `advance_clock`, so the
/// burst sits exactly 500 ms before the boundary however long it takes.
#[tokio::test(start_paused = true)]
async fn a_burst_at_the_end_of_a_minute_still_counts_just_after_the_boundary() {
    let (app, state) = sim_with(SimConfig {
        requests_per_minute: Some(5),
        ..SimConfig::default()
    });
    advance_to_end_of_minute(&state);
    for _ in 0..5 {
        assert_eq!(
            call(&app, Method::GET, "/api/v2/groups", None).await.status,
            StatusCode::OK
        );
    }
    // a calendar-minute window would start afresh here and let this through
    state.advance_clock(Duration::from_secs(1));
    let limited = call(&app, Method::GET, "/api/v2/tickets", None).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((58..=59).contains(&retry), "retry after {retry}");
    assert_eq!(
        limited.header("ratelimit-reset"),
        Some(retry.to_string().as_str())
    );
    assert_eq!(state.stats()["rate_limit"]["used"], 5);
    // once the burst leaves the window, the quota is back
    state.advance_clock(Duration::from_secs(retry));
    let ok = call(&app, Method::GET, "/api/v2/groups", None).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(ok.header("x-rate-limit-remaining"), Some("4"));
}

#[tokio::test]
async fn every_response_has_a_request_id_and_admin_is_not_limited() {
    let (app, _) = sim_with(SimConfig {
        requests_per_minute: Some(1),
        ..SimConfig::default()
    });
    let a = call(&app, Method::GET, "/api/v2/groups", None).await;
    let b = send(&app, Method::GET, "/api/v2/groups", None, &[]).await;
    let c = call(&app, Method::GET, "/admin/stats", None).await;
    let d = call(&app, Method::GET, "/admin/stats", None).await;
    assert_eq!(d.status, StatusCode::OK);
    let ids: Vec<&str> = [&a, &b, &c]
        .iter()
        .map(|r| r.header("x-zendesk-request-id").unwrap())
        .collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    assert_ne!(ids[0], ids[1]);
}

#[tokio::test]
async fn json_suffix_is_accepted_everywhere() {
    let (app, _) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "x"}})).await;
    assert_eq!(
        call(
            &app,
            Method::GET,
            format!("/api/v2/tickets/{id}.json"),
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, Method::GET, "/api/v2/groups.json", None)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v2/search.json?query=type:ticket",
            None
        )
        .await
        .status,
        StatusCode::OK
    );
}
