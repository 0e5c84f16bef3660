//! Shared by the built-binary mail tests (`tests/email_*.rs`): the test
//! mail servers, Python's imaplib as the other side, the SMTP sink's copies.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

pub const WAIT: Duration = Duration::from_secs(120);
pub const FRIDAY_17_57: &str = "2026-11-27T17:57:00+03:00";
/// The same instant as IMAP's APPEND writes an internal date.
pub const FRIDAY_17_57_IMAP: &str = "27-Nov-2026 17:57:00 +0300";

pub fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// The mail servers, or `None` (skip) outside CI when they are missing.
pub fn servers() -> Option<()> {
    let vars = [
        "INTAKE_TEST_IMAP",
        "INTAKE_TEST_IMAP_PASSWORD",
        "INTAKE_TEST_SMTP",
        "INTAKE_TEST_SMTP_USER",
        "INTAKE_TEST_SMTP_PASSWORD",
        "INTAKE_TEST_SMTP_MAILDIR",
        "INTAKE_TEST_TLS_CA",
    ];
    let missing: Vec<&str> = vars.into_iter().filter(|v| env(v).is_none()).collect();
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

/// Python's imaplib, the other side (crates/channel-email/tests/support).
pub fn imap_tool(args: &[&str], stdin: Option<&[u8]>, append_date: Option<&str>) -> String {
    use std::io::Write as _;
    let tool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/channel-email/tests/support/imap_tool.py");
    let mut command = Command::new("python3");
    command.arg(tool).args(args);
    if let Some(date) = append_date {
        command.env("APPEND_DATE", date);
    }
    let mut child = command
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
        "imap_tool {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Message-IDs in `folder` of `user`.
pub fn message_ids(user: &str, folder: &str) -> Vec<String> {
    let listed: serde_json::Value =
        serde_json::from_str(&imap_tool(&["list", user, folder], None, None)).unwrap();
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect()
}

/// Mails the SMTP sink holds that answer `message_id` (its Maildir is
/// shared by every test, so they are told apart by threading).
pub fn replies_to(maildir: &Path, message_id: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Ok(raw) = std::fs::read(entry.path()) else {
            continue;
        };
        let Some(parsed) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        let in_reply_to = parsed
            .in_reply_to()
            .as_text()
            .unwrap_or_default()
            .to_owned();
        if in_reply_to.trim_matches(['<', '>']) == message_id {
            found.push((entry.path(), raw));
        }
    }
    found
}

/// The `[channels.email]` section of `user`'s mailbox on the test servers,
/// with quick acknowledgement retries; `account_extra` adds lines to the
/// account (limits, ...).
pub fn mailbox_config(user: &str, account_extra: &str) -> String {
    format!(
        "{}\n[acknowledgements]\nretry_initial_backoff_ms = 200\nretry_max_backoff_secs = 2\n",
        mailbox_section(user, account_extra)
    )
}

/// The `[channels.email]` section alone (an account with IMAP and SMTP on
/// the test servers), for tests that write their other sections themselves.
pub fn mailbox_section(user: &str, account_extra: &str) -> String {
    let (imap_host, imap_port) = env("INTAKE_TEST_IMAP")
        .unwrap()
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let smtp_port = env("INTAKE_TEST_SMTP")
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    format!(
        r#"
[channels.email]
enabled = true
[[channels.email.accounts]]
name = "help"
address = "{user}"
{account_extra}
[channels.email.accounts.imap]
host = "{imap_host}"
port = {imap_port}
tls = "none"
username = "{user}"
password_env = "INTAKE_TEST_IMAP_PASSWORD"
processed_folder = "Processed"
command_timeout_secs = 30
[channels.email.accounts.smtp]
host = "localhost"
port = {smtp_port}
tls = "starttls"
ca_file = {ca:?}
username = {smtp_user:?}
password_env = "INTAKE_TEST_SMTP_PASSWORD"
"#,
        ca = env("INTAKE_TEST_TLS_CA").unwrap(),
        smtp_user = env("INTAKE_TEST_SMTP_USER").unwrap(),
    )
}

/// The customer's mail: a Base64 UTF-8 subject and a KOI8-R body.
pub fn customer_mail(user: &str, message_id: &str) -> Vec<u8> {
    let head = format!(
        "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\n\
         Subject: =?utf-8?B?{subject}?=\r\nMessage-ID: <{message_id}>\r\n\
         Date: Fri, 27 Nov 2026 17:56:40 +0300\r\nMIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
        subject = base64_encode("Не приходит счёт".as_bytes()),
    );
    let mut raw = head.into_bytes();
    raw.extend_from_slice(&koi8r("Счёт за ноябрь так и не пришёл."));
    raw.extend_from_slice(b"\r\n");
    raw
}

pub fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `text` in KOI8-R.
pub fn koi8r(text: &str) -> Vec<u8> {
    let (bytes, _, unmappable) = encoding_rs::KOI8_R.encode(text);
    assert!(!unmappable, "{text} is KOI8-R");
    bytes.into_owned()
}
