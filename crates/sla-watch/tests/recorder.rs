//! The recorder: new tickets' deadlines from the outcomes topic into the
//! store, once each, on the embedded bus.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::t0;
use intake_bus::{BusOptions, EmbeddedOptions, Record, Topics};
use intake_event::{
    AnswerDeadline, OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeEffect, TicketOutcome, outcome_id,
};
use intake_sla_watch::{DeadlineRecorder, SlaWatchOptions};
use intake_store::{SlaStage, SqliteStore, StateStore};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

fn outcome(ticket_id: u64, effect: OutcomeEffect, due_minutes: i64) -> TicketOutcome {
    let event_id = Uuid::new_v4();
    TicketOutcome {
        schema: OUTCOME_SCHEMA_ID.to_owned(),
        outcome_id: outcome_id(event_id, effect),
        event_id: Some(event_id),
        channel: "email".to_owned(),
        contact: OutcomeContact {
            key: "email:anna@customer.test".to_owned(),
            locale: Some("ru".to_owned()),
        },
        conversation_id: None,
        effect,
        ticket_id: Some(ticket_id),
        deadline: (effect != OutcomeEffect::Commented).then(|| AnswerDeadline {
            due_at: t0() + chrono::Duration::minutes(due_minutes),
            policy: "email".to_owned(),
            calendar: "default".to_owned(),
        }),
        locale: Some("ru".to_owned()),
        auto_submitted: false,
        received_at: Some(t0()),
        dead_letter_reason: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_tickets_deadlines_are_recorded_once_with_their_warning_time() {
    common::metrics();
    let dir = tempfile::tempdir().unwrap();
    let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(
        dir.path().join("bus.db"),
    )))
    .await
    .unwrap();
    let store: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let topics = Topics::new("intake");
    bus.ensure_topics(&[topics.outcomes()]).await.unwrap();
    let first = outcome(7, OutcomeEffect::Created, 12 * 60);
    let mut again = first.clone();
    again.deadline.as_mut().unwrap().due_at = t0() + chrono::Duration::minutes(1);
    let published = [
        first,
        again,
        outcome(8, OutcomeEffect::Commented, 0),
        outcome(9, OutcomeEffect::FollowUp, 60),
    ];
    let publisher = bus.publisher();
    publisher
        .publish(Record {
            topic: topics.outcomes(),
            key: "x".to_owned(),
            payload: b"not an outcome".to_vec(),
            headers: Vec::new(),
        })
        .await
        .unwrap();
    for outcome in &published {
        let record = Record {
            topic: topics.outcomes(),
            key: outcome.contact.key.clone(),
            payload: outcome.to_json(),
            headers: Vec::new(),
        };
        publisher.publish(record).await.unwrap();
    }
    let mut options = SlaWatchOptions::new(topics);
    options.warn_before_by_policy.clear();
    let recorder = DeadlineRecorder::new(Arc::clone(&bus), Arc::clone(&store), options);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(recorder.run(shutdown.clone()));

    // The follow-up is the last valid outcome: once it is recorded, the
    // ones before it were handled (one partition, in order).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while store.sla_watch(9).await.unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "nothing recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap();

    let created = store.sla_watch(7).await.unwrap().unwrap();
    assert_eq!(created.stage, SlaStage::Watching);
    assert_eq!(created.due_at, t0() + chrono::Duration::minutes(12 * 60));
    assert_eq!(
        created.warn_at,
        t0() + chrono::Duration::minutes(12 * 60 - 30),
        "30 minutes before; the redelivered copy changed nothing"
    );
    assert_eq!(
        (created.policy.as_str(), created.calendar.as_str()),
        ("email", "default")
    );
    assert_eq!(
        store.sla_watch(8).await.unwrap(),
        None,
        "a comment opens no watch"
    );
    let follow_up = store.sla_watch(9).await.unwrap().unwrap();
    assert_eq!(follow_up.warn_at, t0() + chrono::Duration::minutes(30));
    // The record that is no outcome was skipped, and counted.
    let metrics = common::metrics().render();
    assert!(
        metrics.contains("intake_sla_undecodable_outcomes_total 1"),
        "{metrics}"
    );
}
