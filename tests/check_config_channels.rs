//! `check-config` with the built binary on a file with problems in two
//! channel sections (each defined by its own crate) and in a core section:
//! every problem is printed at once, each with its full key path.

mod common;

use std::time::Duration;

use common::{Backend, World, run_intake};

const BROKEN: &str = r#"
[router]
retry_initial_backoff_ms = 0

[channels.chat]
attachment_fetch_timeout_secs = 99
tags = ["ok", "two words"]

[channels.example]
enabled = true
max_body_bytes = 0
secret = "pasted-inline"

[channels.fax]
enabled = true
"#;

/// Every problem of `BROKEN`, by key, with a word of its message.
const EXPECTED: [(&str, &str); 8] = [
    ("router.retry_initial_backoff_ms", "at least 1"),
    (
        "channels.chat.attachment_fetch_timeout_secs",
        "between 1 and 20",
    ),
    ("channels.chat.tags[1]", "not a Zendesk tag"),
    (
        "channels.chat.secret_env",
        "required while channels.chat.enabled",
    ),
    ("channels.example.max_body_bytes", "at least 1"),
    ("channels.example.secret", "secret_env"),
    (
        "channels.example.secret_env",
        "required while channels.example.enabled",
    ),
    ("channels.fax", "registered: chat, example"),
];

#[tokio::test]
async fn problems_in_two_channel_sections_and_a_core_section_are_all_printed() {
    let world = World::new(Backend::Embedded, None).await;
    let path = world.path("broken-channels.toml");
    std::fs::write(&path, BROKEN).unwrap();
    let path = path.display().to_string();
    let out = run_intake(
        &["check-config", "--config", &path, "--role", "gateway"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    let lines: Vec<&str> = out.stderr.lines().map(str::trim).collect();
    for (key, fragment) in EXPECTED {
        assert!(
            lines
                .iter()
                .any(|line| line.starts_with(&format!("{key}: ")) && line.contains(fragment)),
            "no {key:?} problem mentioning {fragment:?}: {out:?}"
        );
    }
    assert!(
        out.stderr
            .contains(&format!("configuration has {} problem(s)", EXPECTED.len())),
        "exactly these problems: {out:?}"
    );
    assert!(
        !out.stderr.contains("pasted-inline"),
        "a secret is never shown: {out:?}"
    );
}
