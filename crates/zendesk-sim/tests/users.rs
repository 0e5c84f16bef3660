//! Deleting and merging users, and what a deleted or merged-away user can no
//! longer be (found by e-mail or external id, a requester, a comment author).
mod common;

use axum::http::{Method, StatusCode};
use common::{call, create_ticket, sim, sim_with};
use intake_zendesk_sim::{SimConfig, UserCreateLimits};
use serde_json::{Value, json};

async fn create_or_update(app: &axum::Router, user: Value) -> (StatusCode, u64) {
    let reply = call(
        app,
        Method::POST,
        "/api/v2/users/create_or_update",
        Some(json!({ "user": user })),
    )
    .await;
    (reply.status, reply.json()["user"]["id"].as_u64().unwrap())
}

#[tokio::test]
async fn a_deleted_user_is_inactive_and_its_email_makes_a_new_user() {
    let (app, state) = sim();
    let (status, old) = create_or_update(
        &app,
        json!({"name": "Ann", "email": "ann@x.test", "external_id": "chat:ann"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let reply = call(
        &app,
        Method::DELETE,
        format!("/api/v2/users/{old}.json"),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let deleted = reply.json();
    assert_eq!(deleted["user"]["id"], old);
    assert_eq!(deleted["user"]["active"], false);
    assert_eq!(deleted["user"]["permanently_deleted"], false);

    let again = call(&app, Method::DELETE, format!("/api/v2/users/{old}"), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let show = call(&app, Method::GET, format!("/api/v2/users/{old}"), None).await;
    assert_eq!(show.status, StatusCode::NOT_FOUND);

    // The identities are free again: the same e-mail or external id is a new user.
    let (status, fresh) =
        create_or_update(&app, json!({"name": "Ann", "email": "ANN@x.test"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(fresh, old);
    let (status, by_external) =
        create_or_update(&app, json!({"name": "Ann", "external_id": "chat:ann"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(by_external, old);
    let found = call(
        &app,
        Method::GET,
        "/api/v2/users/search?query=ann@x.test",
        None,
    )
    .await;
    let ids: Vec<u64> = found.json()["users"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [fresh], "search leaves out the deleted user");
    assert!(
        state
            .users()
            .iter()
            .any(|u| u["id"] == old && u["active"] == false)
    );
}

#[tokio::test]
async fn a_deleted_user_is_neither_requester_nor_author() {
    let (app, state) = sim();
    let (_, user) = create_or_update(&app, json!({"name": "Bo", "email": "bo@x.test"})).await;
    let ticket = create_ticket(
        &app,
        json!({"comment": {"body": "hi", "author_id": user}, "requester_id": user}),
    )
    .await;
    // A requester of a ticket that is not closed cannot be deleted.
    let refused = call(&app, Method::DELETE, format!("/api/v2/users/{user}"), None).await;
    assert_eq!(
        refused.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        refused.text
    );
    assert!(state.set_ticket_status(ticket, "closed"));
    state.delete_user(user).unwrap();

    let create = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "again"}, "requester_id": user}})),
    )
    .await;
    assert_eq!(create.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        create.json()["details"]["requester"][0]["description"],
        "Requester: is invalid"
    );
    let open = create_ticket(&app, json!({"comment": {"body": "agent's"}})).await;
    let comment = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{open}"),
        Some(json!({"ticket": {"comment": {"body": "x", "author_id": user}}})),
    )
    .await;
    assert_eq!(comment.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        comment.json()["details"]["author_id"].is_array(),
        "{}",
        comment.text
    );
    assert_eq!(state.tickets()[1]["comments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn a_merge_moves_tickets_and_emails_and_deletes_the_merged_user() {
    let (app, state) = sim();
    let (_, from) = create_or_update(
        &app,
        json!({"name": "Dup", "email": "dup@x.test", "external_id": "chat:dup"}),
    )
    .await;
    let (_, into) = create_or_update(&app, json!({"name": "Main", "email": "main@x.test"})).await;
    let ticket = create_ticket(
        &app,
        json!({"comment": {"body": "mine"}, "requester_id": from}),
    )
    .await;

    let reply = call(
        &app,
        Method::PUT,
        format!("/api/v2/users/{from}/merge.json"),
        Some(json!({"user": {"id": into}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json()["user"]["id"], into);

    let moved = call(&app, Method::GET, format!("/api/v2/tickets/{ticket}"), None).await;
    assert_eq!(moved.json()["ticket"]["requester_id"], into);
    let audits = call(
        &app,
        Method::GET,
        format!("/api/v2/tickets/{ticket}/audits"),
        None,
    )
    .await;
    let last = audits.json()["audits"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["events"][0]["field_name"], "requester_id");
    // The e-mail identity went along; the external id did not.
    let (status, by_email) = create_or_update(&app, json!({"email": "dup@x.test"})).await;
    assert_eq!((status, by_email), (StatusCode::OK, into));
    let identities = call(
        &app,
        Method::GET,
        format!("/api/v2/users/{into}/identities"),
        None,
    )
    .await;
    let identities = identities.json();
    let mut values: Vec<&str> = identities["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["value"].as_str().unwrap())
        .collect();
    values.sort_unstable();
    assert_eq!(values, ["dup@x.test", "main@x.test"]);
    let (status, by_external) =
        create_or_update(&app, json!({"name": "Dup", "external_id": "chat:dup"})).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(by_external, from);
    let gone = call(&app, Method::GET, format!("/api/v2/users/{from}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Agents cannot be merged; unknown users are 404.
    let agent = state.agent_id();
    let refused = call(
        &app,
        Method::PUT,
        format!("/api/v2/users/{into}/merge"),
        Some(json!({"user": {"id": agent}})),
    )
    .await;
    assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = call(
        &app,
        Method::PUT,
        format!("/api/v2/users/{from}/merge"),
        Some(json!({"user": {"id": into}})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The user-creation limit (one a second) counts a request when it arrives,
/// as the account limit does: a client that spaces its creations 1.5 s
/// apart is never refused because one answer took longer than the next
/// (delays drawn from the seeded generator, 0–1.4 s). Checked: counted
/// after the delay instead (when the handler runs), this run is refused.
#[tokio::test]
async fn creations_spaced_over_a_second_apart_are_counted_at_arrival() {
    let (app, _state) = sim_with(SimConfig {
        user_create_limits: Some(UserCreateLimits::default()),
        response_delay: Some((
            std::time::Duration::ZERO,
            std::time::Duration::from_millis(1400),
        )),
        ..SimConfig::default()
    });
    let started = tokio::time::Instant::now();
    let mut sends = Vec::new();
    for i in 0..8u32 {
        tokio::time::sleep_until(started + std::time::Duration::from_millis(1500) * i).await;
        let app = app.clone();
        sends.push(tokio::spawn(async move {
            call(
                &app,
                Method::POST,
                "/api/v2/users/create_or_update",
                Some(json!({"user": {"name": "Visitor", "external_id": format!("chat:v{i}")}})),
            )
            .await
            .status
        }));
    }
    for send in sends {
        assert_eq!(send.await.unwrap(), StatusCode::CREATED);
    }
}
