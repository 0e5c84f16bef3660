//! `[http]` limits and the `[ops]` listener: defaults, overrides, and every
//! inconsistent combination reported with its key path.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::env;
use common::load_from;
use intake_config::UNAUTHENTICATED_BODY_ALLOWANCE_BYTES;

#[test]
fn the_limits_and_the_ops_listener_have_defaults() {
    let config = load_from(None, &[]).expect("defaults are valid");
    let http = &config.http;
    assert_eq!(http.request_timeout, Duration::from_secs(45));
    assert_eq!(http.max_in_flight, 128);
    assert_eq!(http.max_unauthenticated_in_flight, 256);
    assert_eq!(http.max_unauthenticated_buffer_bytes, 64 * 1024 * 1024);
    assert_eq!(http.body_read_timeout, Duration::from_secs(10));
    assert_eq!(http.min_body_bytes_per_sec, 16 * 1024);
    assert_eq!(
        http.shared_unauthenticated_buffer_bytes(),
        64 * 1024 * 1024 - 256 * UNAUTHENTICATED_BODY_ALLOWANCE_BYTES
    );
    assert_eq!(
        config.ops.listen,
        "127.0.0.1:9090".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn the_limits_come_from_the_file_and_the_environment() {
    let toml = r#"
[http]
request_timeout_secs = 30
max_in_flight = 16
max_unauthenticated_in_flight = 32
max_unauthenticated_buffer_bytes = 20000000
body_read_timeout_secs = 5
min_body_bytes_per_sec = 0
"#;
    let config = load_from(
        Some(toml),
        &env(&[
            ("INTAKE__OPS__LISTEN", "0.0.0.0:9090"),
            ("INTAKE__HTTP__MAX_IN_FLIGHT", "64"),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(config.http.request_timeout, Duration::from_secs(30));
    assert_eq!(config.http.max_in_flight, 64, "the environment wins");
    assert_eq!(config.http.max_unauthenticated_in_flight, 32);
    assert_eq!(config.http.max_unauthenticated_buffer_bytes, 20_000_000);
    assert_eq!(config.http.body_read_timeout, Duration::from_secs(5));
    assert_eq!(config.http.min_body_bytes_per_sec, 0);
    assert_eq!(
        config.ops.listen,
        "0.0.0.0:9090".parse::<SocketAddr>().unwrap()
    );
}

#[test]
fn inconsistent_limits_are_reported_with_their_keys() {
    let toml = r#"
[http]
listen = "127.0.0.1:8080"
max_in_flight = 0
request_timeout_secs = 5
body_read_timeout_secs = 6
max_unauthenticated_in_flight = 100
max_unauthenticated_buffer_bytes = 1048576
[ops]
listen = "127.0.0.1:8080"
"#;
    let errors = load_from(Some(toml), &[]).unwrap_err();
    for (key, words) in [
        ("http.max_in_flight", "at least 1"),
        ("http.body_read_timeout_secs", "http.request_timeout_secs"),
        // 100 × 64 KiB + 10 MiB.
        ("http.max_unauthenticated_buffer_bytes", "at least 17039360"),
        ("ops.listen", "also http.listen"),
    ] {
        let problem = errors
            .for_key(key)
            .unwrap_or_else(|| panic!("no problem for {key}: {errors}"));
        assert!(problem.message.contains(words), "{key}: {problem}");
    }
    assert_eq!(errors.problems.len(), 4, "{errors}");

    let errors = load_from(Some("[ops]\nlisten = \"localhost\"\n"), &[]).unwrap_err();
    assert!(errors.for_key("ops.listen").is_some(), "{errors}");
}

#[test]
fn two_listeners_on_port_zero_are_allowed() {
    let toml = "[http]\nlisten = \"127.0.0.1:0\"\n[ops]\nlisten = \"127.0.0.1:0\"\n";
    load_from(Some(toml), &[]).unwrap_or_else(|e| panic!("{e}"));
}
