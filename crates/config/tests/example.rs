//! `config/intake.example.toml` stays loadable and complete.

mod common;

use common::{CHAT_SECRET, env};
use intake_config::{BusBackend, StoreConfig, TicketPriority, load_from};
use secrecy::ExposeSecret;

const EXAMPLE: &str = include_str!("../../../config/intake.example.toml");

fn example_env(extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs = vec![
        ("ZENDESK_API_TOKEN", "example-zendesk-token"),
        ("INTAKE_CHAT_SECRET", CHAT_SECRET),
    ];
    pairs.extend_from_slice(extra);
    env(&pairs)
}

#[test]
fn the_example_loads_cleanly_with_its_variables_set() {
    let config = load_from(Some(EXAMPLE), &example_env(&[])).unwrap_or_else(|e| panic!("{e}"));
    config.require_router().unwrap_or_else(|e| panic!("{e}"));
    config.require_gateway().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.channels.chat.priority, TicketPriority::High);
    assert_eq!(config.channels.chat.group_id, Some(360_000_123_456));
    assert_eq!(config.log.level, "info,intake_router=debug");
}

#[test]
fn the_example_loads_with_kafka_and_postgres_selected() {
    let config = load_from(
        Some(EXAMPLE),
        &example_env(&[
            ("INTAKE__BUS__BACKEND", "kafka"),
            ("INTAKE__STORE__BACKEND", "postgres"),
            ("KAFKA_SASL_PASSWORD", "kafka-pw"),
            ("INTAKE_POSTGRES_URL", "postgres://intake:pw@db:5432/intake"),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let BusBackend::Kafka(kafka) = &config.bus.backend else {
        panic!("kafka expected");
    };
    assert_eq!(kafka.brokers.len(), 3);
    assert_eq!(kafka.replication_factor, 3);
    assert_eq!(kafka.properties["security.protocol"], "SASL_SSL");
    assert_eq!(
        kafka
            .sasl_password
            .as_ref()
            .map(|s| s.expose_secret().to_owned()),
        Some("kafka-pw".to_owned())
    );
    assert!(matches!(config.store, StoreConfig::Postgres { .. }));
}

#[test]
fn the_example_sets_every_key_the_loader_knows() {
    // A key missing from the example would be undocumented: check each
    // section's keys against the unknown-key message, which lists them all.
    let probe = "[log]\nx=1\n[service]\nx=1\n[http]\nx=1\n[ops]\nx=1\n[bus]\nx=1\n[bus.embedded]\nx=1\n\
                 [bus.kafka]\nx=1\n[store]\nx=1\n[blob]\nx=1\n[blob.s3]\nx=1\n[zendesk]\nx=1\n[router]\nx=1\n\
                 [channels]\nx=1\n[channels.chat]\nx=1\n\
                 [acknowledgements]\nx=1\n[acknowledgements.channels.chat]\nx=1\n";
    let errors = load_from(Some(probe), &[]).unwrap_err();
    assert_eq!(
        errors.problems.len(),
        16,
        "one unknown key per section: {errors}"
    );
    let example: toml::Table = EXAMPLE.parse().expect("example is TOML");
    for problem in &errors.problems {
        let section = problem.key.trim_end_matches(".x");
        let expected = problem
            .message
            .split_once("expected ")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{problem}"));
        let mut table = &example;
        for part in section.split('.') {
            table = table[part]
                .as_table()
                .unwrap_or_else(|| panic!("{section}"));
        }
        for key in expected.split('`').skip(1).step_by(2) {
            let documented = table.contains_key(key)
                || EXAMPLE.contains(&format!("{key} = "))
                || EXAMPLE.contains(&format!("{key} ="))
                || EXAMPLE.contains(&format!("[{section}.{key}]"));
            assert!(documented, "{section}.{key} is not in the example");
        }
    }
}
