//! The behaviour every [`StateStore`] backend must have. Each function takes a
//! fresh, empty store; `sqlite.rs` and `postgres.rs` run all of them.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use intake_store::{ConversationRef, Effect, StateStore, StoreError, TicketLink};
use uuid::Uuid;

pub fn conversation(thread: &str) -> ConversationRef {
    ConversationRef {
        channel: "chat".to_owned(),
        thread_id: thread.to_owned(),
    }
}

pub fn link(ticket_id: u64, effect: Effect) -> TicketLink {
    TicketLink { ticket_id, effect }
}

pub async fn recording_an_event_twice_keeps_the_first(store: Arc<dyn StateStore>) {
    let event = Uuid::new_v4();
    assert_eq!(store.ticket_for_event(event).await.unwrap(), None);
    let first = link(7, Effect::Created);
    let second = link(8, Effect::Commented);
    let t1 = conversation("t1");
    assert_eq!(
        store.record_event(event, first, Some(&t1)).await.unwrap(),
        first
    );
    store
        .begin_effect(event, Effect::Commented, Some(8))
        .await
        .unwrap();
    assert_eq!(
        store.record_event(event, second, Some(&t1)).await.unwrap(),
        first
    );
    assert_eq!(store.ticket_for_event(event).await.unwrap(), Some(first));
    // The losing write changed nothing: not the conversation, not the pending row.
    assert_eq!(store.conversation_ticket(&t1).await.unwrap(), Some(7));
    assert!(store.pending_effect(event).await.unwrap().is_some());
}

pub async fn record_event_points_the_conversation_and_clears_pending(store: Arc<dyn StateStore>) {
    let event = Uuid::new_v4();
    let t1 = conversation("t1");
    store.set_conversation_ticket(&t1, 1).await.unwrap();
    store
        .begin_effect(event, Effect::FollowUp, None)
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        (pending.effect, pending.ticket_id),
        (Effect::FollowUp, None)
    );

    let follow_up = link(2, Effect::FollowUp);
    assert_eq!(
        store
            .record_event(event, follow_up, Some(&t1))
            .await
            .unwrap(),
        follow_up
    );
    assert_eq!(store.conversation_ticket(&t1).await.unwrap(), Some(2));
    assert_eq!(store.pending_effect(event).await.unwrap(), None);
    // Other threads and channels are separate.
    assert_eq!(
        store
            .conversation_ticket(&conversation("t2"))
            .await
            .unwrap(),
        None
    );
    let other_channel = ConversationRef {
        channel: "email".into(),
        thread_id: "t1".into(),
    };
    assert_eq!(
        store.conversation_ticket(&other_channel).await.unwrap(),
        None
    );
}

pub async fn record_event_without_a_conversation_leaves_conversations_alone(
    store: Arc<dyn StateStore>,
) {
    let t1 = conversation("t1");
    store.set_conversation_ticket(&t1, 5).await.unwrap();
    let event = Uuid::new_v4();
    let routed = link(6, Effect::Routed);
    assert_eq!(
        store.record_event(event, routed, None).await.unwrap(),
        routed
    );
    assert_eq!(store.ticket_for_event(event).await.unwrap(), Some(routed));
    assert_eq!(store.conversation_ticket(&t1).await.unwrap(), Some(5));
}

pub async fn every_effect_round_trips(store: Arc<dyn StateStore>) {
    let effects = [
        Effect::Created,
        Effect::Commented,
        Effect::FollowUp,
        Effect::Routed,
    ];
    for (index, effect) in (1u64..).zip(effects) {
        let event = Uuid::new_v4();
        let expected = link(index, effect);
        store.record_event(event, expected, None).await.unwrap();
        assert_eq!(store.ticket_for_event(event).await.unwrap(), Some(expected));
        store
            .begin_effect(event, effect, Some(index))
            .await
            .unwrap();
        let pending = store.pending_effect(event).await.unwrap().unwrap();
        assert_eq!((pending.effect, pending.ticket_id), (effect, Some(index)));
    }
}

pub async fn pending_effects_can_be_replaced_and_cleared(store: Arc<dyn StateStore>) {
    let event = Uuid::new_v4();
    let other = Uuid::new_v4();
    let before = Utc::now() - chrono::Duration::seconds(5);
    store
        .begin_effect(event, Effect::Created, None)
        .await
        .unwrap();
    store
        .begin_effect(event, Effect::Commented, Some(41))
        .await
        .unwrap();
    store
        .begin_effect(other, Effect::Created, None)
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        (pending.effect, pending.ticket_id),
        (Effect::Commented, Some(41))
    );
    let after = Utc::now() + chrono::Duration::seconds(5);
    assert!(
        before <= pending.started_at && pending.started_at <= after,
        "started_at {} is not about now",
        pending.started_at
    );
    store.clear_pending(event).await.unwrap();
    assert_eq!(store.pending_effect(event).await.unwrap(), None);
    // Clearing is per event and clearing twice is fine.
    store.clear_pending(event).await.unwrap();
    assert!(store.pending_effect(other).await.unwrap().is_some());
}

pub async fn conversations_are_set_and_replaced(store: Arc<dyn StateStore>) {
    let t1 = conversation("t1");
    assert_eq!(store.conversation_ticket(&t1).await.unwrap(), None);
    store.set_conversation_ticket(&t1, 10).await.unwrap();
    store.set_conversation_ticket(&t1, 11).await.unwrap();
    assert_eq!(store.conversation_ticket(&t1).await.unwrap(), Some(11));
    // Large (but valid) ids and odd thread ids survive unchanged.
    let odd = conversation("thread with 'quotes', \"double\" and ünïcode");
    let big = i64::MAX as u64;
    store.set_conversation_ticket(&odd, big).await.unwrap();
    assert_eq!(store.conversation_ticket(&odd).await.unwrap(), Some(big));
}

pub async fn contacts_are_cached_and_replaced(store: Arc<dyn StateStore>) {
    assert_eq!(store.contact_user("chat:visitor-1").await.unwrap(), None);
    store.set_contact_user("chat:visitor-1", 100).await.unwrap();
    store.set_contact_user("chat:visitor-1", 101).await.unwrap();
    assert_eq!(
        store.contact_user("chat:visitor-1").await.unwrap(),
        Some(101)
    );
    assert_eq!(store.contact_user("chat:visitor-2").await.unwrap(), None);
}

pub async fn a_contact_is_forgotten_only_while_it_names_that_user(store: Arc<dyn StateStore>) {
    store.set_contact_user("chat:visitor-1", 100).await.unwrap();
    store.set_contact_user("chat:visitor-2", 100).await.unwrap();
    // Another replica cached a fresh id meanwhile: the stale id does not remove it.
    assert!(
        !store
            .forget_contact_user("chat:visitor-1", 99)
            .await
            .unwrap()
    );
    assert_eq!(
        store.contact_user("chat:visitor-1").await.unwrap(),
        Some(100)
    );
    assert!(
        store
            .forget_contact_user("chat:visitor-1", 100)
            .await
            .unwrap()
    );
    assert_eq!(store.contact_user("chat:visitor-1").await.unwrap(), None);
    assert_eq!(
        store.contact_user("chat:visitor-2").await.unwrap(),
        Some(100),
        "only the named contact is forgotten"
    );
    assert!(
        !store
            .forget_contact_user("chat:visitor-1", 100)
            .await
            .unwrap()
    );
    store.set_contact_user("chat:visitor-1", 101).await.unwrap();
    assert_eq!(
        store.contact_user("chat:visitor-1").await.unwrap(),
        Some(101)
    );
}

pub async fn ids_beyond_i64_are_a_typed_error(store: Arc<dyn StateStore>) {
    fn check(err: StoreError) {
        assert!(matches!(err, StoreError::InvalidValue(_)), "{err:?}");
        assert!(!err.is_retryable());
    }
    check(
        store
            .set_contact_user("chat:x", u64::MAX)
            .await
            .unwrap_err(),
    );
    check(
        store
            .set_conversation_ticket(&conversation("t1"), u64::MAX)
            .await
            .unwrap_err(),
    );
    let event = Uuid::new_v4();
    check(
        store
            .begin_effect(event, Effect::Commented, Some(u64::MAX))
            .await
            .unwrap_err(),
    );
    check(
        store
            .record_event(event, link(u64::MAX, Effect::Created), None)
            .await
            .unwrap_err(),
    );
    // Nothing was written by the failed calls.
    assert_eq!(store.ticket_for_event(event).await.unwrap(), None);
    assert_eq!(store.pending_effect(event).await.unwrap(), None);
    assert_eq!(store.contact_user("chat:x").await.unwrap(), None);
}

/// Many concurrent `record_event` calls for one event through one store: all
/// of them get the same (first) link, and the conversation points at it.
pub async fn concurrent_records_of_one_event_agree(store: Arc<dyn StateStore>) {
    const WRITERS: u64 = 12;
    for round in 0..5 {
        let event = Uuid::new_v4();
        let thread = conversation(&format!("race-{round}"));
        store
            .begin_effect(event, Effect::Created, None)
            .await
            .unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for writer in 0..WRITERS {
            let store = Arc::clone(&store);
            let thread = thread.clone();
            tasks.spawn(async move {
                store
                    .record_event(event, link(100 + writer, Effect::Created), Some(&thread))
                    .await
            });
        }
        let results: Vec<TicketLink> = tasks
            .join_all()
            .await
            .into_iter()
            .map(|result| result.unwrap())
            .collect();
        let stored = store.ticket_for_event(event).await.unwrap().unwrap();
        assert!(
            results.iter().all(|r| *r == stored),
            "{results:?} vs {stored:?}"
        );
        assert!((100..100 + WRITERS).contains(&stored.ticket_id));
        assert_eq!(
            store.conversation_ticket(&thread).await.unwrap(),
            Some(stored.ticket_id)
        );
        assert_eq!(store.pending_effect(event).await.unwrap(), None);
    }
}

/// What one store wrote, a store opened afresh on the same database reads.
pub async fn state_survives_reopen<F, Fut>(open: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = Arc<dyn StateStore>>,
{
    let event = Uuid::new_v4();
    let pending_event = Uuid::new_v4();
    let commented = link(42, Effect::Commented);
    {
        let store = open().await;
        store.check_ready().await.unwrap();
        store
            .record_event(event, commented, Some(&conversation("t9")))
            .await
            .unwrap();
        store
            .set_contact_user("email:a@example.com", 5)
            .await
            .unwrap();
        store
            .begin_effect(pending_event, Effect::Commented, Some(42))
            .await
            .unwrap();
        store.set_cursor("email:help:INBOX", "7:3").await.unwrap();
    }
    let store = open().await;
    assert_eq!(
        store.cursor("email:help:INBOX").await.unwrap().as_deref(),
        Some("7:3")
    );
    assert_eq!(
        store.ticket_for_event(event).await.unwrap(),
        Some(commented)
    );
    assert_eq!(
        store
            .conversation_ticket(&conversation("t9"))
            .await
            .unwrap(),
        Some(42)
    );
    assert_eq!(
        store.contact_user("email:a@example.com").await.unwrap(),
        Some(5)
    );
    let pending = store.pending_effect(pending_event).await.unwrap().unwrap();
    assert_eq!(pending.ticket_id, Some(42));
}

pub async fn cursors_are_stored_replaced_and_kept_per_scope(store: Arc<dyn StateStore>) {
    let inbox = "email:help@example.test:INBOX";
    let other = "telegram:bot-1";
    assert_eq!(store.cursor(inbox).await.unwrap(), None);
    store.set_cursor(inbox, "1700000000:41").await.unwrap();
    store.set_cursor(other, "9001").await.unwrap();
    assert_eq!(
        store.cursor(inbox).await.unwrap().as_deref(),
        Some("1700000000:41")
    );
    store.set_cursor(inbox, "1700000000:42").await.unwrap();
    assert_eq!(
        store.cursor(inbox).await.unwrap().as_deref(),
        Some("1700000000:42"),
        "a second write replaces the first"
    );
    assert_eq!(
        store.cursor(other).await.unwrap().as_deref(),
        Some("9001"),
        "scopes are independent"
    );
    // Values are opaque: any text round-trips unchanged.
    let odd = "ünïcödé 'quoted' \"and\" ;--";
    store.set_cursor(other, odd).await.unwrap();
    assert_eq!(store.cursor(other).await.unwrap().as_deref(), Some(odd));
}

// --- Acknowledgements ---

fn ack(
    outcome_id: Uuid,
    contact: &str,
    status: intake_store::AckStatus,
) -> intake_store::AckRecord {
    intake_store::AckRecord {
        outcome_id,
        channel: "chat".to_owned(),
        contact_key: contact.to_owned(),
        ticket_id: Some(42),
        status,
        reason: (status != intake_store::AckStatus::Sent).then(|| "comment".to_owned()),
        // Whole microseconds: both backends keep that precision.
        at: chrono::DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap(),
    }
}

pub async fn acknowledgements_first_decision_wins(store: Arc<dyn StateStore>) {
    use intake_store::AckStatus;
    let outcome = Uuid::new_v4();
    assert_eq!(store.acknowledgement(outcome).await.unwrap(), None);
    let first = ack(outcome, "chat:v1", AckStatus::Sent);
    assert_eq!(store.record_acknowledgement(&first).await.unwrap(), first);
    let mut second = ack(outcome, "chat:v1", AckStatus::Failed);
    second.ticket_id = None;
    assert_eq!(
        store.record_acknowledgement(&second).await.unwrap(),
        first,
        "a redelivered outcome keeps the first decision"
    );
    assert_eq!(store.acknowledgement(outcome).await.unwrap(), Some(first));
    let suppressed = ack(Uuid::new_v4(), "chat:v1", AckStatus::Suppressed);
    store.record_acknowledgement(&suppressed).await.unwrap();
    assert_eq!(
        store
            .acknowledgement(suppressed.outcome_id)
            .await
            .unwrap()
            .map(|r| (r.status, r.reason)),
        Some((AckStatus::Suppressed, Some("comment".to_owned())))
    );
}

pub async fn last_acknowledgement_counts_only_sent_ones_per_contact(store: Arc<dyn StateStore>) {
    use intake_store::AckStatus;
    assert_eq!(
        store.last_acknowledgement_sent("chat:a").await.unwrap(),
        None
    );
    let mut older = ack(Uuid::new_v4(), "chat:a", AckStatus::Sent);
    older.at -= chrono::Duration::minutes(30);
    let newer = ack(Uuid::new_v4(), "chat:a", AckStatus::Sent);
    let mut suppressed_later = ack(Uuid::new_v4(), "chat:a", AckStatus::Suppressed);
    suppressed_later.at += chrono::Duration::minutes(5);
    let other_contact = {
        let mut r = ack(Uuid::new_v4(), "chat:b", AckStatus::Sent);
        r.at += chrono::Duration::minutes(10);
        r
    };
    for record in [&newer, &older, &suppressed_later, &other_contact] {
        store.record_acknowledgement(record).await.unwrap();
    }
    assert_eq!(
        store.last_acknowledgement_sent("chat:a").await.unwrap(),
        Some(newer.at)
    );
    assert_eq!(
        store.last_acknowledgement_sent("chat:b").await.unwrap(),
        Some(other_contact.at)
    );
}

fn parked(group: &str, lane: &str, attempts: u32) -> intake_store::ParkedLane {
    let at = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00.123456Z")
        .unwrap()
        .with_timezone(&Utc);
    intake_store::ParkedLane {
        consumer_group: group.to_owned(),
        lane: lane.to_owned(),
        channel: "chat".to_owned(),
        event_id: Uuid::new_v4(),
        reason: "failing".to_owned(),
        attempts,
        first_failure_at: at,
        resume_at: at + chrono::Duration::seconds(i64::from(attempts)),
        last_error: "zendesk show_ticket returned 503".to_owned(),
        history: vec!["first\nline".to_owned(), "second".to_owned()],
    }
}

pub async fn parked_lanes_are_written_replaced_listed_and_removed(store: Arc<dyn StateStore>) {
    assert!(store.parked_lanes(None).await.unwrap().is_empty());
    let a = parked("g1", "thread:chat:a", 3);
    let b = parked("g1", "contact:email:b@x.test", 1);
    let other = parked("g2", "thread:chat:a", 2);
    for lane in [&a, &b, &other] {
        store.park_lane(lane).await.unwrap();
    }
    let listed = store.parked_lanes(Some("g1")).await.unwrap();
    // Earliest resume first; newlines inside a history line are flattened.
    let mut expected_b = b.clone();
    expected_b.history = vec!["first line".to_owned(), "second".to_owned()];
    let mut expected_a = a.clone();
    expected_a.history = expected_b.history.clone();
    assert_eq!(listed, vec![expected_b, expected_a.clone()]);
    assert_eq!(store.parked_lanes(None).await.unwrap().len(), 3);

    // Parking the lane again replaces its row.
    let mut again = a.clone();
    again.attempts = 4;
    again.reason = "ticket_limit".to_owned();
    again.history.push("third".to_owned());
    store.park_lane(&again).await.unwrap();
    let listed = store.parked_lanes(Some("g1")).await.unwrap();
    let row = listed.iter().find(|p| p.lane == a.lane).unwrap();
    assert_eq!((row.attempts, row.reason.as_str()), (4, "ticket_limit"));
    assert_eq!(row.history.len(), 3);

    store.unpark_lane("g1", &a.lane).await.unwrap();
    store.unpark_lane("g1", "never-parked").await.unwrap();
    let left: Vec<String> = store
        .parked_lanes(None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| format!("{}/{}", p.consumer_group, p.lane))
        .collect();
    assert_eq!(left, ["g1/contact:email:b@x.test", "g2/thread:chat:a"]);
}

pub async fn a_pending_comment_keeps_its_updated_stamp_until_replaced(store: Arc<dyn StateStore>) {
    let event = Uuid::new_v4();
    store
        .begin_comment(event, 42, "2026-12-01T10:00:00Z")
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        (
            pending.effect,
            pending.ticket_id,
            pending.updated_stamp.as_deref()
        ),
        (Effect::Commented, Some(42), Some("2026-12-01T10:00:00Z"))
    );
    // A new stamp replaces the old one; a plain begin_effect clears it.
    store
        .begin_comment(event, 42, "2026-12-01T10:00:05Z")
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        pending.updated_stamp.as_deref(),
        Some("2026-12-01T10:00:05Z")
    );
    store
        .begin_effect(event, Effect::Created, None)
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        (pending.effect, pending.updated_stamp),
        (Effect::Created, None)
    );
    store
        .record_event(event, link(42, Effect::Created), None)
        .await
        .unwrap();
    assert_eq!(store.pending_effect(event).await.unwrap(), None);
}

fn agent_reply(comment_id: u64, ticket_id: u64, text: &str) -> intake_store::AgentReply {
    intake_store::AgentReply {
        comment_id,
        ticket_id,
        conversation: conversation("t-agent"),
        text: text.to_owned(),
        subject: Some(format!("Заказ {comment_id}")),
        attachments: vec![intake_store::ReplyFile {
            file_name: "счёт.pdf".to_owned(),
            url: format!("https://x.example/{comment_id}.pdf"),
        }],
        status: intake_store::AgentReplyStatus::Pending,
        reason: None,
    }
}

pub async fn a_ticket_finds_its_conversation(store: Arc<dyn StateStore>) {
    assert_eq!(store.ticket_conversation(77).await.unwrap(), None);
    store
        .set_conversation_ticket(&conversation("t1"), 77)
        .await
        .unwrap();
    assert_eq!(
        store.ticket_conversation(77).await.unwrap(),
        Some(conversation("t1"))
    );
    assert_eq!(store.ticket_conversation(78).await.unwrap(), None);
}

pub async fn an_agent_reply_is_claimed_once_and_resumed_while_pending(store: Arc<dyn StateStore>) {
    use intake_store::AgentReplyStatus;
    assert!(
        store
            .claim_agent_reply(&agent_reply(9, 77, "hello"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_agent_reply(&agent_reply(9, 77, "other"))
            .await
            .unwrap(),
        "a second claim of the same comment id is refused"
    );
    assert!(
        store
            .claim_agent_reply(&agent_reply(5, 77, "first"))
            .await
            .unwrap()
    );
    let pending = store.pending_agent_replies().await.unwrap();
    assert_eq!(
        pending,
        [agent_reply(5, 77, "first"), agent_reply(9, 77, "hello")]
    );
    store
        .finish_agent_reply(5, AgentReplyStatus::Sent, None)
        .await
        .unwrap();
    store
        .finish_agent_reply(9, AgentReplyStatus::Failed, Some("rejected"))
        .await
        .unwrap();
    assert!(store.pending_agent_replies().await.unwrap().is_empty());
    assert!(
        !store
            .claim_agent_reply(&agent_reply(9, 77, "hello"))
            .await
            .unwrap(),
        "a finished reply stays claimed"
    );
}

mod claims;
mod contacts;
mod native;
pub use claims::*;
pub use contacts::*;
pub use native::*;
