//! `[blob]` and `[blob.s3]`: the local default, the S3 backend, its
//! credentials from the environment or files (never inline), and every
//! problem with its key path.

mod common;

use std::time::Duration;

use common::env;
use common::load_from;
use secrecy::ExposeSecret;

const DAY: Duration = Duration::from_secs(86_400);

#[test]
fn the_local_directory_is_the_default() {
    let config = load_from(None, &[]).expect("defaults are valid");
    assert!(config.blob.s3.is_none());
    assert_eq!(config.blob.retention, Some(30 * DAY));
}

#[test]
fn s3_with_every_key_and_credentials_from_env_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret_file = dir.path().join("s3-secret");
    std::fs::write(&secret_file, "wJalrXUtnFEMI/K7MDENG\n").unwrap();
    let text = format!(
        r#"[blob]
backend = "s3"
retention_days = 7
[blob.s3]
endpoint = "http://127.0.0.1:8333/"
region = "ru-central1"
bucket = "intake-blobs"
prefix = "/prod/blobs/"
path_style = true
access_key_id_env = "S3_KEY_ID"
secret_access_key_file = {secret_file:?}
session_token_env = "S3_TOKEN"
request_timeout_secs = 12
connect_timeout_secs = 2
max_retries = 4
"#
    );
    let config = load_from(
        Some(&text),
        &env(&[("S3_KEY_ID", "AKIDEXAMPLE"), ("S3_TOKEN", "tok-123")]),
    )
    .expect("valid");
    let s3 = config.blob.s3.as_ref().expect("s3 backend");
    assert_eq!(s3.endpoint.as_deref(), Some("http://127.0.0.1:8333"));
    assert_eq!(s3.region, "ru-central1");
    assert_eq!(s3.bucket, "intake-blobs");
    assert_eq!(s3.prefix, "prod/blobs");
    assert!(s3.path_style);
    assert!(!s3.lifecycle_expiry);
    assert_eq!(config.blob.retention, Some(7 * DAY), "the sweep runs");
    assert_eq!(s3.request_timeout, Duration::from_secs(12));
    assert_eq!(s3.connect_timeout, Duration::from_secs(2));
    assert_eq!(s3.max_retries, 4);
    let key = s3.access_key.as_ref().expect("static key");
    assert_eq!(key.access_key_id.expose_secret(), "AKIDEXAMPLE");
    assert_eq!(
        key.secret_access_key.expose_secret(),
        "wJalrXUtnFEMI/K7MDENG"
    );
    assert_eq!(
        key.session_token.as_ref().map(|t| t.expose_secret()),
        Some("tok-123")
    );
    let debug = format!("{config:?}");
    for secret in ["AKIDEXAMPLE", "wJalrXUtnFEMI", "tok-123"] {
        assert!(!debug.contains(secret), "{secret} in Debug: {debug}");
    }
}

#[test]
fn without_an_access_key_the_aws_chain_is_used_and_defaults_apply() {
    let config = load_from(
        Some("[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"b-1.example\"\n"),
        &[],
    )
    .expect("valid");
    let s3 = config.blob.s3.expect("s3 backend");
    assert!(s3.access_key.is_none());
    assert_eq!(s3.endpoint, None, "AWS S3");
    assert_eq!(s3.region, "us-east-1");
    assert_eq!(s3.prefix, "");
    assert!(!s3.path_style);
    assert_eq!(s3.request_timeout, Duration::from_secs(30));
    assert_eq!(s3.connect_timeout, Duration::from_secs(5));
    assert_eq!(s3.max_retries, 2);
}

#[test]
fn environment_overrides_reach_the_s3_section() {
    let config = load_from(
        None,
        &env(&[
            ("INTAKE__BLOB__BACKEND", "s3"),
            ("INTAKE__BLOB__S3__BUCKET", "from-env"),
            ("INTAKE__BLOB__S3__ENDPOINT", "https://storage.example.test"),
            ("INTAKE__BLOB__S3__PATH_STYLE", "true"),
        ]),
    )
    .expect("valid");
    let s3 = config.blob.s3.expect("s3 backend");
    assert_eq!(s3.bucket, "from-env");
    assert_eq!(s3.endpoint.as_deref(), Some("https://storage.example.test"));
    assert!(s3.path_style);
}

#[test]
fn a_lifecycle_rule_means_intake_deletes_nothing() {
    let config = load_from(
        Some(
            "[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"intake\"\nexpire_by = \"lifecycle\"\n",
        ),
        &[],
    )
    .expect("valid");
    assert!(config.blob.s3.expect("s3").lifecycle_expiry);
    assert_eq!(config.blob.retention, None);
}

#[test]
fn every_s3_problem_is_reported_with_its_key() {
    let text = r#"[blob]
backend = "s3"
[blob.s3]
endpoint = "ftp://user:hunter2@host/"
region = " "
prefix = "a//../b"
access_key_id_env = "MISSING_KEY_ID"
request_timeout_secs = 0
max_retries = 99
expire_by = "never"
"#;
    let errors = load_from(Some(text), &[]).unwrap_err();
    let expect = |key: &str, part: &str| {
        let problem = errors
            .for_key(key)
            .unwrap_or_else(|| panic!("no problem for {key}:\n{errors}"));
        assert!(problem.message.contains(part), "{key}: {}", problem.message);
    };
    expect("blob.s3.expire_by", "not one of");
    // The remaining problems come from validation, which runs after the
    // wrong type above is reported; load again without it.
    let errors = load_from(Some(&text.replace("expire_by = \"never\"\n", "")), &[]).unwrap_err();
    let expect = |key: &str, part: &str| {
        let problem = errors
            .for_key(key)
            .unwrap_or_else(|| panic!("no problem for {key}:\n{errors}"));
        assert!(problem.message.contains(part), "{key}: {}", problem.message);
    };
    expect("blob.s3.endpoint", "http://");
    expect("blob.s3.region", "must not be empty");
    expect("blob.s3.bucket", "required");
    expect("blob.s3.prefix", "segments");
    expect("blob.s3.secret_access_key_env", "required");
    expect("blob.s3.request_timeout_secs", "from 1");
    expect("blob.s3.max_retries", "at most 10");
    assert!(!errors.to_string().contains("hunter2"), "{errors}");

    let errors = load_from(
        Some("[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"Bad_Bucket\"\nendpoint = \"http://user:hunter2@host:9000\"\n"),
        &[],
    )
    .unwrap_err();
    assert!(errors.for_key("blob.s3.bucket").is_some(), "{errors}");
    let endpoint = errors
        .for_key("blob.s3.endpoint")
        .expect("endpoint problem");
    assert!(endpoint.message.contains("credentials"), "{errors}");
    assert!(!errors.to_string().contains("hunter2"), "{errors}");

    let errors = load_from(
        Some("[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"intake\"\nsecret_access_key = \"inline\"\naccess_key_id_env = \"K\"\nsecret_access_key_env = \"S\"\n"),
        &env(&[("K", "id")]),
    )
    .unwrap_err();
    assert!(
        errors.for_key("blob.s3.secret_access_key").is_some(),
        "an inline secret is an unknown key: {errors}"
    );
}

#[test]
fn an_unset_secret_variable_is_named_without_its_value() {
    let errors = load_from(
        Some("[blob]\nbackend = \"s3\"\n[blob.s3]\nbucket = \"intake\"\naccess_key_id_env = \"S3_ID\"\nsecret_access_key_env = \"S3_SECRET\"\n"),
        &env(&[("S3_ID", "AKIDEXAMPLE")]),
    )
    .unwrap_err();
    let problem = errors
        .for_key("blob.s3.secret_access_key_env")
        .expect("problem for the missing variable");
    assert!(problem.message.contains("S3_SECRET is not set"), "{errors}");
    assert!(!errors.to_string().contains("AKIDEXAMPLE"), "{errors}");
}

#[test]
fn the_local_backend_ignores_the_s3_section() {
    let config = load_from(
        Some("[blob]\nbackend = \"local\"\ndir = \"/srv/blobs\"\n[blob.s3]\nbucket = \"x\"\n"),
        &[],
    )
    .expect("valid");
    assert!(config.blob.s3.is_none());
    assert_eq!(config.blob.dir, std::path::PathBuf::from("/srv/blobs"));
}
