//! `list_audits` against the simulator: custom metadata, the comment event,
//! newest-first paging, retries and an unknown ticket.

mod common;

use anyhow::Result;
use base64::Engine;
use intake_zendesk::{Comment, NewTicket, TicketUpdate};
use intake_zendesk_sim::SimConfig;
use serde_json::json;

fn note(body: &str) -> Comment {
    Comment {
        body: Some(body.into()),
        public: true,
        ..Comment::default()
    }
}

async fn new_ticket(client: &intake_zendesk::Client) -> Result<u64> {
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
    Ok(created.ticket.id)
}

#[tokio::test]
async fn audits_carry_metadata_and_the_comment_event() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = new_ticket(&client).await?;
    for n in 1..=3 {
        let update = TicketUpdate {
            comment: (n != 3).then(|| note(&format!("reply {n}"))),
            metadata: (n != 2).then(|| json!({"intake_event_id": format!("ev-{n}")})),
            status: (n == 3).then_some(intake_zendesk::Status::Pending),
            ..TicketUpdate::default()
        };
        client.update_ticket(id, &update).await?;
    }

    let newest = client.list_audits(id, true, 10).await?;
    let events: Vec<_> = newest
        .iter()
        .map(|a| a.custom_metadata("intake_event_id").cloned())
        .collect();
    assert_eq!(
        events,
        [
            Some(json!("ev-3")),
            None,
            Some(json!("ev-1")),
            Some(json!("ev-0"))
        ]
    );
    assert!(newest[0].comment_event().is_none(), "status change only");
    let comment = newest[2].comment_event().expect("reply 1 is a comment");
    assert_eq!(comment["body"], "reply 1");
    assert_eq!(comment["public"], true);
    let comments = client.list_comments(id, false, 10).await?;
    assert_eq!(comment["id"], json!(comments[1].id));
    assert!(newest[0].created_at.is_some() && newest[0].author_id.is_some());

    let oldest = client.list_audits(id, false, 2).await?;
    let ids: Vec<u64> = oldest.iter().map(|a| a.id).collect();
    assert_eq!(ids, [newest[3].id, newest[2].id]);
    assert!(client.list_audits(id, true, 0).await?.is_empty());
    let gets = sim
        .requests_to("GET", &format!("/api/v2/tickets/{id}/audits"))
        .await?;
    assert_eq!(gets.len(), 2, "one page each");
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

fn body(audit: &intake_zendesk::TicketAudit) -> String {
    audit
        .comment_event()
        .and_then(|e| e["body"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn newest_first_reads_pages_from_the_end() -> Result<()> {
    let sim = common::start(SimConfig {
        ticket_updates_per_10_min: 1000,
        ..common::config(None)
    })
    .await?;
    let client = sim.client(60_000, 3);
    let id = new_ticket(&client).await?;
    add_comments(&sim.handle.base_url, id, 249).await?;
    let path = format!("/api/v2/tickets/{id}/audits");

    // 250 audits: page 1 for the count, then page 3 (50) and page 2 (100).
    let newest = client.list_audits(id, true, 120).await?;
    assert_eq!(newest.len(), 120);
    assert_eq!(body(&newest[0]), "bulk 248");
    assert_eq!(body(&newest[119]), "bulk 129");
    assert!(newest.windows(2).all(|w| w[0].id > w[1].id), "newest first");
    let pages: Vec<_> = sim
        .requests_to("GET", &path)
        .await?
        .into_iter()
        .map(|r| r.query.unwrap_or_default())
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(pages[0].contains("page=1&"), "{pages:?}");
    assert!(pages[1].contains("page=3&"), "{pages:?}");
    assert!(pages[2].contains("page=2&"), "{pages:?}");

    let all = client.list_audits(id, true, 1000).await?;
    assert_eq!(all.len(), 250);
    assert_eq!(body(&all[249]), "opening");
    let oldest = client.list_audits(id, false, 150).await?;
    assert_eq!(oldest.len(), 150);
    assert_eq!(body(&oldest[0]), "opening");
    assert_eq!(body(&oldest[149]), "bulk 148");
    Ok(())
}

#[tokio::test]
async fn list_audits_is_retried_and_an_unknown_ticket_is_not_found() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 3);
    let id = new_ticket(&client).await?;
    let path = format!("/api/v2/tickets/{id}/audits");
    sim.fault(json!({"status": 503, "count": 1, "path_prefix": path}))
        .await?;
    let audits = client.list_audits(id, true, 100).await?;
    assert_eq!(audits.len(), 1);
    assert_eq!(sim.requests_to("GET", &path).await?.len(), 2);

    let missing = client.list_audits(id + 1000, true, 100).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing}");
    assert!(!missing.is_retryable());
    Ok(())
}
