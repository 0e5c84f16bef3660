//! The SQLite state store on a temporary file.

use intake_store::{ConversationRef, Effect, SqliteStore, StateStore, StoreError, TicketLink};
use uuid::Uuid;

fn conversation(thread: &str) -> ConversationRef {
    ConversationRef {
        channel: "chat".to_owned(),
        thread_id: thread.to_owned(),
    }
}

#[tokio::test]
async fn recording_an_event_twice_keeps_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    let event = Uuid::new_v4();
    assert_eq!(store.ticket_for_event(event).await.unwrap(), None);

    let first = TicketLink {
        ticket_id: 7,
        effect: Effect::Created,
    };
    let second = TicketLink {
        ticket_id: 8,
        effect: Effect::Commented,
    };
    assert_eq!(
        store
            .record_event(event, first, Some(&conversation("t1")))
            .await
            .unwrap(),
        first
    );
    assert_eq!(
        store
            .record_event(event, second, Some(&conversation("t1")))
            .await
            .unwrap(),
        first
    );
    assert_eq!(store.ticket_for_event(event).await.unwrap(), Some(first));
    // The losing write did not move the conversation either.
    assert_eq!(
        store
            .conversation_ticket(&conversation("t1"))
            .await
            .unwrap(),
        Some(7)
    );
}

#[tokio::test]
async fn record_event_points_the_conversation_and_clears_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    let event = Uuid::new_v4();
    store
        .set_conversation_ticket(&conversation("t1"), 1)
        .await
        .unwrap();
    store
        .begin_effect(event, Effect::FollowUp, None)
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(pending.effect, Effect::FollowUp);
    assert_eq!(pending.ticket_id, None);

    let link = TicketLink {
        ticket_id: 2,
        effect: Effect::FollowUp,
    };
    store
        .record_event(event, link, Some(&conversation("t1")))
        .await
        .unwrap();
    assert_eq!(
        store
            .conversation_ticket(&conversation("t1"))
            .await
            .unwrap(),
        Some(2)
    );
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

#[tokio::test]
async fn pending_effects_can_be_replaced_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    let event = Uuid::new_v4();
    store
        .begin_effect(event, Effect::Created, None)
        .await
        .unwrap();
    store
        .begin_effect(event, Effect::Commented, Some(41))
        .await
        .unwrap();
    let pending = store.pending_effect(event).await.unwrap().unwrap();
    assert_eq!(
        (pending.effect, pending.ticket_id),
        (Effect::Commented, Some(41))
    );
    store.clear_pending(event).await.unwrap();
    assert_eq!(store.pending_effect(event).await.unwrap(), None);
}

#[tokio::test]
async fn contacts_are_cached_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    assert_eq!(store.contact_user("chat:visitor-1").await.unwrap(), None);
    store.set_contact_user("chat:visitor-1", 100).await.unwrap();
    store.set_contact_user("chat:visitor-1", 101).await.unwrap();
    assert_eq!(
        store.contact_user("chat:visitor-1").await.unwrap(),
        Some(101)
    );
    assert_eq!(store.contact_user("chat:visitor-2").await.unwrap(), None);
}

#[tokio::test]
async fn ids_beyond_i64_are_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("state.db"))
        .await
        .unwrap();
    let err = store
        .set_contact_user("chat:x", u64::MAX)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidValue(_)), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    let event = Uuid::new_v4();
    let pending_event = Uuid::new_v4();
    let link = TicketLink {
        ticket_id: 42,
        effect: Effect::Commented,
    };
    {
        let store = SqliteStore::open(&path).await.unwrap();
        store.check_ready().await.unwrap();
        store
            .record_event(event, link, Some(&conversation("t9")))
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
        store.close().await;
    }
    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.ticket_for_event(event).await.unwrap(), Some(link));
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

#[tokio::test]
async fn an_unopenable_path_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, b"x").unwrap();
    // A path under a regular file cannot be created.
    let err = SqliteStore::open(file.join("state.db")).await.unwrap_err();
    assert!(matches!(err, StoreError::Open(_)), "{err:?}");
}
