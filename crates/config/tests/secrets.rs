//! One rule for secret Kafka properties (the bus's `is_secret_property` /
//! `holds_secret`), applied both by the configuration, which refuses them
//! inline, and by the bus's `Debug`; and `*_env` keys whose value may be a
//! pasted secret are reported without repeating it.

mod common;

use common::env;
use common::load_from;
use intake_bus::KafkaOptions;
use intake_config::BusBackend;

const PRIVATE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQ-private-key-body\n-----END PRIVATE KEY-----";

/// Every kind of secret a Kafka client takes, each with a value to look for.
const SECRET_PROPERTIES: &[(&str, &str)] = &[
    ("sasl.password", "sasl-pw-value"),
    ("ssl.key.password", "key-pw-value"),
    ("ssl.keystore.password", "keystore-pw-value"),
    ("ssl.truststore.password", "truststore-pw-value"),
    ("ssl.key.pem", PRIVATE_KEY),
    ("ssl_key", "binary-key-value"),
    ("sasl.oauthbearer.client.secret", "client-secret-value"),
    (
        "sasl.oauthbearer.config",
        "principal=admin extension_token=ext-value",
    ),
    (
        "sasl.oauthbearer.assertion.private.key.pem",
        "assertion-key-value",
    ),
    (
        "sasl.oauthbearer.assertion.private.key.passphrase",
        "assertion-pass-value",
    ),
    (
        "sasl.jaas.config",
        "org.apache.kafka.common.security.plain.PlainLoginModule required password=\"jaas-pw-value\";",
    ),
    ("SSL.KEY.PASSWORD", "upper-case-pw-value"),
    // A public certificate property with a private key pasted into it.
    (
        "ssl.certificate.pem",
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN RSA PRIVATE KEY-----\ncert-key-value\n-----END RSA PRIVATE KEY-----",
    ),
];

/// Not secrets: accepted inline and shown.
const PUBLIC_PROPERTIES: &[(&str, &str)] = &[
    ("security.protocol", "SASL_SSL"),
    ("sasl.username", "intake-user"),
    ("ssl.key.location", "/run/secrets/client.key"),
    (
        "ssl.ca.pem",
        "-----BEGIN CERTIFICATE-----\nMIIC-ca\n-----END CERTIFICATE-----",
    ),
    (
        "sasl.oauthbearer.token.endpoint.url",
        "https://idp.example/oauth2/token",
    ),
];

fn toml_string(value: &str) -> String {
    toml::Value::String(value.to_owned()).to_string()
}

/// The part of a value to look for in output (the distinctive middle of a PEM).
fn needle(value: &str) -> &str {
    value
        .lines()
        .find(|line| !line.starts_with("-----") && line.len() > 4)
        .unwrap_or(value)
}

#[test]
fn every_secret_property_given_inline_is_refused_without_its_value() {
    for (name, value) in SECRET_PROPERTIES {
        let file = format!(
            "[bus]\nbackend = \"kafka\"\n[bus.kafka]\nbrokers = \"k:9092\"\n\
             [bus.kafka.properties]\n{} = {}\n",
            toml_string(name),
            toml_string(value)
        );
        let errors = load_from(Some(&file), &[]).expect_err(name);
        let key = format!("bus.kafka.properties.{name}");
        let problem = errors
            .for_key(&key)
            .unwrap_or_else(|| panic!("{name} inline is not refused: {errors}"));
        assert!(
            problem.message.contains("never given inline"),
            "{problem:?}"
        );
        for shown in [errors.to_string(), format!("{errors:?}")] {
            assert!(!shown.contains(needle(value)), "{name}: {shown}");
        }
    }
}

#[test]
fn a_secret_property_from_the_environment_is_refused_too() {
    let errors = load_from(
        None,
        &env(&[
            ("INTAKE__BUS__BACKEND", "kafka"),
            ("INTAKE__BUS__KAFKA__BROKERS", "k:9092"),
            ("INTAKE__BUS__KAFKA__PROPERTIES__SSL_KEY_PEM", PRIVATE_KEY),
        ]),
    )
    .expect_err("ssl.key.pem inline");
    let problem = errors
        .for_key("bus.kafka.properties.ssl.key.pem")
        .unwrap_or_else(|| panic!("{errors}"));
    assert!(
        problem
            .message
            .contains("INTAKE__BUS__KAFKA__PROPERTIES__SSL_KEY_PEM"),
        "{problem:?}"
    );
    assert!(!errors.to_string().contains(needle(PRIVATE_KEY)));
}

#[test]
fn public_properties_are_accepted_and_shown() {
    let mut file = String::from(
        "[bus]\nbackend = \"kafka\"\n[bus.kafka]\nbrokers = \"k:9092\"\n[bus.kafka.properties]\n",
    );
    for (name, value) in PUBLIC_PROPERTIES {
        file.push_str(&format!("{} = {}\n", toml_string(name), toml_string(value)));
    }
    let config = load_from(Some(&file), &[]).unwrap_or_else(|e| panic!("{e}"));
    let BusBackend::Kafka(kafka) = &config.bus.backend else {
        panic!("kafka expected");
    };
    let debug = format!("{config:?}");
    for (name, value) in PUBLIC_PROPERTIES {
        assert_eq!(kafka.properties[*name], *value);
        assert!(debug.contains(needle(value)), "{name} hidden: {debug}");
    }
}

#[test]
fn the_bus_debug_hides_every_secret_the_config_refuses() {
    let mut options = KafkaOptions::new("k:9092");
    for (name, value) in SECRET_PROPERTIES.iter().chain(PUBLIC_PROPERTIES) {
        options
            .properties
            .insert((*name).to_owned(), (*value).to_owned());
    }
    let debug = format!("{options:?}");
    for (name, value) in SECRET_PROPERTIES {
        assert!(!debug.contains(needle(value)), "{name} shown: {debug}");
        assert!(debug.contains(name), "{name} itself is named: {debug}");
    }
    for (name, value) in PUBLIC_PROPERTIES {
        assert!(debug.contains(needle(value)), "{name} hidden: {debug}");
    }
}

/// What a user may paste into a `*_env` key by mistake: a JWT (not a valid
/// variable name) and an API token (a valid name, but not a conventional one).
const PASTED: [&str; 2] = [
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJpbnRha2UifQ.c2lnbmF0dXJl-x",
    "Xk9fQ2mZ7pL0aB3cD4eF5gH6iJ7kL8mN9oP0qR1s",
];

#[test]
fn a_pasted_secret_at_an_env_key_is_never_repeated() {
    for pasted in PASTED {
        let file = format!(
            r#"
[zendesk]
base_url = "https://acme.zendesk.com"
email = "agent@acme.test"
api_token_env = "{pasted}"
[store]
backend = "postgres"
postgres_url_env = "{pasted}"
[channels.chat]
secret_env = "{pasted}"
[bus]
backend = "kafka"
[bus.kafka]
brokers = "kafka:9092"
sasl_password_env = "{pasted}"
[bus.kafka.secret_properties_env]
"ssl.key.password" = "{pasted}"
"#
        );
        let errors = load_from(Some(&file), &[]).expect_err(pasted);
        for key in [
            "zendesk.api_token_env",
            "store.postgres_url_env",
            "channels.chat.secret_env",
            "bus.kafka.sasl_password_env",
            "bus.kafka.secret_properties_env.ssl.key.password",
        ] {
            let problem = errors
                .for_key(key)
                .unwrap_or_else(|| panic!("no problem at {key}: {errors}"));
            assert!(
                problem.message.contains("not shown"),
                "the message says why the name is missing: {problem:?}"
            );
        }
        for shown in [errors.to_string(), format!("{errors:?}")] {
            assert!(!shown.contains(pasted), "{shown}");
        }
    }
}

#[test]
fn a_conventional_variable_name_is_still_shown() {
    let errors = load_from(
        Some("[zendesk]\napi_token_env = \"ZENDESK_API_TOKEN\"\n"),
        &[],
    )
    .expect_err("the variable is not set");
    let problem = errors
        .for_key("zendesk.api_token_env")
        .unwrap_or_else(|| panic!("{errors}"));
    assert_eq!(
        problem.message,
        "environment variable ZENDESK_API_TOKEN is not set"
    );
}
