//! The mail rules of issue 11 end to end with the built binary, against
//! Dovecot, the SMTP sink and the Zendesk simulator:
//! - an out-of-office answer to our acknowledgement becomes an internal note
//!   on the customer's ticket, with no ticket and no acknowledgement of its
//!   own, and so is the bounce of our acknowledgement; a bounce that refers
//!   to nothing is dropped, counted;
//! - a mail that names its ticket only by the subject token `[#id]` joins it
//!   when its sender is the ticket's requester, and becomes a ticket of its
//!   own that mentions the token when not;
//! - attachments over the size limit are named in the acknowledgement and
//!   on the ticket as an internal note.
//!
//! Needs `scripts/test-services start imap smtp`; fails in CI without them.

mod common;
mod mail_support;

use std::path::PathBuf;

use common::{Backend, Intake, World, metric_value, wait_for};
use mail_support::*;
use serde_json::Value;

/// A running binary on `user`'s mailbox.
async fn start(user: &str, account_extra: &str) -> (World, Intake) {
    let extra = mailbox_config(user, account_extra);
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &extra).await;
    let clock = [("INTAKE_TEST_NOW", FRIDAY_17_57)];
    let mut intake = world.spawn_env("all", None, &clock);
    world.wait_ready(&mut intake).await;
    (world, intake)
}

fn maildir() -> PathBuf {
    PathBuf::from(env("INTAKE_TEST_SMTP_MAILDIR").unwrap())
}

fn fresh_user() -> String {
    format!("help-{}@example.test", uuid::Uuid::new_v4().simple())
}

fn fresh_id() -> String {
    format!("{}@customer.test", uuid::Uuid::new_v4().simple())
}

fn append(user: &str, raw: &[u8]) {
    imap_tool(&["append", user, "INBOX"], Some(raw), None);
}

/// The acknowledgement answering `message_id`, parsed: (Message-ID, text).
async fn acknowledgement_of(message_id: &str) -> (String, String) {
    let mut found = None;
    wait_for("the acknowledgement at the sink", async || {
        found = replies_to(&maildir(), message_id).into_iter().next();
        found.is_some()
    })
    .await;
    let raw = found.unwrap().1;
    let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
    (
        parsed.message_id().unwrap().to_owned(),
        parsed
            .body_text(0)
            .unwrap_or_default()
            .replace("\r\n", "\n"),
    )
}

fn comments(ticket: &Value) -> Vec<Value> {
    ticket["comments"].as_array().cloned().unwrap_or_default()
}

fn plain_mail(
    from: &str,
    user: &str,
    id: &str,
    subject: &str,
    headers: &str,
    body: &str,
) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {user}\r\nSubject: =?utf-8?B?{subject}?=\r\nMessage-ID: <{id}>\r\n\
         Date: Fri, 27 Nov 2026 18:00:00 +0300\r\n{headers}MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\r\n{body}\r\n",
        subject = base64_encode(subject.as_bytes()),
    )
    .into_bytes()
}

async fn metric(world: &World, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric_value(&world.metrics().await, name, labels).unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_office_answer_is_a_note_and_a_bounce_is_nothing() {
    if servers().is_none() {
        return;
    }
    let user = fresh_user();
    let (world, mut intake) = start(&user, "").await;
    let first = fresh_id();
    append(&user, &customer_mail(&user, &first));
    let ticket = world.wait_tickets(1, WAIT).await[0].clone();
    let (ack_id, _) = acknowledgement_of(&first).await;

    // Anna's mail server answers our acknowledgement while she is away.
    let away = fresh_id();
    append(
        &user,
        &plain_mail(
            "Anna Petrova <anna@customer.test>",
            &user,
            &away,
            &format!("Автоответ: [#{}] Не приходит счёт", ticket["id"]),
            &format!("In-Reply-To: <{ack_id}>\r\nAuto-Submitted: auto-replied\r\n"),
            "Я в отпуске до 7 декабря.",
        ),
    );
    // A bounce of some other mail, referring to nothing intake knows.
    let bounce = fresh_id();
    append(
        &user,
        &format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: {user}\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{bounce}>\r\n\
             Date: Fri, 27 Nov 2026 18:01:00 +0300\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b1\"\r\n\r\n\
             --b1\r\nContent-Type: text/plain\r\n\r\nThis is the mail system. Delivery failed.\r\n\
             --b1\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.customer.test\r\n\r\n\
             Final-Recipient: rfc822; gone@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n\
             --b1--\r\n"
        )
        .into_bytes(),
    );

    // A bounce of our acknowledgement (another address of Anna's refused
    // it): the bounced mail's copy names our Message-ID.
    let our_bounce = fresh_id();
    append(
        &user,
        &format!(
            "From: Mail Delivery System <MAILER-DAEMON@mx.customer.test>\r\nTo: {user}\r\n\
             Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <{our_bounce}>\r\n\
             Date: Fri, 27 Nov 2026 18:02:00 +0300\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=delivery-status; boundary=\"b2\"\r\n\r\n\
             --b2\r\nContent-Type: text/plain\r\n\r\nMailbox full: anna.old@customer.test\r\n\
             --b2\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: {user}\r\nMessage-ID: <{ack_id}>\r\n\
             Subject: acknowledgement\r\n\r\n--b2--\r\n"
        )
        .into_bytes(),
    );

    wait_for("the notes and the dropped bounce", async || {
        let noted = metric(
            &world,
            "intake_loops_suppressed_total",
            &[("action", "internal_note")],
        )
        .await;
        let dropped = metric(
            &world,
            "intake_loops_suppressed_total",
            &[("action", "dropped_no_ticket")],
        )
        .await;
        noted == 2.0 && dropped == 1.0
    })
    .await;
    let tickets = world.tickets().await;
    assert_eq!(
        tickets.len(),
        1,
        "no ticket for the auto-reply or the bounce"
    );
    let comments = comments(&tickets[0]);
    let notes: Vec<&str> = comments
        .iter()
        .filter(|c| c["public"] == false)
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(notes.len(), 2, "{comments:#?}");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Я в отпуске до 7 декабря.")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("Mailbox full: anna.old@customer.test")),
        "the bounce of our acknowledgement: {notes:#?}"
    );
    // The note's outcome was decided (no acknowledgement for a comment) and
    // nothing answered the auto-reply or the bounce.
    wait_for("the note's outcome at the acknowledger", async || {
        metric(
            &world,
            "intake_acknowledgements_suppressed_total",
            &[("reason", "comment")],
        )
        .await
            >= 1.0
    })
    .await;
    assert!(
        replies_to(&maildir(), &away).is_empty(),
        "no answer to the auto-reply"
    );
    assert!(
        replies_to(&maildir(), &bounce).is_empty(),
        "no answer to the bounce"
    );
    assert_eq!(
        metric(
            &world,
            "intake_acknowledgements_sent_total",
            &[("channel", "email")]
        )
        .await,
        1.0,
        "only the customer's first mail was acknowledged"
    );
    // Both were handed off all the same.
    wait_for("both in Processed", async || {
        let processed = message_ids(&user, "Processed");
        processed.contains(&format!("<{away}>")) && processed.contains(&format!("<{bounce}>"))
    })
    .await;
    intake.terminate(std::time::Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_subject_token_joins_mail_of_the_requester_only() {
    if servers().is_none() {
        return;
    }
    let user = fresh_user();
    let (world, mut intake) = start(&user, "").await;
    let first = fresh_id();
    append(&user, &customer_mail(&user, &first));
    let ticket = world.wait_tickets(1, WAIT).await[0].clone();
    let token = format!("[#{}]", ticket["id"]);

    // Anna writes a new mail (no In-Reply-To, no References) with the token.
    append(
        &user,
        &plain_mail(
            "Anna Petrova <anna@customer.test>",
            &user,
            &fresh_id(),
            &format!("{token} ещё вопрос"),
            "",
            "Забыла добавить номер договора: 42.",
        ),
    );
    wait_for("Anna's mail on her ticket", async || {
        world.tickets().await.first().is_some_and(|t| {
            comments(t)
                .iter()
                .any(|c| c["body"].as_str().unwrap_or("").contains("номер договора"))
        })
    })
    .await;
    // Someone else types Anna's token: a ticket of their own.
    append(
        &user,
        &plain_mail(
            "Mallory <mallory@elsewhere.test>",
            &user,
            &fresh_id(),
            &format!("Re: {token} Не приходит счёт"),
            "",
            "Пришлите мне счёт Анны.",
        ),
    );
    let tickets = world.wait_tickets(2, WAIT).await;
    intake.terminate(std::time::Duration::from_secs(30)).await;

    assert_eq!(tickets.len(), 2);
    let annas = tickets.iter().find(|t| t["id"] == ticket["id"]).unwrap();
    assert!(
        !comments(annas)
            .iter()
            .any(|c| c["body"].as_str().unwrap_or("").contains("счёт Анны")),
        "nothing of Mallory's on Anna's ticket"
    );
    let theirs = tickets.iter().find(|t| t["id"] != ticket["id"]).unwrap();
    let description = theirs["description"].as_str().unwrap();
    assert!(
        description.contains("Пришлите мне счёт Анны."),
        "{description}"
    );
    assert!(
        description.contains(&format!(
            "The subject names ticket #{}, but the sender is neither",
            ticket["id"]
        )),
        "{description}"
    );
    assert_ne!(theirs["requester_id"], annas["requester_id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachments_left_out_are_named_in_the_acknowledgement_and_noted_on_the_ticket() {
    if servers().is_none() {
        return;
    }
    let user = fresh_user();
    let (world, mut intake) = start(&user, "max_attachment_bytes = 1000").await;
    let id = fresh_id();
    let big = base64_encode(&vec![b'x'; 3000]);
    let small = base64_encode(b"small file");
    append(
        &user,
        &format!(
            "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\nSubject: Scans\r\n\
             Message-ID: <{id}>\r\nDate: Fri, 27 Nov 2026 17:56:40 +0300\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/mixed; boundary=\"m1\"\r\n\r\n\
             --m1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nСканы во вложении.\r\n\
             --m1\r\nContent-Type: image/tiff; name=\"scan.tiff\"\r\nContent-Disposition: attachment; filename=\"scan.tiff\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{big}\r\n\
             --m1\r\nContent-Type: text/plain; name=\"note.txt\"\r\nContent-Disposition: attachment; filename=\"note.txt\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{small}\r\n--m1--\r\n"
        )
        .into_bytes(),
    );
    let (_, text) = acknowledgement_of(&id).await;
    assert!(
        text.contains("К сожалению, не все вложения дошли до нас:\n— scan.tiff (2,9 КБ): файл больше допустимых 1000 байт"),
        "{text}"
    );
    assert!(
        !text.contains("note.txt"),
        "the kept file is not named: {text}"
    );
    wait_for("the note on the ticket", async || {
        world
            .tickets()
            .await
            .first()
            .is_some_and(|t| comments(t).len() == 2)
    })
    .await;
    let ticket = world.tickets().await[0].clone();
    intake.terminate(std::time::Duration::from_secs(30)).await;
    let comments = comments(&ticket);
    assert_eq!(comments[0]["public"], true);
    assert!(
        !comments[0]["body"].as_str().unwrap().contains("scan.tiff"),
        "the customer's words only"
    );
    assert_eq!(comments[1]["public"], false);
    let note = comments[1]["body"].as_str().unwrap();
    assert!(
        note.contains("- scan.tiff (2.9 KB): larger than the limit of 1000 bytes"),
        "{note}"
    );
}
