//! Two router replicas on one PostgreSQL store (`INTAKE_TEST_POSTGRES`):
//! one lease, so each ticket is warned once; when the leader stops, the
//! other replica takes over and marks the breaches.

mod common;

use std::sync::Arc;

use common::{World, counter, t0, wait_stage, watch};
use intake_sla_watch::telemetry::names;
use intake_store::{PostgresOptions, PostgresStore, SlaStage, StateStore};
use secrecy::SecretString;

const SERVER_ENV: &str = "INTAKE_TEST_POSTGRES";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_warn_each_ticket_once_and_hand_over() {
    const POLICY: &str = "email_replicas";
    let Some(url) = std::env::var(SERVER_ENV).ok().filter(|v| !v.is_empty()) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "{SERVER_ENV} is not set (scripts/test-services)"
        );
        eprintln!("skipping: {SERVER_ENV} is not set");
        return;
    };
    let url = SecretString::from(url);
    let schema = format!("intake_test_{}", uuid::Uuid::new_v4().simple());
    let options = PostgresOptions {
        max_connections: 4,
        schema: Some(schema.clone()),
        ..PostgresOptions::default()
    };
    let replica_a = Arc::new(PostgresStore::connect(&url, options.clone()).await.unwrap());
    let replica_b = Arc::new(PostgresStore::connect(&url, options).await.unwrap());
    let (store_a, store_b): (Arc<dyn StateStore>, Arc<dyn StateStore>) =
        (replica_a.clone(), replica_b.clone());

    let world = World::new().await;
    let mut tickets = Vec::new();
    for name in ["ira", "kira", "lev", "mila", "nina"] {
        let (ticket, _) = world.ticket(name).await;
        assert!(
            store_a
                .watch_sla(&watch(ticket, POLICY, 30, 0))
                .await
                .unwrap()
        );
        tickets.push(ticket);
    }
    world.clock.set(t0() + chrono::Duration::minutes(1));

    let mut a = world.start(Arc::clone(&store_a), world.options());
    let mut b = world.start(Arc::clone(&store_b), world.options());
    for ticket in &tickets {
        wait_stage(&store_b, *ticket, SlaStage::Warned).await;
    }
    // Both keep scanning for a while: nothing more happens.
    a.scans_more(5).await;
    b.scans_more(5).await;
    for ticket in &tickets {
        assert_eq!(world.notes(*ticket).await.len(), 1, "ticket {ticket}");
    }
    assert_eq!(world.slack_posts().len(), tickets.len());
    assert_eq!(counter(names::WARNINGS, POLICY), tickets.len() as u64);

    // One replica stops (whichever led, the other one goes on).
    a.stop().await;
    world.clock.set(t0() + chrono::Duration::minutes(30));
    for ticket in &tickets {
        wait_stage(&store_a, *ticket, SlaStage::Breached).await;
    }
    b.scans_more(3).await;
    b.stop().await;
    assert_eq!(counter(names::BREACHES, POLICY), tickets.len() as u64);
    assert_eq!(world.slack_posts().len(), tickets.len());

    replica_a.close().await;
    replica_b.close().await;
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(
        secrecy::ExposeSecret::expose_secret(&url),
    )
    .await
    .unwrap();
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&mut conn)
        .await
        .unwrap();
}
