//! `[channels.chat]` through the real loader: attachment URL fetching, the
//! per-sender rate limit, identity, phone region, the raw inline threshold.
//! (Moved from the config crate with the section; every case runs with the
//! webhook secret given, as the gateway needs it.)

use std::time::Duration;

use intake_channel::testing::load_channel_options;
use intake_channel_chat::{Chat, ChatOptions};
use intake_config::ConfigErrors;

/// A valid Standard Webhooks secret (base64 of 32 ASCII bytes).
const CHAT_SECRET: &str = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

/// `[channels.chat]` of `toml` (none: defaults) with `env`, plus the secret.
fn load_from(toml: Option<&str>, env: &[(&str, &str)]) -> Result<ChatOptions, ConfigErrors> {
    let mut env = env.to_vec();
    env.push(("INTAKE__CHANNELS__CHAT__SECRET_ENV", "TEST_CHAT_SECRET"));
    env.push(("TEST_CHAT_SECRET", CHAT_SECRET));
    load_channel_options::<Chat>(toml.unwrap_or_default(), &env)
}

fn env<'a>(pairs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs.to_vec()
}

#[test]
fn defaults_refuse_url_attachments_and_limit_senders() {
    let chat = load_from(None, &[]).unwrap();
    assert!(chat.attachment_url_hosts.is_empty());
    assert!(!chat.allow_http_attachment_urls);
    assert_eq!(chat.attachment_fetch_timeout, Duration::from_secs(10));
    assert_eq!(chat.sender_messages_per_minute, 60);
    assert_eq!(chat.sender_burst_messages, 10);
}

#[test]
fn hosts_come_from_the_file_or_a_comma_separated_variable() {
    let file = r#"
[channels.chat]
attachment_url_hosts = ["Files.Example.com", "*.cdn.example", "127.0.0.1", "[::1]", "files.example.com"]
allow_http_attachment_urls = true
attachment_fetch_timeout_secs = 5
sender_messages_per_minute = 0
sender_burst_messages = 3
"#;
    let chat = load_from(Some(file), &[]).unwrap();
    assert_eq!(
        chat.attachment_url_hosts,
        ["files.example.com", "*.cdn.example", "127.0.0.1", "[::1]"]
    );
    assert!(chat.allow_http_attachment_urls);
    assert_eq!(chat.attachment_fetch_timeout, Duration::from_secs(5));
    assert_eq!(chat.sender_messages_per_minute, 0);
    assert_eq!(chat.sender_burst_messages, 3);

    let from_env = load_from(
        None,
        &env(&[
            (
                "INTAKE__CHANNELS__CHAT__ATTACHMENT_URL_HOSTS",
                "a.example, b.example",
            ),
            ("INTAKE__CHANNELS__CHAT__SENDER_MESSAGES_PER_MINUTE", "120"),
        ]),
    )
    .unwrap();
    assert_eq!(from_env.attachment_url_hosts, ["a.example", "b.example"]);
    assert_eq!(from_env.sender_messages_per_minute, 120);
}

#[test]
fn bad_values_are_reported_with_their_keys() {
    let file = r#"
[channels.chat]
attachment_url_hosts = ["ok.example", "https://files.example", "files.example:8443", "*.10.0.0.1", "a/b", ""]
attachment_fetch_timeout_secs = 30
sender_burst_messages = 0
"#;
    let errors = load_from(Some(file), &[]).unwrap_err();
    for index in 1..=5 {
        let key = format!("channels.chat.attachment_url_hosts[{index}]");
        let problem = errors
            .for_key(&key)
            .unwrap_or_else(|| panic!("no problem for {key}: {errors}"));
        assert!(problem.message.contains("not a host"), "{problem}");
    }
    assert!(
        errors
            .for_key("channels.chat.attachment_url_hosts[0]")
            .is_none()
    );
    let timeout = errors
        .for_key("channels.chat.attachment_fetch_timeout_secs")
        .expect("timeout problem");
    assert!(timeout.message.contains("between 1 and 20"), "{timeout}");
    assert!(
        errors
            .for_key("channels.chat.sender_burst_messages")
            .is_some()
    );
    assert_eq!(errors.problems.len(), 7, "{errors}");
}

#[test]
fn ssrf_identity_and_phone_keys() {
    let chat = load_from(None, &[]).unwrap();
    assert!(!chat.attachment_url_allow_private_networks);
    assert!(chat.attachment_url_ports.is_empty());
    assert!(chat.identity_secret.is_none());
    assert_eq!(chat.phone_region, None);

    let file = r#"
[channels.chat]
attachment_url_allow_private_networks = true
attachment_url_ports = [8443, 443, 8443]
identity_secret_env = "SITE_IDENTITY"
phone_region = "ru"
"#;
    let secret = "a-site-identity-secret-of-32-bytes!!";
    let chat = load_from(Some(file), &env(&[("SITE_IDENTITY", secret)])).unwrap();
    assert!(chat.attachment_url_allow_private_networks);
    assert_eq!(chat.attachment_url_ports, [8443, 443]);
    assert_eq!(
        chat.identity_secret
            .as_ref()
            .map(|s| secrecy::ExposeSecret::expose_secret(s).to_owned()),
        Some(secret.to_owned())
    );
    assert!(!format!("{chat:?}").contains(secret), "secret in Debug");
    assert_eq!(chat.phone_region.as_deref(), Some("RU"));

    let from_env = load_from(
        None,
        &env(&[("INTAKE__CHANNELS__CHAT__ATTACHMENT_URL_PORTS", "8443, 9443")]),
    )
    .unwrap();
    assert_eq!(from_env.attachment_url_ports, [8443, 9443]);

    let bad = r#"
[channels.chat]
attachment_url_ports = [0, 70000]
identity_secret_env = "SITE_IDENTITY"
phone_region = "XX"
"#;
    let errors = load_from(Some(bad), &env(&[("SITE_IDENTITY", "too-short")])).unwrap_err();
    for key in [
        "channels.chat.attachment_url_ports[0]",
        "channels.chat.attachment_url_ports[1]",
        "channels.chat.identity_secret_env",
        "channels.chat.phone_region",
    ] {
        assert!(
            errors.for_key(key).is_some(),
            "no problem for {key}: {errors}"
        );
    }
    assert!(!errors.to_string().contains("too-short"), "{errors}");
}

#[test]
fn raw_inline_threshold_defaults_to_64_kib_and_is_bounded() {
    let chat = load_from(None, &[]).unwrap();
    assert_eq!(chat.raw_inline_max_bytes, 64 * 1024);
    let chat = load_from(
        None,
        &env(&[("INTAKE__CHANNELS__CHAT__RAW_INLINE_MAX_BYTES", "0")]),
    )
    .unwrap();
    assert_eq!(chat.raw_inline_max_bytes, 0);

    let file = "[channels.chat]\nraw_inline_max_bytes = 262145\n";
    let errors = load_from(Some(file), &[]).unwrap_err();
    let problem = errors
        .for_key("channels.chat.raw_inline_max_bytes")
        .unwrap_or_else(|| panic!("no problem for the threshold: {errors}"));
    assert!(problem.message.contains("at most 262144"), "{problem}");
}

// `[channels.chat.callback]` (moved from the config crate with the section).

const SITE_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[test]
fn a_callback_is_read_with_its_secret_and_timeout() {
    let text = r#"
        [channels.chat.callback]
        url = "https://chat.example.com/intake/replies"
        secret_env = "SITE_SECRET"
        timeout_secs = 5
    "#;
    let chat = load_from(Some(text), &[("SITE_SECRET", SITE_SECRET)]).unwrap();
    let callback = chat.callback.expect("callback");
    assert_eq!(
        callback.url.as_str(),
        "https://chat.example.com/intake/replies"
    );
    assert_eq!(callback.timeout.as_secs(), 5);
    assert!(!format!("{callback:?}").contains(SITE_SECRET));
    assert!(load_from(None, &[]).unwrap().callback.is_none());
}

#[test]
fn callback_problems_are_reported_with_their_keys() {
    let text = r#"
        [channels.chat.callback]
        url = "ftp://chat.example.com/"
        timeout_secs = 0
        colour = "red"
    "#;
    let errors = load_from(Some(text), &[("SITE_SECRET", SITE_SECRET)]).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "channels.chat.callback.url",
        "channels.chat.callback.timeout_secs",
        "channels.chat.callback.secret_env",
        "channels.chat.callback.colour",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    let bad_secret = r#"
        [channels.chat.callback]
        url = "https://chat.example.com/"
        secret_env = "SITE_SECRET"
    "#;
    let errors = load_from(Some(bad_secret), &[("SITE_SECRET", "not-a-whsec")]).unwrap_err();
    assert_eq!(errors.problems[0].key, "channels.chat.callback.secret_env");
    assert!(!errors.to_string().contains("not-a-whsec"), "{errors}");
}
