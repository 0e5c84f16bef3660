//! `GET /api/v2/tickets/{id}/audits`: stored audits, their custom metadata,
//! the `Comment` event, offset and cursor pagination.
mod common;

use axum::http::{Method, StatusCode};
use common::{call, create_ticket, sim};
use serde_json::{Value, json};

async fn update(app: &axum::Router, id: u64, ticket: Value) -> Value {
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

async fn get(app: &axum::Router, path: String) -> Value {
    let reply = call(app, Method::GET, path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    reply.json()
}

fn ids(page: &Value) -> Vec<u64> {
    page["audits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_u64().unwrap())
        .collect()
}

/// A ticket with `n` audits: the creation and `n - 1` comment updates.
async fn ticket_with_audits(app: &axum::Router, n: usize) -> (u64, Vec<u64>) {
    let id = create_ticket(app, json!({"comment": {"body": "c0"}})).await;
    let mut audit_ids = Vec::new();
    for i in 1..n {
        let body = format!("c{i}");
        let answer = update(app, id, json!({"comment": {"body": body}})).await;
        audit_ids.push(answer["audit"]["id"].as_u64().unwrap());
    }
    let all = get(app, format!("/api/v2/tickets/{id}/audits")).await;
    let mut expected = vec![ids(&all)[0]];
    expected.extend(audit_ids);
    (id, expected)
}

#[tokio::test]
async fn audits_keep_custom_metadata_and_the_comment_event() {
    let (app, _) = sim();
    let id = create_ticket(
        &app,
        json!({"comment": {"body": "first"}, "metadata": {"source": "test"}}),
    )
    .await;
    let metadata = json!({"intake_event_id": "ev-2", "nested": {"n": [1, 2]}});
    let answer = update(
        &app,
        id,
        json!({"comment": {"body": "second", "public": false}, "metadata": metadata}),
    )
    .await;
    update(&app, id, json!({"status": "pending"})).await;

    let page = get(&app, format!("/api/v2/tickets/{id}/audits.json")).await;
    let audits = page["audits"].as_array().unwrap();
    assert_eq!(audits.len(), 3);
    assert_eq!(page["count"], 3);
    assert_eq!(page["next_page"], Value::Null);
    assert_eq!(audits[0]["metadata"]["custom"], json!({"source": "test"}));
    assert_eq!(audits[1]["metadata"]["custom"], metadata);
    assert_eq!(audits[2]["metadata"]["custom"], json!({}));
    assert_eq!(
        audits[1], answer["audit"],
        "listed audit = the update's audit"
    );
    assert_eq!(audits[1]["ticket_id"], id);

    let comment = &audits[1]["events"][0];
    assert_eq!(comment["type"], "Comment");
    assert_eq!(comment["body"], "second");
    assert_eq!(comment["public"], false);
    let comments = get(&app, format!("/api/v2/tickets/{id}/comments")).await;
    assert_eq!(comment["id"], comments["comments"][1]["id"]);
    assert_eq!(comment["author_id"], comments["comments"][1]["author_id"]);
    let kinds: Vec<&str> = audits[2]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Change"], "no comment, one status change");
}

#[tokio::test]
async fn audits_of_an_unknown_ticket_are_not_found() {
    let (app, _) = sim();
    let reply = call(
        &app,
        Method::GET,
        "/api/v2/tickets/999999/audits".to_owned(),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json()["error"], "RecordNotFound");
}

#[tokio::test]
async fn offset_pages_are_oldest_first() {
    let (app, _) = sim();
    let (id, expected) = ticket_with_audits(&app, 5).await;
    let first = get(&app, format!("/api/v2/tickets/{id}/audits?per_page=2")).await;
    assert_eq!(ids(&first), expected[..2]);
    assert_eq!(first["count"], 5);
    assert_eq!(first["previous_page"], Value::Null);
    let next = first["next_page"].as_str().unwrap();
    assert!(next.ends_with(&format!(
        "/api/v2/tickets/{id}/audits.json?page=2&per_page=2"
    )));
    let last = get(
        &app,
        format!("/api/v2/tickets/{id}/audits?per_page=2&page=3"),
    )
    .await;
    assert_eq!(ids(&last), expected[4..]);
    assert_eq!(last["next_page"], Value::Null);
    assert!(last["previous_page"].as_str().unwrap().contains("page=2"));
}

#[tokio::test]
async fn cursor_pages_walk_forward_and_back() {
    let (app, _) = sim();
    let (id, expected) = ticket_with_audits(&app, 5).await;
    let base = format!("/api/v2/tickets/{id}/audits");
    let first = get(&app, format!("{base}?page[size]=2")).await;
    assert_eq!(ids(&first), expected[..2]);
    assert_eq!(first["meta"]["has_more"], true);
    assert!(first.get("count").is_none(), "cursor pages carry no count");
    let after = first["meta"]["after_cursor"].as_str().unwrap();
    let second = get(&app, format!("{base}?page[size]=2&page[after]={after}")).await;
    assert_eq!(ids(&second), expected[2..4]);
    let after = second["meta"]["after_cursor"].as_str().unwrap();
    let third = get(
        &app,
        format!("{base}?page%5Bsize%5D=2&page%5Bafter%5D={after}"),
    )
    .await;
    assert_eq!(ids(&third), expected[4..]);
    assert_eq!(third["meta"]["has_more"], false);

    let before = third["meta"]["before_cursor"].as_str().unwrap();
    let back = get(&app, format!("{base}?page[size]=3&page[before]={before}")).await;
    assert_eq!(ids(&back), expected[1..4]);
    assert_eq!(back["meta"]["has_more"], true, "one audit is older still");
    let next = second["links"]["next"].as_str().unwrap();
    assert!(next.contains("page%5Bafter%5D="), "{next}");
}

#[tokio::test]
async fn bad_cursors_are_refused() {
    let (app, _) = sim();
    let (id, _) = ticket_with_audits(&app, 2).await;
    let base = format!("/api/v2/tickets/{id}/audits?page[size]=1");
    for query in [
        "&page[after]=nonsense",
        "&page[after]=aud1&page[before]=aud1",
    ] {
        let reply = call(&app, Method::GET, format!("{base}{query}"), None).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(reply.json()["error"], "InvalidPaginationParameter");
    }
}
