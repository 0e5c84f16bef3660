//! The acknowledgement consumer on a real embedded bus and SQLite store:
//! exactly one acknowledgement per new ticket, whatever is redelivered; the
//! policy's suppressions; retries; dead letters with the reason; metrics.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use intake_ack::{AckOptions, Acknowledger, ChannelAck};
use intake_bus::{Bus, EmbeddedBus, EmbeddedOptions, Record, Topics};
use intake_calendar::refresh::LivePolicies;
use intake_calendar::{Calendars, SlaPolicies, WorkingCalendar, seeds_policies};
use intake_channel::testing::FakeReplySender;
use intake_channel::{ReplyError, ReplySenders};
use intake_event::{
    AnswerDeadline, OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeEffect, TicketOutcome, outcome_id,
};
use intake_store::{AckStatus, SqliteStore, StateStore};
use metrics_exporter_prometheus::PrometheusBuilder;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Fails the sends of given tickets with queued errors, in order; records all.
struct ScriptedSender {
    failures: std::sync::Mutex<Vec<(u64, ReplyError)>>,
    sent: std::sync::Mutex<Vec<intake_channel::Reply>>,
}

impl ScriptedSender {
    fn new(failures: &[(u64, ReplyError)]) -> Arc<Self> {
        Arc::new(Self {
            failures: std::sync::Mutex::new(failures.to_vec()),
            sent: std::sync::Mutex::default(),
        })
    }

    fn sent(&self) -> Vec<intake_channel::Reply> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl intake_channel::ReplySender for ScriptedSender {
    fn channel(&self) -> &'static str {
        "chat"
    }

    async fn send(
        &self,
        reply: &intake_channel::Reply,
    ) -> Result<intake_channel::Delivery, ReplyError> {
        self.sent.lock().unwrap().push(reply.clone());
        let mut failures = self.failures.lock().unwrap();
        let ticket = reply.ticket_id.unwrap_or_default();
        match failures.iter().position(|(id, _)| *id == ticket) {
            Some(index) => Err(failures.remove(index).1),
            None => Ok(intake_channel::Delivery::default()),
        }
    }
}

const WAIT: Duration = Duration::from_secs(60);

fn policies() -> LivePolicies {
    let mut calendars = Calendars::default();
    calendars.insert(WorkingCalendar::seeds_default("default"));
    LivePolicies::new(SlaPolicies::new(seeds_policies(), calendars))
}

fn outcome(channel: &str, contact: &str, effect: OutcomeEffect, ticket_id: u64) -> TicketOutcome {
    let event_id = Uuid::new_v4();
    TicketOutcome {
        schema: OUTCOME_SCHEMA_ID.to_owned(),
        outcome_id: outcome_id(event_id, effect),
        event_id: Some(event_id),
        channel: channel.to_owned(),
        contact: OutcomeContact {
            key: contact.to_owned(),
            locale: Some("en".to_owned()),
        },
        conversation_id: Some(format!("conv-{ticket_id}")),
        effect,
        ticket_id: Some(ticket_id),
        deadline: Some(AnswerDeadline {
            due_at: Utc::now() + chrono::Duration::minutes(5),
            policy: "chat".to_owned(),
            calendar: "default".to_owned(),
        }),
        locale: None,
        auto_submitted: false,
        received_at: Some(Utc::now()),
        dead_letter_reason: None,
    }
}

struct Setup {
    _dir: tempfile::TempDir,
    bus: Arc<dyn Bus>,
    store: Arc<dyn StateStore>,
    topics: Topics,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = Arc::new(
        EmbeddedBus::open(EmbeddedOptions::new(dir.path().join("bus.sqlite")))
            .await
            .unwrap(),
    );
    let store: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("state.sqlite"))
            .await
            .unwrap(),
    );
    let topics = Topics::new(format!("t{}", Uuid::new_v4().simple()));
    bus.ensure_topics(&[topics.outcomes(), topics.dlq()])
        .await
        .unwrap();
    Setup {
        _dir: dir,
        bus,
        store,
        topics,
    }
}

async fn publish(setup: &Setup, outcome: &TicketOutcome) {
    publish_bytes(setup, &outcome.contact.key, outcome.to_json()).await;
}

async fn publish_bytes(setup: &Setup, key: &str, payload: Vec<u8>) {
    setup
        .bus
        .publisher()
        .publish(Record {
            topic: setup.topics.outcomes(),
            key: key.to_owned(),
            payload,
            headers: vec![("ce_id".to_owned(), "x".to_owned())],
        })
        .await
        .unwrap();
}

fn options(setup: &Setup) -> AckOptions {
    let mut options = AckOptions::new(setup.topics.clone());
    options.retry_initial_backoff = Duration::from_millis(10);
    options.retry_max_backoff = Duration::from_millis(50);
    options.channels.insert(
        "slack".to_owned(),
        ChannelAck {
            enabled: false,
            ..ChannelAck::default()
        },
    );
    options
}

fn start(setup: &Setup, senders: ReplySenders) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let acknowledger = Acknowledger::new(
        Arc::clone(&setup.bus),
        Arc::clone(&setup.store),
        senders,
        policies(),
        options(setup),
    )
    .unwrap();
    let token = CancellationToken::new();
    let run = tokio::spawn({
        let token = token.clone();
        async move { acknowledger.run(token).await.unwrap() }
    });
    (token, run)
}

/// Waits (bounded) until `condition` holds.
async fn wait_until(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn dead_letters(setup: &Setup) -> Vec<intake_bus::Delivery> {
    let mut consumer = setup
        .bus
        .consumer(&format!("reader-{}", Uuid::new_v4()), &[setup.topics.dlq()])
        .await
        .unwrap();
    let mut letters = Vec::new();
    while let Some(delivery) = consumer.poll(Duration::from_millis(200)).await.unwrap() {
        letters.push(delivery);
    }
    letters
}

#[tokio::test]
async fn one_acknowledgement_per_new_ticket_and_none_where_the_policy_says_so() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let setup = setup().await;
    let chat = FakeReplySender::new("chat");
    let mut senders = ReplySenders::new();
    senders.register(chat.clone()).unwrap();
    senders.register(FakeReplySender::new("slack")).unwrap();

    let created = outcome("chat", "chat:alice", OutcomeEffect::Created, 1);
    let comment = outcome("chat", "chat:bob", OutcomeEffect::Commented, 2);
    let mut auto = outcome("chat", "chat:robot", OutcomeEffect::Created, 3);
    auto.auto_submitted = true;
    let within_window = outcome("chat", "chat:alice", OutcomeEffect::FollowUp, 4);
    let switched_off = outcome("slack", "slack:u1", OutcomeEffect::Created, 5);
    let no_sender = outcome("email", "email:c@example.com", OutcomeEffect::Created, 6);
    let follow_up = outcome("chat", "chat:carol", OutcomeEffect::FollowUp, 7);
    // The router republishes after a crash: the same outcome twice.
    for outcome in [
        &created,
        &created,
        &comment,
        &auto,
        &within_window,
        &switched_off,
        &no_sender,
        &follow_up,
    ] {
        publish(&setup, outcome).await;
    }
    let (token, run) = start(&setup, senders.clone());
    wait_until("the follow-up's acknowledgement", async || {
        setup
            .store
            .acknowledgement(follow_up.outcome_id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    token.cancel();
    run.await.unwrap();

    let sent: Vec<_> = chat.sent().iter().map(|r| r.ticket_id).collect();
    assert_eq!(
        sent,
        [Some(1), Some(7)],
        "one each for the new ticket and the follow-up"
    );
    let first = &chat.sent()[0];
    assert_eq!(first.outcome_id, created.outcome_id);
    assert_eq!(first.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(first.deadline, created.deadline.as_ref().map(|d| d.due_at));
    assert!(first.text.contains("ticket #1"), "{}", first.text);
    let window = setup
        .store
        .acknowledgement(within_window.outcome_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (window.status, window.reason.as_deref()),
        (AckStatus::Suppressed, Some("sender_window"))
    );

    let metrics = handle.render();
    for line in [
        r#"intake_acknowledgements_sent_total{channel="chat"} 2"#,
        r#"intake_acknowledgements_suppressed_total{channel="chat",reason="duplicate"} 1"#,
        r#"intake_acknowledgements_suppressed_total{channel="chat",reason="comment"} 1"#,
        r#"intake_acknowledgements_suppressed_total{channel="chat",reason="auto_submitted"} 1"#,
        r#"intake_acknowledgements_suppressed_total{channel="chat",reason="sender_window"} 1"#,
        r#"intake_acknowledgements_suppressed_total{channel="slack",reason="channel_off"} 1"#,
        r#"intake_acknowledgements_suppressed_total{channel="other",reason="no_sender"} 1"#,
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }

    // A restart resumes after the stored position: nothing is sent again,
    // and an outcome republished later still is a duplicate.
    publish(&setup, &created).await;
    let (token, run) = start(&setup, senders);
    wait_until("the republished outcome to be handled", async || {
        handle.render().contains(
            r#"intake_acknowledgements_suppressed_total{channel="chat",reason="duplicate"} 2"#,
        )
    })
    .await;
    token.cancel();
    run.await.unwrap();
    assert_eq!(chat.sent().len(), 2);
}

#[tokio::test]
async fn retryable_failures_are_retried_and_permanent_ones_dead_lettered() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let setup = setup().await;
    let chat = ScriptedSender::new(&[
        (
            10,
            ReplyError::from_http_status(503, "callback answered 503"),
        ),
        (
            10,
            ReplyError::from_http_status(500, "callback answered 500"),
        ),
        (
            11,
            ReplyError::from_http_status(400, "callback answered 400"),
        ),
    ]);
    let mut senders = ReplySenders::new();
    senders.register(chat.clone()).unwrap();

    let retried = outcome("chat", "chat:dora", OutcomeEffect::Created, 10);
    let refused = outcome("chat", "chat:emil", OutcomeEffect::Created, 11);
    publish(&setup, &retried).await;
    publish(&setup, &refused).await;
    publish_bytes(&setup, "chat:broken", b"{not json".to_vec()).await;
    let after = outcome("chat", "chat:fred", OutcomeEffect::Created, 12);
    publish(&setup, &after).await;

    let (token, run) = start(&setup, senders);
    wait_until("the last outcome", async || {
        setup
            .store
            .acknowledgement(after.outcome_id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    token.cancel();
    run.await.unwrap();

    let tickets: Vec<_> = chat.sent().iter().map(|r| r.ticket_id.unwrap()).collect();
    assert_eq!(
        tickets,
        [10, 10, 10, 11, 12],
        "two retries, then one refusal, then the next"
    );
    let status = |id| {
        let store = Arc::clone(&setup.store);
        async move { store.acknowledgement(id).await.unwrap().unwrap() }
    };
    assert_eq!(status(retried.outcome_id).await.status, AckStatus::Sent);
    let failed = status(refused.outcome_id).await;
    assert_eq!(
        (failed.status, failed.reason.as_deref()),
        (AckStatus::Failed, Some("rejected"))
    );

    // The undecodable outcome waits in the `other` queue, not behind chat's
    // retries, so the two letters may come in either order.
    let mut letters = dead_letters(&setup).await;
    letters.sort_by_key(|l| l.header("intake_error_reason").map(str::to_owned));
    let reasons: Vec<_> = letters
        .iter()
        .map(|l| {
            l.header("intake_error_reason")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(
        reasons,
        [
            "acknowledgement_rejected",
            "acknowledgement_undecodable_outcome"
        ]
    );
    assert_eq!(
        letters[0].payload,
        refused.to_json(),
        "the letter carries the outcome"
    );
    assert_eq!(
        letters[0].header("intake_source_topic"),
        Some(setup.topics.outcomes().as_str())
    );

    let metrics = handle.render();
    for line in [
        r#"intake_acknowledgements_sent_total{channel="chat"} 2"#,
        r#"intake_acknowledgement_retries_total{channel="chat"} 2"#,
        r#"intake_acknowledgements_failed_total{channel="chat",reason="rejected"} 1"#,
        r#"intake_acknowledgements_failed_total{channel="other",reason="undecodable_outcome"} 1"#,
        "intake_acknowledgement_outcome_lag_records",
    ] {
        assert!(metrics.contains(line), "missing {line} in\n{metrics}");
    }
}

#[tokio::test]
async fn a_send_failing_past_the_give_up_time_is_dead_lettered_as_exhausted() {
    let setup = setup().await;
    let chat = FakeReplySender::new("chat");
    for _ in 0..100 {
        chat.fail_next(ReplyError::from_http_status(503, "down"));
    }
    let mut senders = ReplySenders::new();
    senders.register(chat.clone()).unwrap();
    let stuck = outcome("chat", "chat:gina", OutcomeEffect::Created, 20);
    publish(&setup, &stuck).await;
    let mut options = options(&setup);
    options.give_up_after = Duration::from_millis(100);
    let acknowledger = Acknowledger::new(
        Arc::clone(&setup.bus),
        Arc::clone(&setup.store),
        senders,
        policies(),
        options,
    )
    .unwrap();
    let token = CancellationToken::new();
    let run = tokio::spawn(acknowledger.run(token.clone()));
    wait_until("the give-up", async || {
        setup
            .store
            .acknowledgement(stuck.outcome_id)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    token.cancel();
    run.await.unwrap().unwrap();
    let record = setup
        .store
        .acknowledgement(stuck.outcome_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.reason.as_deref(), Some("retries_exhausted"));
    assert!(chat.sent().len() >= 2, "it was retried before giving up");
    let letters = dead_letters(&setup).await;
    assert_eq!(
        letters[0].header("intake_error_reason"),
        Some("acknowledgement_retries_exhausted")
    );
}

#[tokio::test]
async fn a_channel_being_retried_holds_back_only_its_own_acknowledgements() {
    let setup = setup().await;
    // Telegram's API is down for as long as this test runs; chat works.
    let telegram = FakeReplySender::new("telegram");
    for _ in 0..100_000 {
        telegram.fail_next(ReplyError::from_http_status(503, "down"));
    }
    let chat = FakeReplySender::new("chat");
    let mut senders = ReplySenders::new();
    senders.register(telegram.clone()).unwrap();
    senders.register(chat.clone()).unwrap();
    let stuck = outcome("telegram", "telegram:1", OutcomeEffect::Created, 30);
    let behind: Vec<_> = (31..34)
        .map(|id| outcome("chat", &format!("chat:c{id}"), OutcomeEffect::Created, id))
        .collect();
    publish(&setup, &stuck).await;
    for outcome in &behind {
        publish(&setup, outcome).await;
    }

    let (token, run) = start(&setup, senders);
    wait_until(
        "chat's acknowledgements while telegram is retried",
        async || chat.sent().len() == behind.len(),
    )
    .await;
    assert!(telegram.sent().len() >= 2, "telegram is being retried");
    assert!(
        setup
            .store
            .acknowledgement(stuck.outcome_id)
            .await
            .unwrap()
            .is_none(),
        "telegram's outcome is still undecided"
    );
    token.cancel();
    run.await.unwrap();

    // The stored position did not pass the undecided telegram outcome: a
    // restart with Telegram back sends it, and chat's are duplicates now.
    let telegram = FakeReplySender::new("telegram");
    let chat_again = FakeReplySender::new("chat");
    let mut senders = ReplySenders::new();
    senders.register(telegram.clone()).unwrap();
    senders.register(chat_again.clone()).unwrap();
    let (token, run) = start(&setup, senders);
    wait_until("telegram's acknowledgement after the restart", async || {
        telegram.sent().len() == 1
    })
    .await;
    for outcome in &behind {
        let record = setup
            .store
            .acknowledgement(outcome.outcome_id)
            .await
            .unwrap();
        assert_eq!(record.unwrap().status, AckStatus::Sent);
    }
    token.cancel();
    run.await.unwrap();
    assert!(
        chat_again.sent().is_empty(),
        "chat was not acknowledged twice"
    );
}
