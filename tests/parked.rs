//! `intake parked list` (issue 13 point 3): the built binary prints the
//! conversations the router parked, from the configured state store.

mod common;

use std::time::Duration;

use common::run_intake;
use intake_store::{ParkedLane, SqliteStore, StateStore};

#[tokio::test]
async fn parked_list_prints_each_parked_conversation_of_the_group() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state.sqlite");
    let store = SqliteStore::open(state.clone()).await.unwrap();
    let resume_at = chrono::Utc::now() + chrono::Duration::minutes(9);
    let event_id = uuid::Uuid::new_v4();
    let lane = |group: &str, lane: &str| ParkedLane {
        consumer_group: group.to_owned(),
        lane: lane.to_owned(),
        channel: "chat".to_owned(),
        event_id,
        reason: "ticket_limit".to_owned(),
        attempts: 0,
        first_failure_at: chrono::Utc::now(),
        resume_at,
        last_error: "update_ticket: held by the per-ticket update limit".to_owned(),
        history: Vec::new(),
    };
    store
        .park_lane(&lane("intake-router", "thread:chat:t-7"))
        .await
        .unwrap();
    store
        .park_lane(&lane("another-deployment", "thread:chat:t-8"))
        .await
        .unwrap();
    store.close().await;
    let config = dir.path().join("intake.toml");
    std::fs::write(
        &config,
        format!("[store]\nsqlite_path = {:?}\n", state.display().to_string()),
    )
    .unwrap();
    let config = config.display().to_string();

    let out = run_intake(
        &["parked", "list", "--config", &config],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "only this group's lanes: {out:?}");
    let line = lines[0];
    assert!(
        line.starts_with("thread:chat:t-7\tchat\tticket_limit\tattempts=0\tresumes "),
        "{line}"
    );
    assert!(line.contains(&format!("event {event_id}")), "{line}");
    assert!(
        line.ends_with("update_ticket: held by the per-ticket update limit"),
        "{line}"
    );
}
