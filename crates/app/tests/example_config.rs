//! `config/intake.example.toml` stays loadable and complete, with every
//! channel of the app's registration list (moved from the config crate, which
//! knows no channel).

use intake_config::{
    BusBackend, Config, ConfigErrors, GENERIC_CHANNEL_KEYS, StoreConfig, TicketPriority,
};
use secrecy::ExposeSecret;

const EXAMPLE: &str = include_str!("../../../config/intake.example.toml");

/// A valid Standard Webhooks secret (base64 of 32 ASCII bytes).
const CHAT_SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

fn load_from(text: Option<&str>, env: &[(String, String)]) -> Result<Config, ConfigErrors> {
    intake_config::load_from(text, env, &intake_app::channel_sections())
}

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
    let chat = config.channels.routing("chat").expect("chat routing");
    assert_eq!(chat.priority, TicketPriority::High);
    assert_eq!(chat.group_id, Some(360_000_123_456));
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
    // section's keys against the unknown-key message, which lists them all
    // (a channel section's own keys; the generic ones are checked below).
    let mut probe = "[log]\nx=1\n[service]\nx=1\n[http]\nx=1\n[ops]\nx=1\n[bus]\nx=1\n[bus.embedded]\nx=1\n\
                 [bus.kafka]\nx=1\n[store]\nx=1\n[blob]\nx=1\n[blob.s3]\nx=1\n[zendesk]\nx=1\n[router]\nx=1\n\
                 [acknowledgements]\nx=1\n[acknowledgements.channels.chat]\nx=1\n\
                 [sla_watch]\nx=1\n"
        .to_owned();
    let channels = intake_app::channel_sections();
    for section in &channels {
        probe.push_str(&format!("[channels.{}]\nx=1\n", section.name()));
    }
    let errors = load_from(Some(&probe), &[]).unwrap_err();
    assert_eq!(
        errors.problems.len(),
        15 + channels.len(),
        "one unknown key per section: {errors}"
    );
    let example: toml::Table = EXAMPLE.parse().expect("example is TOML");
    for section in &channels {
        let table = example["channels"][section.name()]
            .as_table()
            .unwrap_or_else(|| panic!("no [channels.{}] in the example", section.name()));
        for key in GENERIC_CHANNEL_KEYS {
            let documented = table.contains_key(*key) || EXAMPLE.contains(&format!("# {key} = "));
            assert!(
                documented,
                "channels.{}.{key} is not in the example",
                section.name()
            );
        }
    }
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

/// Moved from the config crate's blob tests (the example needs every
/// registered channel to load).
#[test]
fn the_example_loads_with_s3_selected() {
    let config = load_from(
        Some(EXAMPLE),
        &example_env(&[
            ("INTAKE__BLOB__BACKEND", "s3"),
            ("INTAKE_S3_ACCESS_KEY_ID", "AKIDEXAMPLE"),
            ("INTAKE_S3_SECRET_ACCESS_KEY", "example-secret"),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let s3 = config.blob.s3.expect("s3 backend");
    assert_eq!(s3.bucket, "intake-blobs");
    assert!(s3.access_key.is_some());
}

/// Moved from the config crate's working-time tests.
#[test]
fn the_example_sla_policies_load() {
    let config = load_from(Some(EXAMPLE), &example_env(&[])).unwrap_or_else(|e| panic!("{e}"));
    let urgent = config
        .working_time
        .sla
        .policy_for("email", Some(intake_calendar::Priority::Urgent))
        .unwrap();
    assert_eq!(urgent.name, "email_urgent");
}
