//! The 30-minute warning end to end with the built binary (issue 14 point
//! 4): `[sla_watch]` on, the business clock at 10:00 Moscow time on Monday
//! 7 December 2026 (`INTAKE_TEST_NOW`), so a chat message (5 working
//! minutes: due 10:05) is within 30 minutes of its deadline at once. The
//! deadline comes from the router's outcome, the warning from the scheduler
//! of the same process: the ticket is tagged, noted and posted to the Slack
//! stand-in once, and a SIGKILLed and restarted process (whose lease must
//! first expire) warns about the next ticket without repeating the first.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Backend, Callbacks, World, start_callback_endpoint, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);
const MONDAY_10_00: &str = "2026-12-07T10:00:00+03:00";

fn has_tag(ticket: &Value, tag: &str) -> bool {
    ticket["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

fn notes(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .map(|comments| {
            comments
                .iter()
                .filter(|c| c["public"] == Value::Bool(false))
                .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn ticket_of(world: &World, subject_word: &str) -> Option<Value> {
    world.tickets().await.into_iter().find(|t| {
        t["comments"][0]["body"]
            .as_str()
            .is_some_and(|body| body.contains(subject_word))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_ticket_near_its_deadline_is_warned_once_across_a_crash() {
    let extra = r#"
[sla_watch]
enabled = true
scan_interval_secs = 1
lease_ttl_secs = 3
[sla_watch.slack]
webhook_url_env = "SLA_SLACK_WEBHOOK_URL"
"#;
    let world = World::with_sim(Backend::Embedded, None, Default::default(), extra).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/intake/replies", listener.local_addr().unwrap());
    let slack: Callbacks = Arc::default();
    start_callback_endpoint(listener, Arc::clone(&slack)).await;
    let env = [
        ("INTAKE_TEST_NOW", MONDAY_10_00),
        ("SLA_SLACK_WEBHOOK_URL", hook.as_str()),
    ];

    let mut intake = world.spawn_env("all", None, &env);
    world.wait_ready(&mut intake).await;
    let body = common::chat_body(
        "conv-sla-1",
        "visitor-sla-1",
        None,
        "первый: не работает вход",
    );
    let (status, answer) = world.post_chat("sla-msg-1", &body).await;
    assert_eq!(status, 202, "{answer}");
    wait_for("the first ticket's warning", async || {
        ticket_of(&world, "первый")
            .await
            .is_some_and(|t| has_tag(&t, "intake_sla_warning"))
    })
    .await;
    wait_for("the first Slack post", async || {
        !slack.lock().unwrap().is_empty()
    })
    .await;
    let first = ticket_of(&world, "первый").await.unwrap();
    let first_notes = notes(&first);
    assert_eq!(first_notes.len(), 1, "{first_notes:?}");
    assert!(
        first_notes[0].contains("по SLA «chat»")
            && first_notes[0].contains("до 10:05 по московскому времени в понедельник, 7 декабря"),
        "{}",
        first_notes[0]
    );
    let post: Value = serde_json::from_slice(&slack.lock().unwrap()[0].1).unwrap();
    let ticket_id = first["id"].as_u64().unwrap();
    assert!(
        post["text"]
            .as_str()
            .is_some_and(|text| text.contains(&format!("/agent/tickets/{ticket_id}|#{ticket_id}>"))),
        "{post}"
    );

    // A crash: the lease stays held until it expires, then the restarted
    // process takes it and warns about a new ticket only.
    intake.kill();
    let mut intake = world.spawn_env("all", None, &env);
    world.wait_ready(&mut intake).await;
    let body = common::chat_body(
        "conv-sla-2",
        "visitor-sla-2",
        None,
        "второй: не приходит письмо",
    );
    let (status, answer) = world.post_chat("sla-msg-2", &body).await;
    assert_eq!(status, 202, "{answer}");
    intake.wait_output("sla watch lease taken", WAIT).await;
    wait_for("the second ticket's warning and post", async || {
        let warned = ticket_of(&world, "второй")
            .await
            .is_some_and(|t| has_tag(&t, "intake_sla_warning"));
        warned && slack.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(intake.terminate(Duration::from_secs(30)).await, Some(0));
    assert_eq!(slack.lock().unwrap().len(), 2, "one post per ticket");
    let first = ticket_of(&world, "первый").await.unwrap();
    assert_eq!(
        notes(&first).len(),
        1,
        "the first ticket was not warned again"
    );
    let second = ticket_of(&world, "второй").await.unwrap();
    assert_eq!(notes(&second).len(), 1);
}
