//! The shared behavioural suite and SQLite-only checks, on temporary files.

mod suite;

use std::path::Path;
use std::sync::Arc;

use intake_store::{SqliteStore, StateStore, StoreError};

async fn open(path: &Path) -> Arc<dyn StateStore> {
    Arc::new(SqliteStore::open(path).await.unwrap())
}

/// One `#[tokio::test]` per suite function, each on its own fresh file.
macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let dir = tempfile::tempdir().unwrap();
            let store = open(&dir.path().join("state.db")).await;
            assert_eq!(store.backend(), "sqlite");
            suite::$name(store).await;
        }
    )*};
}

suite_tests!(
    recording_an_event_twice_keeps_the_first,
    record_event_points_the_conversation_and_clears_pending,
    record_event_without_a_conversation_leaves_conversations_alone,
    every_effect_round_trips,
    pending_effects_can_be_replaced_and_cleared,
    conversations_are_set_and_replaced,
    contacts_are_cached_and_replaced,
    a_contact_is_forgotten_only_while_it_names_that_user,
    ids_beyond_i64_are_a_typed_error,
    concurrent_records_of_one_event_agree,
    cursors_are_stored_replaced_and_kept_per_scope,
    acknowledgements_first_decision_wins,
    last_acknowledgement_counts_only_sent_ones_per_contact,
    parked_lanes_are_written_replaced_listed_and_removed,
    a_pending_comment_keeps_its_updated_stamp_until_replaced,
    a_ticket_finds_its_conversation,
    an_agent_reply_is_claimed_once_and_resumed_while_pending,
    a_conversation_claim_has_one_holder_and_a_growing_token,
    a_lease_has_one_holder_until_released_or_expired,
    sla_watches_are_recorded_once_listed_when_due_and_advanced_once,
    the_last_inbound_message_of_a_conversation_is_kept,
    a_contact_link_is_decided_once,
    cross_channel_claims_find_the_original_once,
    concurrent_cross_channel_claims_have_one_original,
    native_tickets_are_recorded_once_and_marked_applied_once,
);

#[tokio::test]
async fn state_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested").join("state.db");
    suite::state_survives_reopen(|| open(&path)).await;
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

/// A gateway and a router opening one new file at the same moment both get
/// a migrated store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_opening_a_new_file_together_all_succeed() {
    for _ in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let mut opening = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let path = path.clone();
            opening.spawn(async move { SqliteStore::open(path).await });
        }
        for opened in opening.join_all().await {
            let store = opened.expect("a concurrent open");
            assert_eq!(
                store.acknowledgement(uuid::Uuid::new_v4()).await.unwrap(),
                None
            );
        }
    }
}
