//! `GET /api/v2/tickets/{id}/comments` and audit `metadata.custom`.
mod common;

use axum::http::{Method, StatusCode};
use common::{call, create_ticket, sim, sim_with};
use intake_zendesk_sim::SimConfig;
use serde_json::{Value, json};

async fn comment(app: &axum::Router, id: u64, body: &str, metadata: Option<Value>) -> Value {
    let mut ticket = json!({"comment": {"body": body}});
    if let Some(metadata) = metadata {
        ticket["metadata"] = metadata;
    }
    let reply = call(
        app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({ "ticket": ticket })),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

fn bodies(page: &Value) -> Vec<String> {
    page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn update_metadata_is_kept_as_custom_on_the_audit_and_the_comment() {
    let (app, _) = sim();
    let id = create_ticket(
        &app,
        json!({"comment": {"body": "first"}, "metadata": {"source": "test"}}),
    )
    .await;
    let updated = comment(&app, id, "second", Some(json!({"intake_event_id": "ev-2"}))).await;
    assert_eq!(
        updated["audit"]["metadata"]["custom"],
        json!({"intake_event_id": "ev-2"})
    );
    assert_eq!(
        updated["audit"]["metadata"]["system"]["client"],
        "intake-zendesk-sim"
    );
    comment(&app, id, "third", None).await;

    let reply = call(
        &app,
        Method::GET,
        format!("/api/v2/tickets/{id}/comments"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let page = reply.json();
    assert_eq!(bodies(&page), ["first", "second", "third"]);
    let custom: Vec<Value> = page["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["metadata"]["custom"].clone())
        .collect();
    assert_eq!(
        custom,
        [
            json!({"source": "test"}),
            json!({"intake_event_id": "ev-2"}),
            json!({})
        ]
    );
    let audit_id = updated["audit"]["id"].as_u64().unwrap();
    assert_eq!(page["comments"][1]["audit_id"], audit_id);
}

#[tokio::test]
async fn metadata_that_is_not_an_object_is_422_and_adds_no_comment() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "first"}})).await;
    let reply = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "x"}, "metadata": "nope"}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json()["error"], "RecordInvalid");
    assert_eq!(state.tickets()[0]["comments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn newest_first_with_pages_and_links() {
    let (app, _) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "c0"}})).await;
    for n in 1..5 {
        comment(&app, id, &format!("c{n}"), None).await;
    }
    let path = format!("/api/v2/tickets/{id}/comments.json?sort_order=desc&per_page=2");
    let first = call(&app, Method::GET, path, None).await.json();
    assert_eq!(bodies(&first), ["c4", "c3"]);
    assert_eq!(first["count"], 5);
    assert_eq!(first["previous_page"], Value::Null);
    let next = first["next_page"].as_str().unwrap();
    assert!(
        next.ends_with(&format!(
            "/api/v2/tickets/{id}/comments.json?page=2&per_page=2&sort_order=desc"
        )),
        "{next}"
    );
    let path = format!("/api/v2/tickets/{id}/comments?sort_order=desc&per_page=2&page=3");
    let last = call(&app, Method::GET, path, None).await.json();
    assert_eq!(bodies(&last), ["c0"]);
    assert_eq!(last["next_page"], Value::Null);
    assert!(last["previous_page"].as_str().unwrap().contains("page=2"));

    let asc = format!("/api/v2/tickets/{id}/comments?sort_order=asc&per_page=3");
    assert_eq!(
        bodies(&call(&app, Method::GET, asc, None).await.json()),
        ["c0", "c1", "c2"]
    );
}

#[tokio::test]
async fn per_page_is_capped_at_100() {
    let (app, _) = sim_with(SimConfig {
        requests_per_minute: None,
        ticket_updates_per_10_min: 1000,
        ..SimConfig::default()
    });
    let id = create_ticket(&app, json!({"comment": {"body": "c0"}})).await;
    for n in 1..=100 {
        comment(&app, id, &format!("c{n}"), None).await;
    }
    let path = format!("/api/v2/tickets/{id}/comments?per_page=500");
    let page = call(&app, Method::GET, path, None).await.json();
    assert_eq!(page["comments"].as_array().unwrap().len(), 100);
    assert_eq!(page["count"], 101);
    assert!(page["next_page"].as_str().unwrap().contains("page=2"));
}

#[tokio::test]
async fn unknown_ticket_is_404_and_a_bad_sort_order_is_422() {
    let (app, _) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "c0"}})).await;
    let missing = call(&app, Method::GET, "/api/v2/tickets/999/comments.json", None).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"], "RecordNotFound");
    let bad = format!("/api/v2/tickets/{id}/comments?sort_order=sideways");
    let bad = call(&app, Method::GET, bad, None).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}
