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
mod mail_support;

use std::path::PathBuf;
use std::time::Duration;

use common::{Backend, World, metric_value, wait_for};
use mail_support::{WAIT, env, imap_tool, servers};
use serde_json::json;

const HOOK_SECRET: &str = "e2e-zendesk-webhook-secret";
const AGENT_TEXT: &str = "The November invoice is attached to your account now.";

/// The mailbox on the test servers, no acknowledgements, the Zendesk
/// webhook on with `mail_replies`.
fn mailbox_config(user: &str, mail_replies: &str) -> String {
    format!(
        "{}\n[acknowledgements]\nenabled = false\n[zendesk_webhook]\nenabled = true\n\
         signing_secret_env = \"E2E_HOOK_SECRET\"\nmail_replies = \"{mail_replies}\"\n",
        mail_support::mailbox_section(user, "")
    )
}

/// The sink's mails that answer `message_id`.
fn replies_to(message_id: &str) -> Vec<Vec<u8>> {
    let maildir = PathBuf::from(env("INTAKE_TEST_SMTP_MAILDIR").unwrap());
    mail_support::replies_to(&maildir, message_id)
        .into_iter()
        .map(|(_, raw)| raw)
        .collect()
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
    imap_tool(&["append", &user, "INBOX"], Some(raw.as_bytes()), None);
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
