//! `list_comments` and audit metadata against the simulator.

mod common;

use anyhow::Result;
use base64::Engine;
use intake_zendesk::{Comment, NewTicket, TicketUpdate};
use intake_zendesk_sim::SimConfig;
use serde_json::{Value, json};

fn note(body: &str) -> Comment {
    Comment {
        body: Some(body.into()),
        public: true,
        ..Comment::default()
    }
}

#[tokio::test]
async fn metadata_round_trips_and_comments_list_newest_first() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let created = client
        .create_ticket(
            &NewTicket {
                comment: note("opening"),
                metadata: Some(json!({"intake_event_id": "ev-0"})),
                ..NewTicket::default()
            },
            None,
        )
        .await?;
    let id = created.ticket.id;
    for n in 1..=3 {
        let update = TicketUpdate {
            comment: Some(note(&format!("reply {n}"))),
            metadata: (n != 2).then(|| json!({"intake_event_id": format!("ev-{n}")})),
            ..TicketUpdate::default()
        };
        client.update_ticket(id, &update).await?;
    }

    let newest = client.list_comments(id, true, 2).await?;
    let bodies: Vec<&str> = newest.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(bodies, ["reply 3", "reply 2"]);
    assert_eq!(
        newest[0].custom_metadata("intake_event_id"),
        Some(&json!("ev-3"))
    );
    assert_eq!(newest[1].custom_metadata("intake_event_id"), None);
    assert!(newest[0].public);
    assert!(newest[0].created_at.is_some());

    let oldest = client.list_comments(id, false, 10).await?;
    let events: Vec<Option<&Value>> = oldest
        .iter()
        .map(|c| c.custom_metadata("intake_event_id"))
        .collect();
    assert_eq!(
        events,
        [
            Some(&json!("ev-0")),
            Some(&json!("ev-1")),
            None,
            Some(&json!("ev-3"))
        ]
    );
    let gets = sim
        .requests_to("GET", &format!("/api/v2/tickets/{id}/comments"))
        .await?;
    assert_eq!(gets.len(), 2, "one page each");
    assert!(client.list_comments(id, true, 0).await?.is_empty());
    Ok(())
}

/// Adds comments with plain HTTP, past the client's per-ticket pacing.
async fn add_comments(base_url: &str, id: u64, count: usize) -> Result<()> {
    let http = reqwest::Client::new();
    let auth = base64::engine::general_purpose::STANDARD.encode(format!(
        "{}/token:{}",
        common::AGENT_EMAIL,
        common::TOKEN
    ));
    for n in 0..count {
        let response = http
            .put(format!("{base_url}/api/v2/tickets/{id}.json"))
            .header("authorization", format!("Basic {auth}"))
            .json(&json!({"ticket": {"comment": {"body": format!("bulk {n}")}}}))
            .send()
            .await?;
        anyhow::ensure!(response.status().is_success(), "{}", response.status());
    }
    Ok(())
}

#[tokio::test]
async fn list_comments_follows_pages_up_to_the_limit() -> Result<()> {
    let sim = common::start(SimConfig {
        ticket_updates_per_10_min: 1000,
        ..common::config(None)
    })
    .await?;
    let client = sim.client(60_000, 3);
    let id = client
        .create_ticket(
            &NewTicket {
                comment: note("opening"),
                ..NewTicket::default()
            },
            None,
        )
        .await?
        .ticket
        .id;
    add_comments(&sim.handle.base_url, id, 104).await?;

    let all = client.list_comments(id, true, 500).await?;
    assert_eq!(all.len(), 105);
    assert_eq!(all[0].body, "bulk 103");
    assert_eq!(all[104].body, "opening");
    assert!(all.windows(2).all(|w| w[0].id > w[1].id), "newest first");

    let some = client.list_comments(id, false, 101).await?;
    assert_eq!(some.len(), 101);
    assert_eq!(some[0].body, "opening");
    assert_eq!(some[100].body, "bulk 99");
    let gets = sim
        .requests_to("GET", &format!("/api/v2/tickets/{id}/comments"))
        .await?;
    assert_eq!(gets.len(), 4, "two pages per call");
    Ok(())
}

#[tokio::test]
async fn list_comments_is_retried_and_an_unknown_ticket_is_not_found() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = client
        .create_ticket(
            &NewTicket {
                comment: note("opening"),
                ..NewTicket::default()
            },
            None,
        )
        .await?
        .ticket
        .id;
    let path = format!("/api/v2/tickets/{id}/comments");
    sim.fault(json!({"status": 503, "count": 1, "path_prefix": path}))
        .await?;
    let comments = client.list_comments(id, true, 100).await?;
    assert_eq!(comments.len(), 1);
    assert_eq!(sim.requests_to("GET", &path).await?.len(), 2);

    let missing = client
        .list_comments(id + 1000, true, 100)
        .await
        .unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(!missing.is_retryable());
    Ok(())
}
