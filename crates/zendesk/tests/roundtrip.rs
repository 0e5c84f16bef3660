//! Every call of the client against the simulator, and the permanent errors.

mod common;

use std::time::Duration;

use anyhow::Result;
use intake_zendesk::{
    Auth, Client, Comment, CustomField, NewTicket, Priority, Requester, Status, TicketType,
    TicketUpdate, UserInput,
};
use secrecy::SecretString;
use serde_json::json;

fn note(body: &str) -> Comment {
    Comment {
        body: Some(body.into()),
        public: true,
        ..Comment::default()
    }
}

#[tokio::test]
async fn every_call_round_trips() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let state = sim.handle.state();

    // Users: created once, then answered from the cache whatever the case of the address.
    let input = UserInput {
        name: Some("Alice Example".into()),
        email: Some("Alice@Example.com".into()),
        external_id: Some("tg:42".into()),
        ..UserInput::default()
    };
    let alice = client.create_or_update_user(&input).await?;
    assert!(
        alice
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("alice@example.com")),
        "{alice:?}"
    );
    let again = client
        .create_or_update_user(&UserInput {
            email: Some("ALICE@example.com".into()),
            ..UserInput::default()
        })
        .await?;
    assert_eq!(again.id, alice.id);
    let by_external = client
        .create_or_update_user(&UserInput {
            external_id: Some("TG:42".into()),
            ..UserInput::default()
        })
        .await?;
    assert_eq!(by_external.id, alice.id);
    assert_eq!(
        sim.requests_to("POST", "/api/v2/users/create_or_update")
            .await?
            .len(),
        1,
        "a cached user costs no further call"
    );
    // A clone shares the cache.
    let clone = client.clone();
    assert_eq!(clone.create_or_update_user(&input).await?.id, alice.id);
    assert_eq!(
        sim.requests_to("POST", "/api/v2/users/create_or_update")
            .await?
            .len(),
        1
    );

    let found = client.search_users("alice@example.com").await?;
    assert!(found.iter().any(|u| u.id == alice.id), "{found:?}");

    // Uploads, grouped by token.
    let upload = client
        .upload("note.txt", "text/plain", b"hello".to_vec(), None)
        .await?;
    assert!(!upload.token.is_empty());
    let second = client
        .upload(
            "more.txt",
            "text/plain",
            b"world".to_vec(),
            Some(&upload.token),
        )
        .await?;
    assert_eq!(second.token, upload.token);

    // Create with most fields.
    let group_id = state.default_group_id();
    let created = client
        .create_ticket(
            &NewTicket {
                subject: Some("Printer on fire".into()),
                comment: Comment {
                    uploads: vec![upload.token.clone()],
                    ..note("Smoke everywhere")
                },
                requester_id: Some(alice.id),
                priority: Some(Priority::Urgent),
                r#type: Some(TicketType::Incident),
                tags: vec!["channel_chat".into(), "vip".into()],
                external_id: Some("ev-1".into()),
                group_id: Some(group_id),
                custom_fields: vec![CustomField {
                    id: 77,
                    value: json!("x"),
                }],
                ..NewTicket::default()
            },
            Some("ev-1"),
        )
        .await?;
    assert!(!created.idempotency_hit);
    let ticket = created.ticket;
    assert_eq!(ticket.subject.as_deref(), Some("Printer on fire"));
    assert_eq!(ticket.status, Status::New);
    assert_eq!(ticket.priority, Some(Priority::Urgent));
    assert_eq!(ticket.r#type, Some(TicketType::Incident));
    assert_eq!(ticket.requester_id, Some(alice.id));
    assert_eq!(ticket.group_id, Some(group_id));
    assert_eq!(
        ticket.tags,
        vec!["channel_chat".to_owned(), "vip".to_owned()]
    );
    assert_eq!(ticket.via.as_ref().map(|v| v.channel.as_str()), Some("api"));
    assert!(ticket.created_at.is_some());

    // A requester object instead of an id creates the end user.
    let by_requester = client
        .create_ticket(
            &NewTicket {
                comment: note("from bob"),
                requester: Some(Requester {
                    name: Some("Bob".into()),
                    email: Some("bob@example.com".into()),
                    locale_id: None,
                }),
                ..NewTicket::default()
            },
            None,
        )
        .await?;
    assert_ne!(by_requester.ticket.requester_id, Some(alice.id));
    assert!(by_requester.ticket.requester_id.is_some());

    // Update: a comment and a status change.
    let updated = client
        .update_ticket(
            ticket.id,
            &TicketUpdate {
                comment: Some(Comment {
                    public: false,
                    ..note("internal: on it")
                }),
                status: Some(Status::Pending),
                ..TicketUpdate::default()
            },
        )
        .await?;
    assert_eq!(updated.status, Status::Pending);
    let stored = state
        .tickets()
        .into_iter()
        .find(|t| t["id"] == json!(ticket.id))
        .expect("ticket in the simulator");
    let comments = stored["comments"].as_array().expect("comments");
    assert_eq!(comments.len(), 2, "{stored}");
    assert_eq!(comments[0]["attachments"].as_array().map(Vec::len), Some(2));
    assert_eq!(comments[1]["body"], json!("internal: on it"));
    assert_eq!(comments[1]["public"], json!(false));

    // Look-ups.
    assert_eq!(client.show_ticket(ticket.id).await?.status, Status::Pending);
    let many = client
        .show_many(&[ticket.id, by_requester.ticket.id, 987_654])
        .await?;
    let mut ids: Vec<u64> = many.iter().map(|t| t.id).collect();
    ids.sort_unstable();
    assert_eq!(ids, vec![ticket.id, by_requester.ticket.id]);
    assert!(client.show_many(&[]).await?.is_empty());
    let by_external = client.tickets_by_external_id("ev-1").await?;
    assert_eq!(by_external.len(), 1);
    assert_eq!(by_external[0].id, ticket.id);
    assert!(client.tickets_by_external_id("nope").await?.is_empty());

    // Agents.
    let groups = client.groups().await?;
    assert!(groups.iter().any(|g| g.id == group_id), "{groups:?}");
    let agent = state.agent_id();
    let memberships = client.user_group_memberships(agent).await?;
    assert!(
        memberships
            .iter()
            .any(|m| m.group_id == group_id && m.user_id == agent && m.default),
        "{memberships:?}"
    );
    assert!(state.set_availability(agent, "away"));
    let availability = client.agent_availability(agent).await?;
    assert_eq!(availability.agent_id, agent);
    assert_eq!(availability.status, "away");

    // Every request carried the API token as Basic auth (the sim records only
    // the scheme; the client's own logs are checked in tests/logs.rs).
    for request in sim.requests().await? {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Basic"),
            "{request:?}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn oauth_bearer_is_accepted() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let mut options = sim.options(700, 1);
    options.auth = Auth::OAuth {
        token: SecretString::from("sim-oauth"),
    };
    let client = Client::new(options)?;
    let groups = client.groups().await?;
    assert!(!groups.is_empty());
    let requests = sim.requests().await?;
    assert_eq!(
        requests.last().and_then(|r| r.authorization.as_deref()),
        Some("Bearer")
    );
    Ok(())
}

#[tokio::test]
async fn idempotency_key_replays_then_expires() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let ticket = NewTicket {
        subject: Some("once".into()),
        comment: note("only once"),
        external_id: Some("ev-42".into()),
        ..NewTicket::default()
    };
    let first = client.create_ticket(&ticket, Some("key-42")).await?;
    let second = client.create_ticket(&ticket, Some("key-42")).await?;
    assert!(!first.idempotency_hit);
    assert!(second.idempotency_hit);
    assert_eq!(second.ticket.id, first.ticket.id);
    assert_eq!(sim.handle.state().tickets().len(), 1);

    let other_body = NewTicket {
        subject: Some("something else".into()),
        ..ticket.clone()
    };
    let error = client
        .create_ticket(&other_body, Some("key-42"))
        .await
        .expect_err("same key, other body");
    assert!(error.is_idempotency_mismatch(), "{error}");
    assert!(!error.is_retryable());
    assert_eq!(error.status(), Some(400));
    assert_eq!(
        sim.requests_to("POST", "/api/v2/tickets").await?.len(),
        3,
        "no retry of a permanent error"
    );

    sim.advance_clock_secs(2 * 3600 + 1).await?;
    let third = client.create_ticket(&ticket, Some("key-42")).await?;
    assert!(!third.idempotency_hit);
    assert_ne!(third.ticket.id, first.ticket.id);
    assert_eq!(sim.handle.state().tickets().len(), 2);
    Ok(())
}

#[tokio::test]
async fn closed_ticket_and_not_found_are_permanent_and_typed() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let created = client
        .create_ticket(
            &NewTicket {
                comment: note("first"),
                tags: vec!["a".into()],
                ..NewTicket::default()
            },
            None,
        )
        .await?;
    sim.admin_post(
        &format!("/admin/tickets/{}/close", created.ticket.id),
        json!({}),
    )
    .await?;
    let update = TicketUpdate {
        comment: Some(note("too late")),
        ..TicketUpdate::default()
    };
    let closed = client
        .update_ticket(created.ticket.id, &update)
        .await
        .expect_err("closed ticket");
    assert!(closed.is_closed_ticket(), "{closed}");
    assert!(!closed.is_retryable());
    assert_eq!(closed.status(), Some(422));
    assert!(closed.request_id().is_some());

    // The way on: a follow-up.
    let followup = client
        .create_ticket(
            &NewTicket {
                comment: note("too late"),
                via_followup_source_id: Some(created.ticket.id),
                ..NewTicket::default()
            },
            None,
        )
        .await?;
    assert_ne!(followup.ticket.id, created.ticket.id);

    let missing = client
        .show_ticket(999_999)
        .await
        .expect_err("no such ticket");
    assert!(missing.is_not_found(), "{missing}");
    assert!(!missing.is_retryable());
    assert!(missing.request_id().is_some());
    let missing_update = client
        .update_ticket(999_999, &update)
        .await
        .expect_err("404");
    assert!(missing_update.is_not_found());
    Ok(())
}

#[tokio::test]
async fn wrong_token_is_permanent_and_not_retried() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let mut options = sim.options(700, 5);
    options.auth = Auth::ApiToken {
        email: common::AGENT_EMAIL.into(),
        token: SecretString::from("wrong-token-value"),
    };
    let client = Client::new(options)?;
    let error = client.groups().await.expect_err("401");
    assert_eq!(error.status(), Some(401));
    assert!(!error.is_retryable());
    let text = format!("{error} {error:?} {client:?}");
    assert!(!text.contains("wrong-token-value"), "{text}");
    assert_eq!(
        sim.requests().await?.len(),
        1,
        "a permanent error is not retried"
    );
    Ok(())
}

#[tokio::test]
async fn bad_input_is_a_typed_error_without_a_call() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 1);
    let error = client
        .create_or_update_user(&UserInput {
            name: Some("nameless".into()),
            ..UserInput::default()
        })
        .await
        .expect_err("nothing to match on");
    assert!(matches!(error, intake_zendesk::Error::InvalidInput(_)));
    assert!(
        client
            .upload(" ", "text/plain", vec![1], None)
            .await
            .is_err()
    );
    assert!(
        client
            .create_ticket(&NewTicket::default(), Some(""))
            .await
            .is_err()
    );
    assert!(sim.requests().await?.is_empty());
    tokio::time::sleep(Duration::from_millis(1)).await;
    Ok(())
}
