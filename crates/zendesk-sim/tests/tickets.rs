mod common;

use axum::http::{Method, StatusCode};
use common::{call, create_ticket, sim};
use serde_json::json;

#[tokio::test]
async fn create_returns_201_location_audit_and_api_channel() {
    let (app, state) = sim();
    let reply = call(
        &app,
        Method::POST,
        "/api/v2/tickets.json",
        Some(json!({"ticket": {"subject": "Printer", "comment": {"body": "It jams"}, "priority": "high", "tags": ["Chat", "vip"]}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    let id = body["ticket"]["id"].as_u64().unwrap();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("https://intake-sim.zendesk.com/api/v2/tickets/{id}.json")
    );
    assert_eq!(body["ticket"]["via"]["channel"], "api");
    assert_eq!(body["ticket"]["status"], "new");
    assert_eq!(body["ticket"]["priority"], "high");
    assert_eq!(body["ticket"]["tags"], json!(["chat", "vip"]));
    assert_eq!(body["ticket"]["description"], "It jams");
    let events = body["audit"]["events"].as_array().unwrap();
    assert_eq!(events[0]["type"], "Comment");
    assert_eq!(events[0]["body"], "It jams");
    assert_eq!(state.tickets().len(), 1);
    assert_eq!(state.tickets()[0]["comments"][0]["body"], "It jams");
}

#[tokio::test]
async fn status_is_open_with_assignee_unless_given() {
    let (app, state) = sim();
    let agent = state.agent_id();
    let a = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "assignee_id": agent}),
    )
    .await;
    let b = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "assignee_id": agent, "status": "pending"}),
    )
    .await;
    let show = |id: u64| call(&app, Method::GET, format!("/api/v2/tickets/{id}"), None);
    assert_eq!(show(a).await.json()["ticket"]["status"], "open");
    assert_eq!(show(b).await.json()["ticket"]["status"], "pending");
}

#[tokio::test]
async fn requester_object_creates_end_user_and_requester_id_wins() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "x"}, "requester": {"name": "Jane", "email": "Jane@Example.com"}})).await;
    let ticket = call(&app, Method::GET, &format!("/api/v2/tickets/{id}"), None)
        .await
        .json();
    let requester = ticket["ticket"]["requester_id"].as_u64().unwrap();
    let user = call(
        &app,
        Method::GET,
        &format!("/api/v2/users/{requester}"),
        None,
    )
    .await
    .json();
    assert_eq!(user["user"]["role"], "end-user");
    assert_eq!(user["user"]["email"], "Jane@Example.com");
    // same e-mail in another case: same user, no duplicate
    let again = create_ticket(
        &app,
        json!({"comment": {"body": "y"}, "requester": {"email": "jane@example.com"}}),
    )
    .await;
    let again = call(&app, Method::GET, &format!("/api/v2/tickets/{again}"), None)
        .await
        .json();
    assert_eq!(again["ticket"]["requester_id"].as_u64(), Some(requester));
    // An existing user is used as it is: another name changes nothing on it.
    let renamed = create_ticket(
        &app,
        json!({"comment": {"body": "w"}, "requester": {"name": "Someone Else", "email": "JANE@example.com"}}),
    )
    .await;
    let renamed = call(
        &app,
        Method::GET,
        &format!("/api/v2/tickets/{renamed}"),
        None,
    )
    .await
    .json();
    assert_eq!(renamed["ticket"]["requester_id"].as_u64(), Some(requester));
    let user = call(
        &app,
        Method::GET,
        &format!("/api/v2/users/{requester}"),
        None,
    )
    .await
    .json();
    assert_eq!(user["user"]["name"], "Jane");
    // A new user needs a name.
    let nameless = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "v"}, "requester": {"email": "new@example.com"}}})),
    )
    .await;
    assert_eq!(nameless.status, 422);
    assert!(
        state
            .users()
            .iter()
            .all(|u| u["email"] != "new@example.com")
    );
    // requester_id wins over requester
    let agent = state.agent_id();
    let third = create_ticket(&app, json!({"comment": {"body": "z"}, "requester_id": agent, "requester": {"email": "other@example.com"}})).await;
    let third = call(&app, Method::GET, &format!("/api/v2/tickets/{third}"), None)
        .await
        .json();
    assert_eq!(third["ticket"]["requester_id"].as_u64(), Some(agent));
    assert!(
        state
            .users()
            .iter()
            .all(|u| u["email"] != "other@example.com")
    );
}

#[tokio::test]
async fn missing_wrapper_is_400_and_missing_comment_is_422() {
    let (app, _) = sim();
    let reply = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"subject": "no wrapper"})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": "ParameterMissing", "description": "Parameter ticket is required"})
    );
    let reply = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"subject": "s"}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.json()["error"], "RecordInvalid");
    assert!(reply.json()["details"]["description"].is_array());
    let reply = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "x"}, "priority": "asap"}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn update_adds_comment_and_changes_fields() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "first"}})).await;
    let agent = state.agent_id();
    let group = state.default_group_id();
    let reply = call(
        &app,
        Method::PUT,
        &format!("/api/v2/tickets/{id}.json"),
        Some(json!({"ticket": {"comment": {"body": "note", "public": false}, "status": "pending", "tags": ["a"], "priority": "low", "assignee_id": agent, "group_id": group}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let body = reply.json();
    assert_eq!(body["ticket"]["status"], "pending");
    assert_eq!(body["ticket"]["tags"], json!(["a"]));
    assert_eq!(body["ticket"]["priority"], "low");
    assert_eq!(body["ticket"]["assignee_id"].as_u64(), Some(agent));
    assert_eq!(body["ticket"]["group_id"].as_u64(), Some(group));
    assert_eq!(body["audit"]["events"][0]["public"], false);
    let comments = &state.tickets()[0]["comments"];
    assert_eq!(comments.as_array().unwrap().len(), 2);
    assert_eq!(comments[1]["body"], "note");
    assert_eq!(comments[1]["public"], false);
}

#[tokio::test]
async fn unknown_ticket_is_404() {
    let (app, _) = sim();
    for method in [Method::GET, Method::PUT] {
        let body = (method == Method::PUT).then(|| json!({"ticket": {"status": "open"}}));
        let reply = call(&app, method, "/api/v2/tickets/999", body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(
            reply.json(),
            json!({"error": "RecordNotFound", "description": "Not found"})
        );
    }
}

#[tokio::test]
async fn closed_ticket_rejects_update_with_exact_body() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"comment": {"body": "x"}})).await;
    let close = call(
        &app,
        Method::POST,
        &format!("/admin/tickets/{id}/close"),
        None,
    )
    .await;
    assert_eq!(close.status, StatusCode::OK);
    let reply = call(
        &app,
        Method::PUT,
        &format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "late"}}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.json(),
        json!({"error":"RecordInvalid","description":"Record validation errors","details":{"status":[{"description":"Status: closed prevents ticket update"}]}})
    );
    assert_eq!(state.tickets()[0]["comments"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn followup_only_from_closed_source_and_inherits_tags() {
    let (app, state) = sim();
    let source = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "tags": ["billing", "vip"]}),
    )
    .await;
    let early = call(
        &app,
        Method::POST,
        "/api/v2/tickets",
        Some(json!({"ticket": {"comment": {"body": "y"}, "via_followup_source_id": source}})),
    )
    .await;
    assert_eq!(early.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(state.set_ticket_status(source, "closed"));
    let follow = create_ticket(
        &app,
        json!({"comment": {"body": "y"}, "via_followup_source_id": source}),
    )
    .await;
    let follow = call(
        &app,
        Method::GET,
        &format!("/api/v2/tickets/{follow}"),
        None,
    )
    .await
    .json();
    assert_eq!(follow["ticket"]["tags"], json!(["billing", "vip"]));
    assert_eq!(follow["ticket"]["via"]["source"]["rel"], "follow_up");
    let own = create_ticket(
        &app,
        json!({"comment": {"body": "z"}, "via_followup_source_id": source, "tags": ["new"]}),
    )
    .await;
    let own = call(&app, Method::GET, &format!("/api/v2/tickets/{own}"), None)
        .await
        .json();
    assert_eq!(own["ticket"]["tags"], json!(["new"]));
    let src = call(
        &app,
        Method::GET,
        &format!("/api/v2/tickets/{source}"),
        None,
    )
    .await
    .json();
    assert_eq!(src["ticket"]["followup_ids"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn show_many_and_external_id_lookup() {
    let (app, _) = sim();
    let a = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "external_id": "ev-1"}),
    )
    .await;
    let b = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "external_id": "ev-1"}),
    )
    .await;
    let c = create_ticket(
        &app,
        json!({"comment": {"body": "x"}, "external_id": "ev-2"}),
    )
    .await;
    let many = call(
        &app,
        Method::GET,
        &format!("/api/v2/tickets/show_many.json?ids={a},{c},4242"),
        None,
    )
    .await
    .json();
    let ids: Vec<u64> = many["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, c]);
    let by_ext = call(&app, Method::GET, "/api/v2/tickets?external_id=ev-1", None)
        .await
        .json();
    let ids: Vec<u64> = by_ext["tickets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, vec![a, b]);
    let too_many: Vec<String> = (1..=101).map(|i| i.to_string()).collect();
    let reply = call(
        &app,
        Method::GET,
        &format!("/api/v2/tickets/show_many?ids={}", too_many.join(",")),
        None,
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn per_ticket_update_limit_then_recovers_after_ten_sim_minutes() {
    let (app2, state) = intake_zendesk_sim::Simulator::app(intake_zendesk_sim::SimConfig {
        ticket_updates_per_10_min: 3,
        requests_per_minute: None,
        ..Default::default()
    });
    let id = create_ticket(&app2, json!({"comment": {"body": "x"}})).await;
    let update = || {
        call(
            &app2,
            Method::PUT,
            format!("/api/v2/tickets/{id}"),
            Some(json!({"ticket": {"comment": {"body": "more"}}})),
        )
    };
    for _ in 0..3 {
        assert_eq!(update().await.status, StatusCode::OK);
    }
    let limited = update().await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&retry), "{retry}");
    state.advance_clock(std::time::Duration::from_secs(601));
    assert_eq!(update().await.status, StatusCode::OK);
}

#[tokio::test]
async fn comment_limit_is_5000() {
    let (app, state) = intake_zendesk_sim::Simulator::app(intake_zendesk_sim::SimConfig {
        ticket_updates_per_10_min: 10_000,
        requests_per_minute: None,
        ..Default::default()
    });
    let id = create_ticket(&app, json!({"comment": {"body": "1"}})).await;
    for n in 2..=5000 {
        let reply = call(
            &app,
            Method::PUT,
            &format!("/api/v2/tickets/{id}"),
            Some(json!({"ticket": {"comment": {"body": n.to_string()}}})),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "comment {n}");
    }
    let reply = call(
        &app,
        Method::PUT,
        &format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"comment": {"body": "5001"}}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    // a field change without a comment is still allowed
    let reply = call(
        &app,
        Method::PUT,
        &format!("/api/v2/tickets/{id}"),
        Some(json!({"ticket": {"status": "open"}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        state.tickets()[0]["comments"].as_array().unwrap().len(),
        5000
    );
}

/// `safe_update` (issue 13 point 5): an update carrying the ticket's
/// current `updated_at` as `updated_stamp` is applied; the same update
/// again, now stale, is refused with 409 `UpdateConflict` and changes
/// nothing; without `safe_update` the stamp is ignored.
#[tokio::test]
async fn a_safe_update_applies_only_while_its_stamp_is_current() {
    let (app, state) = sim();
    let id = create_ticket(&app, json!({"subject": "s", "comment": {"body": "first"}})).await;
    let show = call(&app, Method::GET, format!("/api/v2/tickets/{id}"), None).await;
    let stamp = show.json()["ticket"]["updated_at"]
        .as_str()
        .unwrap()
        .to_owned();
    // The next update lands in a later second, so `updated_at` moves on.
    state.advance_clock(std::time::Duration::from_secs(2));
    let update = json!({"ticket": {"comment": {"body": "once"}, "safe_update": true, "updated_stamp": stamp}});
    let applied = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(update.clone()),
    )
    .await;
    assert_eq!(applied.status, StatusCode::OK);
    assert_ne!(applied.json()["ticket"]["updated_at"], stamp.as_str());

    let again = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(update),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let body = again.json();
    assert_eq!(body["error"], "UpdateConflict");
    assert_eq!(
        body["description"],
        intake_zendesk_sim::SAFE_UPDATE_CONFLICT_DESCRIPTION
    );
    let comments = state.tickets()[0]["comments"].as_array().unwrap().len();
    assert_eq!(comments, 2, "the stale update added nothing");

    let plain = json!({"ticket": {"comment": {"body": "plain"}, "updated_stamp": stamp}});
    let plain = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(plain),
    )
    .await;
    assert_eq!(plain.status, StatusCode::OK, "a stamp alone does not guard");
    let missing = json!({"ticket": {"comment": {"body": "no stamp"}, "safe_update": true}});
    let missing = call(
        &app,
        Method::PUT,
        format!("/api/v2/tickets/{id}"),
        Some(missing),
    )
    .await;
    assert_eq!(missing.status, StatusCode::CONFLICT);
}
