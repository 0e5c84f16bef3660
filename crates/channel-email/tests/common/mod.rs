//! Shared by the email channel's integration tests: the test servers
//! (`scripts/test-services start imap smtp`), a mailbox per test, the Python
//! imaplib helper as the other side, and a channel wired to an in-memory bus.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use intake_blob::LocalDirBlobStore;
use intake_bus::{Record, Topics};
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelContext, TicketEvent};
use intake_channel_email::config::{AccountConfig, RawEmailConfig};

/// Longest wait for anything the tests wait on.
pub const WAIT: Duration = Duration::from_secs(60);

/// The test servers' coordinates, or None (skip) outside CI when they are missing.
pub fn servers(needs_smtp: bool) -> Option<()> {
    let mut missing = Vec::new();
    for var in [
        "INTAKE_TEST_IMAP",
        "INTAKE_TEST_IMAPS",
        "INTAKE_TEST_IMAP_PASSWORD",
        "INTAKE_TEST_TLS_CA",
    ] {
        if std::env::var(var).map_or(true, |v| v.is_empty()) {
            missing.push(var);
        }
    }
    if needs_smtp {
        for var in [
            "INTAKE_TEST_SMTP",
            "INTAKE_TEST_SMTP_USER",
            "INTAKE_TEST_SMTP_MAILDIR",
        ] {
            if std::env::var(var).map_or(true, |v| v.is_empty()) {
                missing.push(var);
            }
        }
    }
    if missing.is_empty() {
        return Some(());
    }
    let hint =
        "run `scripts/test-services start imap smtp` and `eval \"$(scripts/test-services env)\"`";
    if std::env::var("CI").is_ok_and(|v| v == "true" || v == "1") {
        panic!("{} not set; {hint}", missing.join(", "));
    }
    eprintln!("skipping: {} not set; {hint}", missing.join(", "));
    None
}

pub fn env(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| panic!("{var} is not set"))
}

/// A fresh mailbox (Dovecot's static passdb lets any user name in).
pub fn fresh_user() -> String {
    format!("help-{}@example.test", uuid::Uuid::new_v4().simple())
}

fn tool() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/imap_tool.py")
}

/// Runs the imaplib helper; returns its stdout.
pub fn imap_tool(args: &[&str], stdin: Option<&[u8]>) -> String {
    use std::io::Write as _;
    let mut child = Command::new("python3")
        .arg(tool())
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    {
        let mut input = child.stdin.take().unwrap();
        if let Some(bytes) = stdin {
            input.write_all(bytes).unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "imap_tool {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// APPENDs `raw` to `folder` of `user`.
pub fn append(user: &str, folder: &str, raw: &[u8]) {
    imap_tool(&["append", user, folder], Some(raw));
}

/// APPENDs many mails in one session (files in a temp dir).
pub fn append_many(user: &str, folder: &str, raws: &[Vec<u8>]) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["append".to_owned(), user.to_owned(), folder.to_owned()];
    for (i, raw) in raws.iter().enumerate() {
        let path = dir.path().join(format!("{i}.eml"));
        std::fs::write(&path, raw).unwrap();
        args.push(path.display().to_string());
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    imap_tool(&refs, None);
}

/// One mail in a folder, as the helper lists it.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Listed {
    pub uid: u32,
    pub message_id: String,
    pub flags: Vec<String>,
}

pub fn list(user: &str, folder: &str) -> Vec<Listed> {
    serde_json::from_str(&imap_tool(&["list", user, folder], None)).unwrap()
}

/// A simple mail from a customer to the support address.
pub fn mail(user: &str, message_id: &str, subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\nSubject: {subject}\r\n\
         Message-ID: <{message_id}>\r\nDate: Tue, 1 Dec 2026 10:00:00 +0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// The account of `user` on the plaintext listener, from TOML (so the
/// config path is exercised), with `extra` lines added to the account.
pub fn account(user: &str, extra_account: &str, extra_imap: &str) -> AccountConfig {
    let (host, port) = env("INTAKE_TEST_IMAP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let toml = format!(
        r#"
[[accounts]]
name = "help"
address = "{user}"
{extra_account}
[accounts.imap]
host = "{host}"
port = {port}
tls = "none"
username = "{user}"
password_env = "INTAKE_TEST_IMAP_PASSWORD"
command_timeout_secs = 30
{extra_imap}
"#
    );
    let raw: RawEmailConfig = toml::from_str(&toml).expect("test config parses");
    let mut config = raw.validate().expect("test config is valid");
    config.accounts.remove(0)
}

/// A channel context over an in-memory bus and a temp blob dir.
pub fn context(blobs: &std::path::Path) -> (ChannelContext, Arc<RecordingPublisher>) {
    let publisher = RecordingPublisher::new();
    let ctx = ChannelContext {
        publisher: publisher.clone(),
        topics: Topics::new("test"),
        blobs: Arc::new(LocalDirBlobStore::new(blobs)),
    };
    (ctx, publisher)
}

/// The ticket events on the email topic, in order.
pub fn events(publisher: &RecordingPublisher) -> Vec<TicketEvent> {
    publisher
        .records()
        .iter()
        .filter(|r| r.topic == "test.events.email")
        .map(|r| TicketEvent::from_json(&r.payload).expect("a valid event"))
        .collect()
}

/// Dead letters.
pub fn dead_letters(publisher: &RecordingPublisher) -> Vec<Record> {
    publisher
        .records()
        .into_iter()
        .filter(|r| r.topic == "test.dlq")
        .collect()
}

/// Waits until `done` holds (up to [`WAIT`]); panics with `what` otherwise.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `[accounts.smtp]` table; `password` is its password line.
pub fn smtp_section(password: &str) -> String {
    let (host, port) = env("INTAKE_TEST_SMTP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let host = if host == "127.0.0.1" {
        "localhost".to_owned()
    } else {
        host
    };
    format!(
        "[accounts.smtp]\nhost = \"{host}\"\nport = {port}\ntls = \"starttls\"\nca_file = \"{}\"\n\
         username = \"{}\"\n{password}\n",
        env("INTAKE_TEST_TLS_CA"),
        env("INTAKE_TEST_SMTP_USER"),
    )
}

pub const PASSWORD_ENV: &str = "password_env = \"INTAKE_TEST_SMTP_PASSWORD\"";

/// The sink's copy of the mail whose headers contain `needle`.
pub async fn sink_copy(needle: &str) -> String {
    let dir = std::path::PathBuf::from(env("INTAKE_TEST_SMTP_MAILDIR")).join("new");
    let mut found = None;
    wait_until("the sink's copy", || {
        found = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .find_map(|entry| {
                let text = std::fs::read_to_string(entry.path()).ok()?;
                text.contains(needle).then_some(text)
            });
        found.is_some()
    })
    .await;
    found.unwrap()
}

pub fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    let head = mail.split("\n\n").next().unwrap_or(mail);
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}
