//! Search (with index lag), users, identities, uploads, groups and availability.
mod common;

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::{AGENT, TOKEN, basic, call, create_ticket, sim, sim_with};
use intake_zendesk_sim::{DEFAULT_MAX_UPLOAD_BYTES, SimConfig};
use serde_json::{Value, json};
use tower::ServiceExt;

fn ids(body: &Value, key: &str) -> Vec<u64> {
    body[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn search_respects_index_lag_on_the_sim_clock() {
    let (app, state) = sim_with(SimConfig {
        search_lag: Duration::from_secs(60),
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let id = create_ticket(
        &app,
        json!({"comment": {"body": "fresh"}, "requester": {"name": "J", "email": "j@x.test"}}),
    )
    .await;
    let q = "/api/v2/search?query=type:ticket%20requester:j@x.test";
    assert_eq!(call(&app, Method::GET, q, None).await.json()["count"], 0);
    let users = call(
        &app,
        Method::GET,
        "/api/v2/users/search?query=j@x.test",
        None,
    )
    .await
    .json();
    assert_eq!(users["count"], 0, "users are also indexed with lag");
    state.advance_clock(Duration::from_secs(60));
    let found = call(&app, Method::GET, q, None).await.json();
    assert_eq!(ids(&found, "results"), vec![id]);
    assert_eq!(found["results"][0]["result_type"], "ticket");
    assert_eq!(
        call(
            &app,
            Method::GET,
            "/api/v2/users/search?query=j@x.test",
            None
        )
        .await
        .json()["count"],
        1
    );
}

#[tokio::test]
async fn search_filters_status_external_id_text_and_type() {
    let (app, state) = sim();
    let a = create_ticket(
        &app,
        json!({"subject": "Printer on fire", "comment": {"body": "help"}, "external_id": "ev-9"}),
    )
    .await;
    let b = create_ticket(
        &app,
        json!({"subject": "Other", "comment": {"body": "the printer again"}}),
    )
    .await;
    state.set_ticket_status(b, "solved");
    let get = |q: &str| call(&app, Method::GET, format!("/api/v2/search?query={q}"), None);
    assert_eq!(
        ids(
            &get("type:ticket%20status%3Csolved").await.json(),
            "results"
        ),
        vec![a]
    );
    assert_eq!(
        ids(
            &get("type:ticket%20status%3E%3Dsolved").await.json(),
            "results"
        ),
        vec![b]
    );
    assert_eq!(
        ids(&get("external_id:ev-9").await.json(), "results"),
        vec![a]
    );
    assert_eq!(
        ids(&get("type:ticket%20printer").await.json(), "results"),
        vec![a, b]
    );
    let users = get("type:user%20agent@intake-sim.test").await.json();
    assert_eq!(users["results"][0]["result_type"], "user");
}

#[tokio::test]
async fn search_pages_by_100_and_refuses_past_1000() {
    let (app, _) = sim();
    for n in 0..101 {
        create_ticket(&app, json!({"comment": {"body": format!("n{n}")}})).await;
    }
    let first = call(&app, Method::GET, "/api/v2/search?query=type:ticket", None)
        .await
        .json();
    assert_eq!(first["results"].as_array().unwrap().len(), 100);
    assert_eq!(first["count"], 101);
    assert!(first["next_page"].as_str().unwrap().contains("page=2"));
    let second = call(
        &app,
        Method::GET,
        "/api/v2/search?query=type:ticket&page=2",
        None,
    )
    .await
    .json();
    assert_eq!(second["results"].as_array().unwrap().len(), 1);
    assert!(second["next_page"].is_null());
    let past = call(
        &app,
        Method::GET,
        "/api/v2/search?query=type:ticket&page=11",
        None,
    )
    .await;
    assert_eq!(past.status, StatusCode::UNPROCESSABLE_ENTITY);
    let edge = call(
        &app,
        Method::GET,
        "/api/v2/search?query=type:ticket&page=10",
        None,
    )
    .await;
    assert_eq!(edge.status, StatusCode::OK);
}

#[tokio::test]
async fn create_or_update_user_201_then_200_case_insensitive_with_location() {
    let (app, _) = sim();
    let body = json!({"user": {"name": "Ann", "email": "Ann@X.test", "external_id": "Cust-1"}});
    let first = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(body),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED);
    let id = first.json()["user"]["id"].as_u64().unwrap();
    assert_eq!(
        first.header("location").unwrap(),
        format!("https://intake-sim.zendesk.com/api/v2/users/{id}.json")
    );
    let by_email = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(json!({"user": {"name": "Ann B", "email": "ann@x.TEST"}})),
    )
    .await;
    assert_eq!(by_email.status, StatusCode::OK);
    assert!(by_email.header("location").is_some());
    assert_eq!(by_email.json()["user"]["id"].as_u64(), Some(id));
    assert_eq!(by_email.json()["user"]["name"], "Ann B");
    let by_ext = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(json!({"user": {"name": "Ann", "external_id": "cust-1"}})),
    )
    .await;
    assert_eq!(by_ext.status, StatusCode::OK);
    assert_eq!(by_ext.json()["user"]["id"].as_u64(), Some(id));
    let no_name = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(json!({"user": {"email": "new@x.test"}})),
    )
    .await;
    assert_eq!(no_name.status, StatusCode::UNPROCESSABLE_ENTITY);
    let missing = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(json!({"name": "x"})),
    )
    .await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let search = call(
        &app,
        Method::GET,
        "/api/v2/users/search?external_id=Cust-1",
        None,
    )
    .await
    .json();
    assert_eq!(ids(&search, "users"), vec![id]);
    let identities = call(
        &app,
        Method::GET,
        format!("/api/v2/users/{id}/identities"),
        None,
    )
    .await
    .json();
    assert_eq!(identities["identities"][0]["type"], "email");
    assert_eq!(identities["identities"][0]["value"], "Ann@X.test");
    assert_eq!(
        call(&app, Method::GET, "/api/v2/users/1", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

async fn upload(app: &axum::Router, query: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v2/uploads?{query}"))
        .header("authorization", basic(AGENT, TOKEN))
        .header("content-type", "application/pdf")
        .body(Body::from(bytes))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn uploads_group_by_token_attach_and_expire() {
    let (app, state) = sim();
    let (status, first) = upload(&app, "filename=a.pdf", vec![1; 10]).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = first["upload"]["token"].as_str().unwrap().to_owned();
    assert_eq!(first["upload"]["attachment"]["file_name"], "a.pdf");
    assert_eq!(first["upload"]["attachment"]["size"], 10);
    let (status, second) = upload(&app, &format!("filename=b.pdf&token={token}"), vec![2; 3]).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(second["upload"]["attachments"].as_array().unwrap().len(), 2);
    let id = create_ticket(
        &app,
        json!({"comment": {"body": "files", "uploads": [token]}}),
    )
    .await;
    let comment = &state.tickets()[0]["comments"][0];
    let names: Vec<&str> = comment["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["file_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["a.pdf", "b.pdf"]);
    // a used token is gone
    let reuse = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "again", "uploads": [token]}}})),
    )
    .await;
    assert_eq!(reuse.status, StatusCode::UNPROCESSABLE_ENTITY);
    // expiry after 60 sim-minutes
    let (_, fresh) = upload(&app, "filename=c.pdf", vec![3]).await;
    let fresh_token = fresh["upload"]["token"].as_str().unwrap().to_owned();
    state.advance_clock(Duration::from_secs(3601));
    let (status, _) = upload(
        &app,
        &format!("filename=d.pdf&token={fresh_token}"),
        vec![4],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let late = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "late", "uploads": [fresh_token]}}})),
    )
    .await;
    assert_eq!(late.status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = upload(&app, "filename=e.pdf&token=unknown", vec![5]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = upload(&app, "", vec![5]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn upload_over_the_limit_is_413_attachment_too_large() {
    assert_eq!(DEFAULT_MAX_UPLOAD_BYTES, 50 * 1024 * 1024);
    let (app, _) = sim_with(SimConfig {
        max_upload_bytes: 1000,
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let (status, body) = upload(&app, "filename=big.bin", vec![0; 1001]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(body["error"], "AttachmentTooLarge");
    let (status, _) = upload(&app, "filename=ok.bin", vec![0; 1000]).await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn groups_memberships_and_agent_availability() {
    let (app, state) = sim();
    let groups = call(&app, Method::GET, "/api/v2/groups", None).await.json();
    let group = groups["groups"][0]["id"].as_u64().unwrap();
    let created = call(
        &app,
        Method::POST,
        "/admin/agents",
        Some(json!({"name": "Bob", "email": "bob@x.test"})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    let bob = created.json()["user"]["id"].as_u64().unwrap();
    let members = call(
        &app,
        Method::GET,
        format!("/api/v2/groups/{group}/memberships"),
        None,
    )
    .await
    .json();
    let users: Vec<u64> = members["group_memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].as_u64().unwrap())
        .collect();
    assert_eq!(users, vec![state.agent_id(), bob]);
    let mine = call(
        &app,
        Method::GET,
        format!("/api/v2/users/{bob}/group_memberships"),
        None,
    )
    .await
    .json();
    assert_eq!(
        mine["group_memberships"][0]["group_id"].as_u64(),
        Some(group)
    );
    assert_eq!(mine["group_memberships"][0]["default"], true);
    let show = call(
        &app,
        Method::GET,
        format!("/api/v2/agent_availabilities/{bob}"),
        None,
    )
    .await
    .json();
    assert_eq!(show["data"]["type"], "agent_availabilities");
    assert_eq!(show["data"]["attributes"]["agent_id"].as_u64(), Some(bob));
    assert_eq!(show["data"]["attributes"]["agent_status"]["name"], "online");
    let set = call(
        &app,
        Method::PUT,
        format!("/admin/agents/{bob}/availability"),
        Some(json!({"status": "away"})),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK);
    let show = call(
        &app,
        Method::GET,
        format!("/api/v2/agent_availabilities/{bob}"),
        None,
    )
    .await
    .json();
    assert_eq!(show["data"]["attributes"]["agent_status"]["name"], "away");
    let online = call(
        &app,
        Method::GET,
        "/api/v2/agent_availabilities?filter%5Bchannel_status%5D=messaging:online",
        None,
    )
    .await
    .json();
    let agents: Vec<u64> = online["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["attributes"]["agent_id"].as_u64().unwrap())
        .collect();
    assert_eq!(agents, vec![state.agent_id()]);
    assert_eq!(
        call(&app, Method::GET, "/api/v2/agent_availabilities/1", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let bad = call(
        &app,
        Method::PUT,
        format!("/admin/agents/{bob}/availability"),
        Some(json!({"status": "asleep"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn search_sees_an_update_only_search_lag_after_it() {
    let (app, state) = sim_with(SimConfig {
        search_lag: Duration::from_secs(30),
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let id = create_ticket(&app, json!({"comment": {"body": "lagging"}})).await;
    state.advance_clock(Duration::from_secs(30));
    let open = "/api/v2/search?query=type:ticket%20status%3Csolved";
    let solved = "/api/v2/search?query=type:ticket%20status:solved";
    assert_eq!(
        ids(&call(&app, Method::GET, open, None).await.json(), "results"),
        vec![id]
    );
    let updated = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"status": "solved"}})),
    )
    .await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(
        updated.json()["ticket"]["status"],
        "solved",
        "show is at once"
    );
    state.advance_clock(Duration::from_secs(29));
    let stale = call(&app, Method::GET, open, None).await.json();
    assert_eq!(ids(&stale, "results"), vec![id], "still indexed as it was");
    assert_eq!(stale["results"][0]["status"], "new");
    assert_eq!(
        call(&app, Method::GET, solved, None).await.json()["count"],
        0
    );
    state.advance_clock(Duration::from_secs(1));
    assert_eq!(call(&app, Method::GET, open, None).await.json()["count"], 0);
    let now_solved = call(&app, Method::GET, solved, None).await.json();
    assert_eq!(ids(&now_solved, "results"), vec![id]);
    assert_eq!(now_solved["results"][0]["status"], "solved");
}

#[tokio::test]
async fn user_updates_are_searchable_only_after_the_lag() {
    let (app, state) = sim_with(SimConfig {
        search_lag: Duration::from_secs(10),
        requests_per_minute: None,
        ..SimConfig::default()
    });
    let upsert = |name: &str| json!({"user": {"name": name, "email": "lag@x.test"}});
    let created = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(upsert("Old Name")),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED);
    state.advance_clock(Duration::from_secs(10));
    let renamed = call(
        &app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(upsert("New Name")),
    )
    .await;
    assert_eq!(renamed.status, StatusCode::OK);
    let search = |q: &'static str| call(&app, Method::GET, q, None);
    assert_eq!(
        search("/api/v2/users/search?query=old").await.json()["count"],
        1
    );
    assert_eq!(
        search("/api/v2/users/search?query=new").await.json()["count"],
        0
    );
    state.advance_clock(Duration::from_secs(10));
    assert_eq!(
        search("/api/v2/users/search?query=old").await.json()["count"],
        0
    );
    assert_eq!(
        search("/api/v2/users/search?query=new").await.json()["count"],
        1
    );
}
