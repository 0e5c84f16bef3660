//! The 30-minute warning against the Zendesk simulator, a SQLite store and a
//! Slack stand-in, on a clock the test moves (no wall-clock waits for the
//! deadline): warned once across a restart, not at all when an agent
//! answered publicly, the breach marked at the deadline.

mod common;

use std::sync::Arc;

use common::{World, counter, t0, wait_stage, watch};
use intake_sla_watch::telemetry::names;
use intake_store::{SlaStage, SqliteStore, StateStore};

async fn sqlite(dir: &tempfile::TempDir) -> Arc<dyn StateStore> {
    Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warning_fires_once_across_a_restart_and_the_breach_is_marked() {
    const POLICY: &str = "email_restart";
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let (ticket, _) = world.ticket("anna").await;
    // Due at 09:30 Moscow time; the warning is due at once.
    assert!(
        store
            .watch_sla(&watch(ticket, POLICY, 30, 0))
            .await
            .unwrap()
    );
    world.clock.set(t0() + chrono::Duration::minutes(1));

    let first = world.start(Arc::clone(&store), world.options());
    wait_stage(&store, ticket, SlaStage::Warned).await;
    first.stop().await;

    let tags = world.tags(ticket).await;
    assert!(tags.contains(&"intake_sla_warning".to_owned()), "{tags:?}");
    assert!(
        tags.contains(&"intake_sla_email".to_owned()),
        "kept: {tags:?}"
    );
    let notes = world.notes(ticket).await;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(
        notes[0].contains(&format!("по SLA «{POLICY}» осталось 29 мин."))
            && notes[0].contains("до 09:30 по московскому времени в понедельник, 7 декабря")
            && notes[0].contains("by 9:30 am Moscow time on Monday, 7 December"),
        "{}",
        notes[0]
    );
    let posts = world.slack_posts();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let text = posts[0]["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("/agent/tickets/{ticket}|#{ticket}>")),
        "{text}"
    );
    assert_eq!(counter(names::WARNINGS, POLICY), 1);

    // A restart: a new scheduler (another holder) on the same store scans
    // a few rounds with the lease and repeats nothing.
    let mut second = world.start(Arc::clone(&store), world.options());
    second.scans_more(5).await;
    assert_eq!(world.notes(ticket).await.len(), 1);
    assert_eq!(world.slack_posts().len(), 1);
    assert_eq!(counter(names::WARNINGS, POLICY), 1);
    assert_eq!(counter(names::BREACHES, POLICY), 0);

    // The deadline passes unanswered: the breach is marked once.
    world.clock.set(t0() + chrono::Duration::minutes(30));
    wait_stage(&store, ticket, SlaStage::Breached).await;
    second.scans_more(3).await;
    second.stop().await;
    let tags = world.tags(ticket).await;
    assert!(tags.contains(&"intake_sla_breached".to_owned()), "{tags:?}");
    assert_eq!(counter(names::BREACHES, POLICY), 1);
    assert_eq!(world.notes(ticket).await.len(), 1, "no second note");
    assert_eq!(world.slack_posts().len(), 1, "no second post");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_warning_when_an_agent_answered_publicly_but_customers_do_not_count() {
    const POLICY: &str = "email_answered";
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let (answered, _) = world.ticket("boris").await;
    world.agent_reply(answered, true).await;
    // Only a private note by the agent and a second customer's comment:
    // nobody answered the customer.
    let (unanswered, _) = world.ticket("vera").await;
    world.agent_reply(unanswered, false).await;
    let (other, _) = world.ticket("gleb").await;
    let other_user = world.client.show_ticket(other).await.unwrap().requester_id;
    let update = intake_zendesk::TicketUpdate {
        comment: Some(intake_zendesk::Comment {
            body: Some("I have the same problem".to_owned()),
            public: true,
            author_id: other_user,
            ..intake_zendesk::Comment::default()
        }),
        ..intake_zendesk::TicketUpdate::default()
    };
    world
        .client
        .update_ticket(unanswered, &update)
        .await
        .unwrap();
    for ticket in [answered, unanswered] {
        assert!(
            store
                .watch_sla(&watch(ticket, POLICY, 30, 0))
                .await
                .unwrap()
        );
    }
    world.clock.set(t0() + chrono::Duration::minutes(1));

    let running = world.start(Arc::clone(&store), world.options());
    wait_stage(&store, answered, SlaStage::Answered).await;
    wait_stage(&store, unanswered, SlaStage::Warned).await;
    // Past the deadline the answered ticket stays answered: no breach.
    world.clock.set(t0() + chrono::Duration::minutes(31));
    wait_stage(&store, unanswered, SlaStage::Breached).await;
    running.stop().await;

    let tags = world.tags(answered).await;
    assert!(
        !tags
            .iter()
            .any(|t| t.starts_with("intake_sla_w") || t == "intake_sla_breached"),
        "{tags:?}"
    );
    assert!(world.notes(answered).await.is_empty());
    assert_eq!(world.slack_posts().len(), 1, "only the unanswered ticket");
    assert_eq!(counter(names::WARNINGS, POLICY), 1);
    assert_eq!(counter(names::BREACHES, POLICY), 1);
}

/// A crash after the ticket was tagged and noted but before the stage was
/// written: the next run sees the tag, adds no second note, and goes on to
/// Slack. A Slack failure is retried until it succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_done_before_a_crash_is_not_done_twice_and_slack_is_retried() {
    const POLICY: &str = "email_crash";
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let (ticket, _) = world.ticket("dina").await;
    let mut tags = world.tags(ticket).await;
    tags.push("intake_sla_warning".to_owned());
    let update = intake_zendesk::TicketUpdate {
        tags: Some(tags),
        comment: Some(intake_zendesk::Comment {
            body: Some("the note of the run that crashed".to_owned()),
            public: false,
            ..intake_zendesk::Comment::default()
        }),
        ..intake_zendesk::TicketUpdate::default()
    };
    world.client.update_ticket(ticket, &update).await.unwrap();
    assert!(
        store
            .watch_sla(&watch(ticket, POLICY, 30, 0))
            .await
            .unwrap()
    );
    *world.slack_failures.lock().unwrap() = 2;
    world.clock.set(t0() + chrono::Duration::minutes(1));

    let running = world.start(Arc::clone(&store), world.options());
    wait_stage(&store, ticket, SlaStage::Warned).await;
    running.stop().await;
    assert_eq!(world.notes(ticket).await.len(), 1, "no second note");
    // Two refused posts, then the one that went through.
    assert_eq!(world.slack_posts().len(), 3);
    assert_eq!(counter(names::WARNINGS, POLICY), 1);
}

/// A ticket Zendesk refuses to update (a 403 every time) stays in the list,
/// counted, and does not hide the watches due after it (one per page here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_that_keeps_failing_does_not_hide_the_ones_behind_it() {
    const POLICY: &str = "email_stuck";
    let world = World::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store = sqlite(&dir).await;
    let (stuck, _) = world.ticket("egor").await;
    let (behind, _) = world.ticket("zoya").await;
    let stuck_path = format!("/api/v2/tickets/{stuck}");
    assert!(!format!("/api/v2/tickets/{behind}").starts_with(&stuck_path));
    let answer = reqwest::Client::new()
        .post(format!("{}/admin/faults", world.sim.base_url))
        .json(&serde_json::json!({"status": 403, "method": "PUT", "path_prefix": stuck_path}))
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success());
    // The stuck ticket is due first.
    assert!(store.watch_sla(&watch(stuck, POLICY, 20, 0)).await.unwrap());
    assert!(
        store
            .watch_sla(&watch(behind, POLICY, 30, 0))
            .await
            .unwrap()
    );
    world.clock.set(t0() + chrono::Duration::minutes(1));
    let mut options = world.options();
    options.batch = 1;

    let mut running = world.start(Arc::clone(&store), options);
    wait_stage(&store, behind, SlaStage::Warned).await;
    running.scans_more(2).await;
    running.stop().await;
    let stuck_watch = store.sla_watch(stuck).await.unwrap().unwrap();
    assert_eq!(
        stuck_watch.stage,
        SlaStage::Watching,
        "retried, not given up"
    );
    assert!(world.notes(stuck).await.is_empty());
    let errors = common::metrics()
        .render()
        .lines()
        .any(|line| line.starts_with("intake_sla_watch_errors_total{step=\"update_ticket\"}"));
    assert!(errors, "the failing step is counted");
}
