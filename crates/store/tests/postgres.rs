//! The shared behavioural suite and PostgreSQL-only checks (replica races,
//! error mapping, secrets) against the server in `INTAKE_TEST_POSTGRES`
//! (`scripts/test-services start` runs one). Each test works in its own schema.

mod suite;

use std::sync::Arc;
use std::time::Duration;

use intake_store::{Effect, PostgresOptions, PostgresStore, StateStore, StoreError, TicketLink};
use secrecy::SecretString;
use sqlx::Connection;
use uuid::Uuid;

const SERVER_ENV: &str = "INTAKE_TEST_POSTGRES";
/// Put into the test URL to check it never leaks (the server trusts loopback,
/// so any password is accepted and never asked for).
const PASSWORD: &str = "pw-never-shown-7f3a";

/// A private schema on the test server, dropped at the end of a passing test.
struct TestDb {
    url: SecretString,
    schema: String,
}

impl TestDb {
    /// None (after a notice) when no server is configured outside CI.
    fn new() -> Option<Self> {
        let Some(raw) = std::env::var(SERVER_ENV).ok().filter(|v| !v.is_empty()) else {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{SERVER_ENV} is not set; run `scripts/test-services start` and \
                     `eval \"$(scripts/test-services env)\"`"
                );
            }
            eprintln!(
                "skipping: {SERVER_ENV} is not set (run `scripts/test-services start` and \
                 `eval \"$(scripts/test-services env)\"`)"
            );
            return None;
        };
        let mut url = url::Url::parse(&raw).expect("INTAKE_TEST_POSTGRES is not a URL");
        url.set_password(Some(PASSWORD)).unwrap();
        Some(Self {
            url: SecretString::from(url.to_string()),
            schema: format!("intake_test_{}", Uuid::new_v4().simple()),
        })
    }

    fn options(&self) -> PostgresOptions {
        PostgresOptions {
            max_connections: 4,
            schema: Some(self.schema.clone()),
            ..PostgresOptions::default()
        }
    }

    async fn open(&self) -> PostgresStore {
        PostgresStore::connect(&self.url, self.options())
            .await
            .unwrap()
    }

    /// A plain connection, for what the store does not do.
    async fn raw(&self) -> sqlx::PgConnection {
        use secrecy::ExposeSecret;
        sqlx::PgConnection::connect(self.url.expose_secret())
            .await
            .unwrap()
    }

    async fn drop_schema(self) {
        let mut conn = self.raw().await;
        sqlx::query(&format!(
            "DROP SCHEMA IF EXISTS \"{}\" CASCADE",
            self.schema
        ))
        .execute(&mut conn)
        .await
        .unwrap();
    }
}

/// One test per suite function, each in its own schema.
macro_rules! suite_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(db) = TestDb::new() else { return };
            let store = db.open().await;
            assert_eq!(store.backend(), "postgres");
            suite::$name(Arc::new(store.clone())).await;
            store.close().await;
            db.drop_schema().await;
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
    let Some(db) = TestDb::new() else { return };
    suite::state_survives_reopen(|| async {
        let store: Arc<dyn StateStore> = Arc::new(db.open().await);
        store
    })
    .await;
    db.drop_schema().await;
}

/// Several replicas (separate pools) start together on a new schema, then race
/// on the same events: every call returns the first link, which is what is
/// stored, and the conversation follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_racing_on_one_event_all_see_the_first_link() {
    const REPLICAS: usize = 4;
    const TASKS_PER_REPLICA: u64 = 6;
    const EVENTS: usize = 15;
    let Some(db) = TestDb::new() else { return };
    let mut opening = tokio::task::JoinSet::new();
    for _ in 0..REPLICAS {
        let (url, options) = (db.url.clone(), db.options());
        opening.spawn(async move { PostgresStore::connect(&url, options).await });
    }
    let replicas: Vec<Arc<PostgresStore>> = opening
        .join_all()
        .await
        .into_iter()
        .map(|opened| Arc::new(opened.expect("concurrent start of replicas")))
        .collect();

    for round in 0..EVENTS {
        let event = Uuid::new_v4();
        let thread = suite::conversation(&format!("replica-race-{round}"));
        replicas[0]
            .begin_effect(event, Effect::Created, None)
            .await
            .unwrap();
        let writers = REPLICAS * TASKS_PER_REPLICA as usize;
        let barrier = Arc::new(tokio::sync::Barrier::new(writers));
        let mut tasks = tokio::task::JoinSet::new();
        for (replica_index, replica) in replicas.iter().enumerate() {
            for task in 0..TASKS_PER_REPLICA {
                let (replica, barrier, thread) =
                    (Arc::clone(replica), Arc::clone(&barrier), thread.clone());
                let ticket_id = 1_000 * (replica_index as u64 + 1) + task;
                tasks.spawn(async move {
                    barrier.wait().await;
                    let proposed = suite::link(ticket_id, Effect::Created);
                    let got = replica.record_event(event, proposed, Some(&thread)).await;
                    (proposed, got)
                });
            }
        }
        let results = tokio::time::timeout(Duration::from_secs(60), tasks.join_all())
            .await
            .expect("racing record_event calls did not finish in 60 s");
        let stored: TicketLink = replicas[REPLICAS - 1]
            .ticket_for_event(event)
            .await
            .unwrap()
            .unwrap();
        let winners = results
            .iter()
            .filter(|(proposed, _)| *proposed == stored)
            .count();
        assert_eq!(winners, 1, "exactly one writer proposed the stored link");
        for (proposed, got) in &results {
            let got = got.as_ref().unwrap_or_else(|e| panic!("{proposed:?}: {e}"));
            assert_eq!(*got, stored, "round {round}");
        }
        for replica in &replicas {
            assert_eq!(
                replica.conversation_ticket(&thread).await.unwrap(),
                Some(stored.ticket_id)
            );
            assert_eq!(replica.pending_effect(event).await.unwrap(), None);
        }
    }
    for replica in &replicas {
        replica.close().await;
    }
    db.drop_schema().await;
}

/// Real server errors, raised with their SQLSTATE, map to the right kind.
#[tokio::test]
async fn server_errors_say_whether_a_retry_may_work() {
    let Some(db) = TestDb::new() else { return };
    let mut conn = db.raw().await;
    let cases = [
        ("40001", true),  // serialization failure
        ("40P01", true),  // deadlock
        ("08006", true),  // connection failure
        ("57014", true),  // statement timeout / cancel
        ("55P03", true),  // lock not available
        ("23505", false), // unique violation
        ("42P01", false), // undefined table
        ("22003", false), // numeric value out of range
    ];
    for (sqlstate, retryable) in cases {
        let error = sqlx::query(&format!(
            "DO $$ BEGIN RAISE EXCEPTION 'raised by test' USING ERRCODE = '{sqlstate}'; END $$"
        ))
        .execute(&mut conn)
        .await
        .unwrap_err();
        let error = StoreError::from(error);
        assert_eq!(error.is_retryable(), retryable, "{sqlstate}: {error:?}");
    }
    // A real statement timeout, from the store's own setting: another
    // connection holds the contact's row lock, so the store's update waits.
    let store = PostgresStore::connect(
        &db.url,
        PostgresOptions {
            statement_timeout: Duration::from_millis(200),
            ..db.options()
        },
    )
    .await
    .unwrap();
    store.set_contact_user("chat:locked", 1).await.unwrap();
    let mut holder = db.raw().await;
    let mut tx = holder.begin().await.unwrap();
    sqlx::query(&format!(
        "SELECT user_id FROM \"{}\".contacts WHERE contact_key = 'chat:locked' FOR UPDATE",
        db.schema
    ))
    .execute(&mut *tx)
    .await
    .unwrap();
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        store.set_contact_user("chat:locked", 2),
    )
    .await
    .expect("the statement timeout did not fire")
    .unwrap_err();
    assert!(error.is_retryable(), "{error:?}");
    tx.rollback().await.unwrap();
    store.set_contact_user("chat:locked", 2).await.unwrap();
    assert_eq!(store.contact_user("chat:locked").await.unwrap(), Some(2));
    store.close().await;
    db.drop_schema().await;
}

#[tokio::test]
async fn debug_output_never_shows_the_url() {
    let Some(db) = TestDb::new() else { return };
    let store = db.open().await;
    let shown = format!("{store:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    assert!(!shown.contains("postgres://"), "{shown}");
    store.close().await;
    db.drop_schema().await;
}

/// No server needed: nothing listens on the port, so connecting fails.
#[tokio::test]
async fn an_unreachable_server_is_retryable_and_hides_the_password() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let url = SecretString::from(format!("postgres://intake:{PASSWORD}@127.0.0.1:{port}/db"));
    let options = PostgresOptions {
        acquire_timeout: Duration::from_secs(2),
        ..PostgresOptions::default()
    };
    let started = std::time::Instant::now();
    let err = PostgresStore::connect(&url, options).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(err.is_retryable(), "{err:?}");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(PASSWORD), "{shown}");
}

#[tokio::test]
async fn a_bad_url_or_schema_is_a_typed_error_without_the_password() {
    let url = SecretString::from(format!(
        "postgres://intake:{PASSWORD}@127.0.0.1:notaport/db"
    ));
    let err = PostgresStore::connect(&url, PostgresOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Open(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err:?}");

    let url = SecretString::from(format!("postgres://intake:{PASSWORD}@127.0.0.1:1/db"));
    let options = PostgresOptions {
        schema: Some("Robert'); DROP TABLE students;--".to_owned()),
        ..PostgresOptions::default()
    };
    let err = PostgresStore::connect(&url, options).await.unwrap_err();
    assert!(matches!(err, StoreError::InvalidValue(_)), "{err:?}");
}
