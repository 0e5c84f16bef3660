//! Loading: defaults, environment overrides, secrets, and problems reported
//! all at once with their key paths.

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use common::{CHAT_SECRET, env};
use common::{load, load_from};
use intake_config::{BusBackend, LogFormat, StoreConfig, TicketPriority, ZendeskAuth};
use secrecy::ExposeSecret;

#[test]
fn no_file_gives_every_default() {
    let config = load_from(None, &[]).expect("defaults are valid");
    assert_eq!(config.log.format, LogFormat::Human);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.service.shutdown_deadline, Duration::from_secs(15));
    assert_eq!(
        config.http.listen,
        "127.0.0.1:8080".parse::<SocketAddr>().unwrap()
    );
    assert_eq!(config.http.max_body_bytes, 10_485_760);
    assert_eq!(config.bus.topic_prefix, "intake");
    match &config.bus.backend {
        BusBackend::Embedded(embedded) => {
            assert_eq!(embedded.path, PathBuf::from("data/bus.sqlite"))
        }
        other => panic!("default bus is embedded, got {other:?}"),
    }
    match &config.store {
        StoreConfig::Sqlite { path } => assert_eq!(path, &PathBuf::from("data/state.sqlite")),
        other => panic!("default store is sqlite, got {other:?}"),
    }
    assert_eq!(config.blob.dir, PathBuf::from("data/blobs"));

    assert!(config.zendesk.account.is_none());
    assert_eq!(config.zendesk.requests_per_minute.get(), 200);
    assert_eq!(config.zendesk.request_timeout, Duration::from_secs(30));
    assert_eq!(config.zendesk.max_attempts.get(), 5);

    assert_eq!(config.router.consumer_group, "intake-router");
    assert_eq!(
        config.router.channel_priority,
        ["chat", "telegram", "whatsapp", "slack", "email"]
    );
    assert_eq!(
        config.router.retry_initial_backoff,
        Duration::from_millis(500)
    );
    assert_eq!(config.router.retry_max_backoff, Duration::from_secs(60));
    assert_eq!(config.router.subject_max_chars.get(), 80);
    assert_eq!(config.router.max_in_flight, None, "sized from the budget");
    assert_eq!(config.router.max_held_events.get(), 1000);
    assert_eq!(config.router.retry_max_attempts.get(), 100);
    assert_eq!(config.router.retry_max_age, Duration::from_secs(21600));
    assert_eq!(config.router.claim_ttl, Duration::from_secs(30));

    // Chat is enabled by default; without its secret there are no options
    // (the gateway role reports the secret missing, see below).
    assert!(config.channels.is_enabled("chat"));
    assert!(
        config
            .channels
            .options::<intake_channel_chat::Chat>()
            .is_none()
    );
    let routing = config.channels.routing("chat").expect("chat is registered");
    assert_eq!(routing.priority, TicketPriority::Normal);
    assert_eq!(routing.group_id, None);
    assert!(routing.tags.is_empty());

    // The chat defaults, once the secret is given.
    let env = env(&[
        ("INTAKE__CHANNELS__CHAT__SECRET_ENV", "S"),
        ("S", CHAT_SECRET),
    ]);
    let config = load_from(None, &env).expect("defaults with the secret");
    let chat = common::chat(&config);
    assert_eq!(chat.timestamp_tolerance, Duration::from_secs(300));
    assert_eq!(chat.max_body_bytes, 10_485_760);
    assert_eq!(chat.max_attachment_bytes, 20_971_520);
    assert_eq!(chat.max_attachments, 20);
}

#[test]
fn default_kafka_settings_apply_when_only_brokers_are_given() {
    let config = load_from(
        Some("[bus]\nbackend = \"kafka\"\n[bus.kafka]\nbrokers = \"k1:9092, k2:9093\"\n"),
        &[],
    )
    .expect("valid");
    let BusBackend::Kafka(kafka) = &config.bus.backend else {
        panic!("kafka backend expected");
    };
    assert_eq!(kafka.brokers, ["k1:9092", "k2:9093"]);
    assert_eq!(kafka.bootstrap_servers(), "k1:9092,k2:9093");
    assert!(kafka.create_topics);
    assert_eq!(kafka.partitions, 6);
    assert_eq!(kafka.replication_factor, 1);
    assert_eq!(kafka.client_id, "intake");
    assert!(kafka.properties.is_empty());
    assert!(kafka.sasl_password.is_none());
    assert_eq!(kafka.min_insync_replicas, None, "by broker count");
}

#[test]
fn min_insync_replicas_is_at_most_the_replication_factor() {
    let kafka = |extra: &str| {
        format!(
            "[bus]\nbackend = \"kafka\"\n[bus.kafka]\nbrokers = \"k:9092\"\n\
             replication_factor = 3\n{extra}\n"
        )
    };
    let config = load_from(Some(&kafka("min_insync_replicas = 2")), &[]).expect("valid");
    let BusBackend::Kafka(settings) = &config.bus.backend else {
        panic!("kafka backend expected");
    };
    assert_eq!(settings.min_insync_replicas, Some(2));
    for bad in ["min_insync_replicas = 4", "min_insync_replicas = 0"] {
        let errors = load_from(Some(&kafka(bad)), &[]).unwrap_err();
        let problem = errors
            .for_key("bus.kafka.min_insync_replicas")
            .unwrap_or_else(|| panic!("{bad}: {errors}"));
        assert!(
            problem.message.contains("replication_factor (3)"),
            "{problem:?}"
        );
    }
}

#[test]
fn only_the_role_that_needs_them_asks_for_credentials() {
    let config = load_from(None, &[]).expect("valid without any file");
    let router = config.require_router().unwrap_err();
    assert!(router.for_key("zendesk.base_url").is_some(), "{router}");
    assert!(
        router.for_key("zendesk.api_token_env").is_some(),
        "{router}"
    );
    let gateway = config.require_gateway().unwrap_err();
    assert!(
        gateway.for_key("channels.chat.secret_env").is_some(),
        "{gateway}"
    );

    let disabled = load_from(None, &env(&[("INTAKE__CHANNELS__CHAT__ENABLED", "false")])).unwrap();
    assert!(disabled.require_gateway().is_ok());

    let api_token_without_email = load_from(
        Some("[zendesk]\nbase_url = \"https://acme.zendesk.com\"\napi_token_env = \"T\"\n"),
        &env(&[("T", "tok")]),
    )
    .unwrap();
    let missing = api_token_without_email.require_router().unwrap_err();
    assert_eq!(missing.problems.len(), 1, "{missing}");
    assert_eq!(missing.problems[0].key, "zendesk.email");
}

#[test]
fn environment_overrides_the_file() {
    let file = r#"
[zendesk]
requests_per_minute = 100
[channels.chat]
priority = "low"
tags = ["from-file"]
"#;
    let config = load_from(
        Some(file),
        &env(&[
            ("INTAKE__ZENDESK__REQUESTS_PER_MINUTE", "400"),
            ("INTAKE__CHANNELS__CHAT__PRIORITY", "high"),
            ("INTAKE__CHANNELS__CHAT__TAGS", "vip, web"),
            ("INTAKE__ROUTER__CHANNEL_PRIORITY", "chat,email"),
            ("INTAKE__HTTP__LISTEN", "0.0.0.0:9000"),
            ("INTAKE__CHANNELS__CHAT__GROUP_ID", "42"),
            ("INTAKE__LOG__FORMAT", "json"),
            ("intake__service__shutdown_deadline_secs", "3"),
            ("UNRELATED", "ignored"),
        ]),
    )
    .expect("valid");
    assert_eq!(config.zendesk.requests_per_minute.get(), 400);
    let chat = config.channels.routing("chat").expect("chat routing");
    assert_eq!(chat.priority, TicketPriority::High);
    assert_eq!(chat.tags, ["vip", "web"]);
    assert_eq!(chat.group_id, Some(42));
    assert_eq!(config.router.channel_priority, ["chat", "email"]);
    assert_eq!(config.router.channel_rank("email"), 1);
    assert_eq!(config.router.channel_rank("slack"), 2);
    assert_eq!(config.http.listen.port(), 9000);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.service.shutdown_deadline, Duration::from_secs(3));
}

#[test]
fn kafka_properties_can_be_set_from_the_environment() {
    let config = load_from(
        Some("[bus.kafka.properties]\n\"sasl.mechanisms\" = \"PLAIN\"\n"),
        &env(&[
            ("INTAKE__BUS__BACKEND", "kafka"),
            ("INTAKE__BUS__KAFKA__BROKERS", "kafka:9092"),
            (
                "INTAKE__BUS__KAFKA__PROPERTIES__SECURITY_PROTOCOL",
                "SASL_SSL",
            ),
        ]),
    )
    .expect("valid");
    let BusBackend::Kafka(kafka) = &config.bus.backend else {
        panic!("kafka backend expected");
    };
    assert_eq!(kafka.properties["security.protocol"], "SASL_SSL");
    assert_eq!(kafka.properties["sasl.mechanisms"], "PLAIN");
}

#[test]
fn secrets_come_from_the_environment_and_never_show_in_debug() {
    let file = r#"
[zendesk]
base_url = "https://acme.zendesk.com"
email = "bot@acme.example"
api_token_env = "ZD_TOKEN"
[channels.chat]
secret_env = "CHAT_SECRET"
"#;
    let config = load_from(
        Some(file),
        &env(&[
            ("ZD_TOKEN", "  zd-token-value-123\n"),
            ("CHAT_SECRET", CHAT_SECRET),
        ]),
    )
    .expect("valid");
    assert!(config.require_router().is_ok());
    assert!(config.require_gateway().is_ok());
    let account = config.zendesk.account.as_ref().expect("account");
    assert_eq!(account.base_url.as_str(), "https://acme.zendesk.com/");
    match &account.auth {
        ZendeskAuth::ApiToken { email, token } => {
            assert_eq!(email, "bot@acme.example");
            assert_eq!(token.expose_secret(), "zd-token-value-123");
        }
        other => panic!("api token expected, got {other:?}"),
    }
    let chat_secret = &common::chat(&config).secret;
    assert_eq!(chat_secret.expose_secret(), CHAT_SECRET);

    let debug = format!("{config:?}");
    assert!(!debug.contains("zd-token-value-123"), "{debug}");
    assert!(!debug.contains(CHAT_SECRET), "{debug}");
}

#[test]
fn secrets_come_from_files_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("oauth");
    std::fs::write(&token_path, "oauth-token-xyz\n").unwrap();
    let url_path = dir.path().join("pg");
    std::fs::write(&url_path, "postgres://intake:pw-secret@db:5432/intake\n").unwrap();
    let file = format!(
        "[zendesk]\nbase_url = \"http://127.0.0.1:8089\"\noauth_token_file = {:?}\n\
         [store]\nbackend = \"postgres\"\npostgres_url_file = {:?}\n",
        token_path, url_path
    );
    let config = load_from(Some(&file), &[]).expect("valid");
    let account = config.zendesk.account.as_ref().expect("account");
    let ZendeskAuth::OAuth { token } = &account.auth else {
        panic!("oauth expected");
    };
    assert_eq!(token.expose_secret(), "oauth-token-xyz");
    let StoreConfig::Postgres { url } = &config.store else {
        panic!("postgres expected");
    };
    assert_eq!(
        url.expose_secret(),
        "postgres://intake:pw-secret@db:5432/intake"
    );
    assert!(config.require_router().is_ok(), "oauth needs no email");
    let debug = format!("{config:?}");
    assert!(!debug.contains("oauth-token-xyz") && !debug.contains("pw-secret"));
}

#[test]
fn missing_and_conflicting_secrets_are_reported_with_their_keys() {
    let file = r#"
[zendesk]
api_token_env = "ZD"
oauth_token_file = "/nonexistent/token"
[store]
backend = "postgres"
[channels.chat]
secret_env = "NOT_SET_ANYWHERE"
[bus]
backend = "kafka"
[bus.kafka]
brokers = "kafka:9092"
sasl_password_env = "PW"
sasl_password_file = "/run/secrets/pw"
"#;
    let errors = load_from(Some(file), &[]).unwrap_err();
    let message_of = |key: &str| {
        errors
            .for_key(key)
            .unwrap_or_else(|| panic!("no problem at {key} in:\n{errors}"))
            .message
            .clone()
    };
    assert!(message_of("zendesk.oauth_token_env").contains("not both"));
    assert!(message_of("store.postgres_url_env").contains("required"));
    assert!(message_of("channels.chat.secret_env").contains("NOT_SET_ANYWHERE is not set"));
    assert!(message_of("bus.kafka.sasl_password_env").contains("one way only"));
    assert_eq!(errors.problems.len(), 4, "{errors}");
}

#[test]
fn an_unreadable_file_and_a_malformed_secret_are_problems() {
    let dir = tempfile::tempdir().unwrap();
    let bad_secret = dir.path().join("chat");
    std::fs::write(&bad_secret, "not-a-standard-webhooks-secret").unwrap();
    let file = format!(
        "[zendesk]\napi_token_file = \"/nonexistent/zd\"\n[channels.chat]\nsecret_file = {bad_secret:?}\n"
    );
    let errors = load_from(Some(&file), &[]).unwrap_err();
    let unreadable = errors
        .for_key("zendesk.api_token_file")
        .expect("unreadable");
    assert!(unreadable.message.contains("cannot read /nonexistent/zd"));
    let malformed = errors
        .for_key("channels.chat.secret_file")
        .expect("malformed");
    assert!(malformed.message.contains("whsec_"));
    assert!(
        !errors
            .to_string()
            .contains("not-a-standard-webhooks-secret")
    );
}

#[test]
fn a_file_with_three_different_errors_reports_all_three() {
    let file = r#"
[zendesk]
base_url = "https://acme.zendesk.com"
requets_per_minute = 400          # unknown key (typo)
request_timeout_secs = "soon"     # wrong type
max_attempts = 0                  # invalid value
api_token_env = "ZD_TOKEN_NOT_SET" # missing secret
"#;
    let errors = load_from(Some(file), &[]).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "zendesk.api_token_env",
            "zendesk.max_attempts",
            "zendesk.request_timeout_secs",
            "zendesk.requets_per_minute",
        ],
        "{errors}"
    );
    let text = errors.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].starts_with("zendesk.api_token_env: environment variable ZD_TOKEN_NOT_SET"));
    assert!(lines[1].starts_with("zendesk.max_attempts: must be at least 1"));
    assert!(lines[2].starts_with("zendesk.request_timeout_secs: invalid type: string \"soon\""));
    assert!(lines[3].starts_with("zendesk.requets_per_minute: unknown key"));
    assert!(!errors.is_retryable());
}

#[test]
fn problems_across_sections_and_sources_are_all_reported() {
    let file = r#"
colour = "blue"
[log]
format = "xml"
level = "info,x=loud"
[http]
listen = "localhost"
[router]
channel_priority = ["chat", "fax", "chat"]
retry_initial_backoff_ms = 5000
retry_max_backoff_secs = 1
max_in_flight = 0
retry_max_attempts = 0
retry_max_age_secs = 0
claim_ttl_secs = 2
[channels.chat]
enabled = "perhaps"
tags = ["ok", "two words"]
[channels.fax]
enabled = true
[zendesk]
api_token = "inline-secret-value"
"#;
    let errors = load_from(
        Some(file),
        &env(&[
            ("INTAKE__ZENDESK__REQUESTS_PER_MINUTE", "0"),
            ("INTAKE__NOSUCH__KEY", "1"),
            ("INTAKE__BAD-NAME", "1"),
        ]),
    )
    .unwrap_err();
    let expect = |key: &str, fragment: &str| {
        let problem = errors
            .for_key(key)
            .unwrap_or_else(|| panic!("no problem at {key} in:\n{errors}"));
        assert!(
            problem.message.contains(fragment),
            "{key}: {:?} lacks {fragment:?}",
            problem.message
        );
    };
    expect("colour", "unknown key");
    expect("log.format", "\"xml\" is not one of \"human\", \"json\"");
    expect("log.level", "invalid log filter");
    expect("http.listen", "not an IP address and port");
    expect("router.channel_priority[1]", "unknown channel \"fax\"");
    expect("router.channel_priority[2]", "listed twice");
    expect("router.retry_max_backoff_secs", "shorter");
    expect("router.max_in_flight", "at least 1");
    expect("router.retry_max_attempts", "at least 1");
    expect("router.retry_max_age_secs", "at least 1");
    expect("router.claim_ttl_secs", "at least 3");
    expect("channels.chat.enabled", "invalid type");
    expect("channels.chat.tags[1]", "not a Zendesk tag");
    expect("channels.fax", "unknown key");
    expect("zendesk.api_token", "never given inline");
    expect(
        "zendesk.requests_per_minute",
        "set by INTAKE__ZENDESK__REQUESTS_PER_MINUTE",
    );
    expect("nosuch", "unknown key");
    expect("INTAKE__BAD-NAME", "not a valid override");
    assert_eq!(errors.problems.len(), 18, "{errors}");
    assert!(!errors.to_string().contains("inline-secret-value"));
}

#[test]
fn broken_toml_is_one_problem_and_the_environment_is_still_checked() {
    let errors = load_from(
        Some("[zendesk\nbase_url = 1"),
        &env(&[("INTAKE__HTTP__MAX_BODY_BYTES", "big")]),
    )
    .unwrap_err();
    assert!(
        errors.problems[0].message.contains("not valid TOML"),
        "{errors}"
    );
    assert!(errors.for_key("http.max_body_bytes").is_some(), "{errors}");
}

#[test]
fn load_reads_the_file_or_says_why_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("intake.toml");
    std::fs::write(&path, "[blob]\ndir = \"/var/lib/intake/blobs\"\n").unwrap();
    let config = load(Some(&path)).expect("valid");
    assert_eq!(config.blob.dir, PathBuf::from("/var/lib/intake/blobs"));

    let missing = dir.path().join("absent.toml");
    let errors = load(Some(&missing)).unwrap_err();
    assert_eq!(errors.problems.len(), 1);
    assert_eq!(errors.problems[0].key, missing.display().to_string());
    assert!(errors.problems[0].message.contains("cannot read"));
}

#[test]
fn channel_routing_comes_from_the_channel_section() {
    let toml = "[channels.chat]\npriority = \"urgent\"\ngroup_id = 42\ntags = [\"web\", \"vip\"]\n";
    let config = load_from(Some(toml), &[]).expect("valid");
    let routing = config.channels.routing("chat").expect("chat has a section");
    assert_eq!(routing.priority, TicketPriority::Urgent);
    assert_eq!(routing.group_id, Some(42));
    assert_eq!(routing.tags, ["web", "vip"]);
    assert_eq!(
        config.channels.routing("email"),
        None,
        "no section: router defaults"
    );
}

#[test]
fn kafka_secret_properties_come_from_the_environment_or_files_never_inline() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("oauth-secret");
    std::fs::write(&secret_file, "s3cr3t-from-file\n").unwrap();
    let toml = format!(
        "[bus]\nbackend = \"kafka\"\n[bus.kafka]\nbrokers = \"k:9092\"\n\
         [bus.kafka.secret_properties_file]\n\"sasl.oauthbearer.client.secret\" = {secret_file:?}\n"
    );
    let config = load_from(
        Some(&toml),
        &env(&[
            (
                "INTAKE__BUS__KAFKA__SECRET_PROPERTIES_ENV__SSL_KEY_PASSWORD",
                "KEY_PW",
            ),
            ("KEY_PW", "pw-from-env"),
        ]),
    )
    .expect("valid");
    let BusBackend::Kafka(kafka) = &config.bus.backend else {
        panic!("kafka expected");
    };
    let value = |name: &str| kafka.secret_properties[name].expose_secret().to_owned();
    assert_eq!(value("ssl.key.password"), "pw-from-env");
    assert_eq!(value("sasl.oauthbearer.client.secret"), "s3cr3t-from-file");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("pw-from-env") && !debug.contains("s3cr3t"),
        "{debug}"
    );

    let inline = "[bus.kafka.properties]\n\"ssl.key.password\" = \"oops\"\n";
    let errors = load_from(Some(inline), &[]).unwrap_err();
    let problem = errors
        .for_key("bus.kafka.properties.ssl.key.password")
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(
        problem.message.contains("never given inline"),
        "{problem:?}"
    );
    assert!(!errors.to_string().contains("oops"), "{errors}");
}

#[test]
fn blob_retention_defaults_to_30_days_and_0_keeps_forever() {
    let config = load_from(None, &[]).expect("defaults");
    assert_eq!(
        config.blob.retention,
        Some(Duration::from_secs(30 * 86_400))
    );
    let config = load_from(Some("[blob]\nretention_days = 0\n"), &[]).expect("valid");
    assert_eq!(config.blob.retention, None);
    let errors = load_from(Some("[blob]\nretention_days = 99999999\n"), &[]).unwrap_err();
    assert!(errors.for_key("blob.retention_days").is_some(), "{errors}");
}

#[test]
fn a_chat_secret_shorter_than_16_key_bytes_is_a_problem_not_a_start_failure() {
    // "whsec_" + base64 of 8 bytes: valid base64, too short for the adapter.
    let errors = load_from(
        None,
        &env(&[
            ("INTAKE__CHANNELS__CHAT__SECRET_ENV", "SHORT_SECRET"),
            ("SHORT_SECRET", "whsec_AAECAwQFBgc="),
        ]),
    )
    .unwrap_err();
    let problem = errors
        .for_key("channels.chat.secret_env")
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(problem.message.contains("at least 16 bytes"), "{problem:?}");
}
