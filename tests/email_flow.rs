//! The help@ mailbox end to end with the built binary (issues 10 and 11): a
//! mail that the real IMAP server (Dovecot) received at 17:57 Moscow time on
//! Friday 27 November 2026 (its INTERNALDATE, set by the APPEND; Dovecot
//! refuses dates in the future, so the day is a past one) becomes one ticket
//! in the simulator, is moved to
//! the processed folder, and gets exactly one acknowledgement through the
//! real SMTP server (the aiosmtpd sink), from the support address, threaded
//! on the customer's mail, marked as automatic, and naming the mail policy's
//! deadline: 12 working hours later, Tuesday 1 December 13:57 (3 minutes
//! that Friday, 8 hours on Monday, 3 hours 57 minutes on Tuesday). The
//! customer's answer to that acknowledgement (In-Reply-To its Message-ID
//! only, as Outlook sends it) becomes a comment on the same ticket.
//!
//! Needs `scripts/test-services start imap smtp`; fails in CI without them.

mod common;
mod mail_support;

use std::path::PathBuf;
use std::time::Duration;

use common::{Backend, World, metric_value};
use mail_support::*;
use tokio::time::Instant;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_becomes_one_ticket_and_one_acknowledgement_naming_tuesday_13_57() {
    if servers().is_some() {
        mail_to_ticket_and_acknowledgement(false).await;
    }
}

/// The process is SIGKILLed after the mail's event is on the bus and before
/// the mail is moved out of INBOX: the restarted one takes the mail again,
/// with the same event id, so there is still one ticket and one
/// acknowledgement, and the mail ends in the processed folder.
#[cfg(feature = "crashpoints")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_publish_and_hand_off_replays_the_mail_once() {
    if servers().is_some() {
        mail_to_ticket_and_acknowledgement(true).await;
    }
}

async fn mail_to_ticket_and_acknowledgement(crash: bool) {
    let user = format!("help-{}@example.test", uuid::Uuid::new_v4().simple());
    let extra = mailbox_config(&user, "");
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &extra).await;
    let clock = [("INTAKE_TEST_NOW", FRIDAY_17_57)];
    let crashpoint = crash.then_some("email.after_publish");
    let mut intake = world.spawn_env("all", crashpoint, &clock);
    world.wait_ready(&mut intake).await;

    let message_id = format!("{}@customer.test", uuid::Uuid::new_v4().simple());
    let raw = customer_mail(&user, &message_id);
    imap_tool(
        &["append", &user, "INBOX"],
        Some(&raw),
        Some(FRIDAY_17_57_IMAP),
    );
    if crash {
        intake
            .wait_output("crashpoint reached: email.after_publish", WAIT)
            .await;
        intake.kill();
        assert_eq!(
            message_ids(&user, "INBOX"),
            vec![format!("<{message_id}>")],
            "not handed off before the crash"
        );
        assert!(message_ids(&user, "Processed").is_empty());
        intake = world.spawn_env("all", None, &clock);
        world.wait_ready(&mut intake).await;
    }

    let tickets = world.wait_tickets(1, WAIT).await;
    let ticket = &tickets[0];
    assert_eq!(ticket["subject"], "Не приходит счёт", "{ticket}");
    let description = ticket["description"].as_str().unwrap_or_default();
    assert!(
        description.contains("Счёт за ноябрь так и не пришёл."),
        "KOI8-R read, not garbled: {ticket}"
    );

    // One acknowledgement through SMTP, counted once.
    let maildir = PathBuf::from(env("INTAKE_TEST_SMTP_MAILDIR").unwrap());
    let deadline = Instant::now() + WAIT;
    loop {
        let metrics = world.metrics().await;
        let sent = metric_value(
            &metrics,
            "intake_acknowledgements_sent_total",
            &[("channel", "email")],
        );
        if sent == Some(1.0) && !replies_to(&maildir, &message_id).is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "no acknowledgement: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The mail was handed off only after its event was on the bus.
    let deadline = Instant::now() + WAIT;
    while message_ids(&user, "Processed") != vec![format!("<{message_id}>")] {
        assert!(Instant::now() < deadline, "mail not moved to Processed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(message_ids(&user, "INBOX").is_empty());
    assert_eq!(world.tickets().await.len(), 1, "one ticket");

    let replies = replies_to(&maildir, &message_id);
    assert_eq!(replies.len(), 1, "exactly one acknowledgement");
    let raw = &replies[0].1;
    let reply = mail_parser::MessageParser::default().parse(raw).unwrap();
    let header = |name: &str| {
        reply
            .header_raw(name)
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    assert_eq!(header("Auto-Submitted"), "auto-replied");
    assert!(
        header("X-RcptTo").contains("anna@customer.test"),
        "{}",
        header("X-RcptTo")
    );
    let from = reply
        .from()
        .and_then(|f| f.first())
        .and_then(|a| a.address())
        .unwrap_or_default();
    assert_eq!(from, user, "sent from the support address");
    let subject = reply.subject().unwrap_or_default();
    assert!(
        subject.contains(&format!("[#{}]", ticket["id"])),
        "the ticket token threads replies: {subject}"
    );
    let text = reply.body_text(0).unwrap_or_default().into_owned();
    assert!(text.contains(&format!("{}", ticket["id"])), "{text}");
    assert!(
        text.contains("Мы ответим до 13:57 по московскому времени во вторник, 1 декабря."),
        "the 12-working-hour mail policy: {text}"
    );

    if !crash {
        // The customer answers the acknowledgement the way Outlook does
        // (In-Reply-To only, no References, no ticket token): a comment on
        // the same ticket.
        let ack_id = reply
            .message_id()
            .expect("the acknowledgement's Message-ID");
        let answer = format!(
            "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\n\
             Subject: =?utf-8?B?{subject}?=\r\nMessage-ID: <{id}@customer.test>\r\n\
             In-Reply-To: <{ack_id}>\r\nDate: Fri, 27 Nov 2026 18:10:00 +0300\r\n\
             MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
             Спасибо, жду ответа.\r\n",
            subject = base64_encode("RE: Не приходит счёт".as_bytes()),
            id = uuid::Uuid::new_v4().simple(),
        );
        imap_tool(&["append", &user, "INBOX"], Some(answer.as_bytes()), None);
        let deadline = Instant::now() + WAIT;
        loop {
            let tickets = world.tickets().await;
            let commented = tickets.iter().any(|t| {
                t["comments"].as_array().is_some_and(|comments| {
                    comments.iter().any(|c| {
                        c["body"]
                            .as_str()
                            .unwrap_or("")
                            .contains("Спасибо, жду ответа.")
                    })
                })
            });
            if commented {
                assert_eq!(tickets.len(), 1, "the answer is a comment, not a ticket");
                assert_eq!(tickets[0]["id"], ticket["id"]);
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the answer is not on the ticket: {tickets:#?}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    intake.terminate(Duration::from_secs(30)).await;
}
