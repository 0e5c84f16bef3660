//! Agent replies to a mail customer end to end, with the built binary and
//! the real mail servers (Dovecot, the aiosmtpd sink; issue 16): with
//! `zendesk_webhook.mail_replies = "intake"` the agent's public comment
//! reaches the SMTP sink once, from the support address, threaded on the
//! customer's mail and not marked automatic; an internal note and a
//! redelivery send nothing more. With the default (`"zendesk"`, Zendesk's
//! own notifications answer mail) intake sends nothing.
//!
//! Needs `scripts/test-services start imap smtp`; fails in CI without them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Backend, World, metric_value, wait_for};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(120);
const HOOK_SECRET: &str = "e2e-zendesk-webhook-secret";
const AGENT_TEXT: &str = "The November invoice is attached to your account now.";

fn env(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.is_empty())
}

/// The mail servers, or `None` (skip) outside CI when they are missing.
fn servers() -> Option<()> {
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

/// Appends `raw` to `user`'s INBOX with Python's imaplib
/// (crates/channel-email/tests/support).
fn append(user: &str, raw: &[u8]) {
    use std::io::Write as _;
    let tool = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/channel-email/tests/support/imap_tool.py");
    let mut child = Command::new("python3")
        .arg(tool)
        .args(["append", user, "INBOX"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "imap_tool append: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Mails in the SMTP sink that answer `message_id` (the Maildir is shared
/// by every test, so they are told apart by threading).
fn replies_to(message_id: &str) -> Vec<Vec<u8>> {
    let maildir = PathBuf::from(env("INTAKE_TEST_SMTP_MAILDIR").unwrap());
    let Ok(entries) = std::fs::read_dir(maildir.join("new")) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| std::fs::read(entry.path()).ok())
        .filter(|raw| {
            mail_parser::MessageParser::default()
                .parse(raw)
                .and_then(|m| m.in_reply_to().as_text().map(str::to_owned))
                .is_some_and(|id| id.trim_matches(['<', '>']) == message_id)
        })
        .collect()
}

fn mailbox_config(user: &str, mail_replies: &str) -> String {
    let imap = env("INTAKE_TEST_IMAP").unwrap();
    let (imap_host, imap_port) = imap.split_once(':').unwrap();
    let smtp = env("INTAKE_TEST_SMTP").unwrap();
    let smtp_port = smtp.split_once(':').unwrap().1;
    format!(
        r#"
[channels.email]
enabled = true
[[channels.email.accounts]]
name = "help"
address = "{user}"
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
[acknowledgements]
enabled = false
[zendesk_webhook]
enabled = true
signing_secret_env = "E2E_HOOK_SECRET"
mail_replies = "{mail_replies}"
"#,
        ca = env("INTAKE_TEST_TLS_CA").unwrap(),
        smtp_user = env("INTAKE_TEST_SMTP_USER").unwrap(),
    )
}

/// Starts intake for a fresh mailbox, lets a customer's mail become a
/// ticket and has the simulator's agent answer it. Returns the world (for
/// metrics), the running intake, the support address, the customer's
/// Message-ID and the agent reply's webhook body.
async fn answered_mail(
    mail_replies: &str,
) -> (World, common::Intake, String, String, serde_json::Value) {
    let user = format!("help-{}@example.test", uuid::Uuid::new_v4().simple());
    let world = World::with_sim(
        Backend::Embedded,
        None,
        Default::default(),
        &mailbox_config(&user, mail_replies),
    )
    .await;
    let mut intake = world.spawn_env("all", None, &[("E2E_HOOK_SECRET", HOOK_SECRET)]);
    world.wait_ready(&mut intake).await;
    world
        .sim_admin(
            reqwest::Method::POST,
            "/admin/webhooks",
            Some(json!({"url": world.url("/v1/zendesk/events"), "signing_secret": HOOK_SECRET})),
        )
        .await;
    let message_id = format!("{}@customer.test", uuid::Uuid::new_v4().simple());
    let raw = format!(
        "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\nSubject: Invoice missing\r\n\
         Message-ID: <{message_id}>\r\nDate: Tue, 01 Dec 2026 10:00:00 +0300\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
         The November invoice never arrived.\r\n"
    );
    append(&user, raw.as_bytes());
    let ticket_id = world.wait_tickets(1, WAIT).await[0]["id"].as_u64().unwrap();
    world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{ticket_id}/agent_reply"),
            Some(json!({"body": "note: resend from billing", "public": false})),
        )
        .await;
    let reply = world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{ticket_id}/agent_reply"),
            Some(json!({"body": AGENT_TEXT})),
        )
        .await;
    (world, intake, user, message_id, reply)
}

fn header<'a>(mail: &'a str, name: &str) -> Option<&'a str> {
    mail.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_reaches_the_mail_customer_once_threaded_from_the_support_address() {
    let Some(()) = servers() else { return };
    let (world, mut intake, user, message_id, reply) = answered_mail("intake").await;
    wait_for("the reply in the SMTP sink, recorded sent", async || {
        replies_to(&message_id).len() == 1
            && metric_value(
                &world.metrics().await,
                "intake_agent_replies_sent_total",
                &[("channel", "email")],
            ) == Some(1.0)
    })
    .await;
    // Zendesk redelivers the webhook: nothing more.
    let body = reply["payload"].to_string();
    let timestamp = chrono::Utc::now().to_rfc3339();
    let signature = intake_zendesk_sim::webhooks::sign(HOOK_SECRET, &timestamp, body.as_bytes());
    let status = reqwest::Client::new()
        .post(world.url("/v1/zendesk/events"))
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", timestamp)
        .header("x-zendesk-webhook-signature", signature)
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    wait_for("the note and the duplicate counted", async || {
        let metrics = world.metrics().await;
        let skipped = |reason: &str| {
            metric_value(
                &metrics,
                "intake_agent_replies_skipped_total",
                &[("reason", reason)],
            )
        };
        skipped("internal_note") == Some(1.0) && skipped("duplicate") == Some(1.0)
    })
    .await;
    intake.terminate(Duration::from_secs(30)).await;

    let mails = replies_to(&message_id);
    assert_eq!(mails.len(), 1, "exactly one mail");
    let mail = String::from_utf8_lossy(&mails[0]).into_owned();
    assert!(
        header(&mail, "From").is_some_and(|from| from.contains(&user)),
        "from the support address: {mail}"
    );
    assert_eq!(header(&mail, "To"), Some("anna@customer.test"), "{mail}");
    assert!(
        header(&mail, "References").is_some_and(|r| r.contains(&message_id)),
        "{mail}"
    );
    assert!(
        header(&mail, "Subject").is_some_and(|s| s.contains("Re: Invoice missing")),
        "{mail}"
    );
    assert_eq!(
        header(&mail, "Auto-Submitted"),
        None,
        "a person's answer: {mail}"
    );
    assert!(mail.contains(AGENT_TEXT), "{mail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_zendesk_answers_mail_customers_itself() {
    let Some(()) = servers() else { return };
    let (world, mut intake, _, message_id, _) = answered_mail("zendesk").await;
    wait_for("the reply left to Zendesk", async || {
        metric_value(
            &world.metrics().await,
            "intake_agent_replies_skipped_total",
            &[("reason", "left_to_zendesk")],
        ) == Some(1.0)
    })
    .await;
    intake.terminate(Duration::from_secs(30)).await;
    assert!(replies_to(&message_id).is_empty(), "intake sent no mail");
}
