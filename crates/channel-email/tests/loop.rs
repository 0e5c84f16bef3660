//! Two mailboxes answering each other: our help@ (the email channel plus an
//! acknowledgement for every event that is not automatic, the outcome path's
//! rule) and the customer's side, an auto-responder. Delivery between them is
//! an APPEND of the formatted mail (what an MTA would do); our
//! acknowledgement is the `SmtpReplySender`'s own mail. The loop must stop:
//! the state where both drivers handled every event and both inboxes are
//! empty is reached only if it does.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::*;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{PullRunner, PullRunnerOptions, Reply};
use intake_channel_email::cursor::MemoryCursors;
use intake_channel_email::{EmailChannel, SmtpReplySender};
use tokio_util::sync::CancellationToken;

struct Side {
    publisher: Arc<RecordingPublisher>,
    handled: Arc<AtomicUsize>,
}

fn start_channel(
    user: &str,
    ctx_dir: &std::path::Path,
    shutdown: &CancellationToken,
) -> Arc<RecordingPublisher> {
    let (ctx, publisher) = context(ctx_dir);
    let channel = EmailChannel::new(
        account(user, "", ""),
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    let mut runner = PullRunner::new(PullRunnerOptions {
        initial_backoff: Duration::from_millis(200),
        ..PullRunnerOptions::default()
    });
    runner.add(Box::new(channel));
    tokio::spawn(runner.run(ctx, shutdown.clone()));
    publisher
}

/// Answers each new event of `publisher` with `answer` (None: no answer),
/// delivering the answer by APPEND; counts handled events.
fn drive(
    publisher: Arc<RecordingPublisher>,
    shutdown: CancellationToken,
    answer: impl Fn(&intake_channel::TicketEvent) -> Option<(String, Vec<u8>)> + Send + 'static,
) -> Arc<AtomicUsize> {
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            let all = events(&publisher);
            let done = count.load(Ordering::SeqCst);
            for event in &all[done..] {
                if let Some((to, raw)) = answer(event) {
                    let raw = raw.clone();
                    tokio::task::spawn_blocking(move || append(&to, "INBOX", &raw))
                        .await
                        .unwrap();
                }
                count.fetch_add(1, Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    handled
}

/// Our acknowledgement of `event`, as the SMTP sender formats it.
fn acknowledgement(
    sender: &SmtpReplySender,
    event: &intake_channel::TicketEvent,
) -> (String, Vec<u8>) {
    let reply = Reply {
        channel: "email".to_owned(),
        contact_key: event.contact.key.clone(),
        conversation_id: event.conversation.thread_id.clone(),
        ticket_id: Some(77),
        text: "Thank you, your request is ticket 77.".to_owned(),
        subject: Some(format!(
            "[#77] Re: {}",
            event.subject.clone().unwrap_or_default()
        )),
        in_reply_to: vec![event.channel_message_id.clone()],
        outcome_id: uuid::Uuid::new_v5(&event.event_id, b"ack"),
        ..Reply::default()
    };
    let to = event.contact.email.clone().unwrap();
    (to, sender.message(&reply).unwrap().formatted())
}

/// The customer side's automatic answer to `event`; `marked`: it carries
/// `Auto-Submitted: auto-replied` (RFC 3834) or not (a careless responder).
fn auto_answer(peer: &str, event: &intake_channel::TicketEvent, marked: bool) -> (String, Vec<u8>) {
    let to = event.contact.email.clone().unwrap();
    let header = if marked {
        "Auto-Submitted: auto-replied\r\n"
    } else {
        ""
    };
    let raw = format!(
        "From: {peer}\r\nTo: {to}\r\nSubject: Auto: {}\r\nMessage-ID: <auto-{}@customer.test>\r\n\
         In-Reply-To: <{}>\r\n{header}Content-Type: text/plain\r\n\r\nI am out of the office.\r\n",
        event.subject.clone().unwrap_or_default(),
        uuid::Uuid::new_v4().simple(),
        event.channel_message_id
    );
    (to, raw.into_bytes())
}

async fn run_loop(
    peer_marks_its_answers: bool,
    peer_answers_automatic_mail: bool,
) -> (Side, Side, usize) {
    let dir = tempfile::tempdir().unwrap();
    let help = fresh_user();
    let peer = fresh_user();
    let shutdown = CancellationToken::new();
    let ours = start_channel(&help, &dir.path().join("ours"), &shutdown);
    let theirs = start_channel(&peer, &dir.path().join("theirs"), &shutdown);
    let smtp_config = intake_channel_email::config::SmtpConfig {
        host: "127.0.0.1".to_owned(),
        port: 1,
        tls: intake_channel_email::config::TlsMode::None,
        ca_file: None,
        credentials: None,
        xoauth2_user: None,
        timeout: Duration::from_secs(5),
    };
    let sender = SmtpReplySender::new(&help, &smtp_config).unwrap();
    let acks = Arc::new(AtomicUsize::new(0));
    let acks_sent = acks.clone();
    let our_handled = drive(ours.clone(), shutdown.clone(), move |event| {
        // The outcome path's rule: never acknowledge automatic mail.
        (!event.auto_submitted).then(|| {
            acks_sent.fetch_add(1, Ordering::SeqCst);
            acknowledgement(&sender, event)
        })
    });
    let peer_name = peer.clone();
    let their_handled = drive(theirs.clone(), shutdown.clone(), move |event| {
        (peer_answers_automatic_mail || !event.auto_submitted)
            .then(|| auto_answer(&peer_name, event, peer_marks_its_answers))
    });
    // The customer writes once.
    let start = format!(
        "From: Customer <{peer}>\r\nTo: {help}\r\nSubject: Help\r\nMessage-ID: <start@customer.test>\r\n\
         Content-Type: text/plain\r\n\r\nplease help\r\n"
    );
    append(&help, "INBOX", start.as_bytes());
    // Quiet: every event handled, both inboxes empty, and no count moved
    // while the inboxes were being listed (so nothing was in flight).
    let counts = || {
        (
            events(&ours).len(),
            our_handled.load(Ordering::SeqCst),
            events(&theirs).len(),
            their_handled.load(Ordering::SeqCst),
        )
    };
    wait_until("both sides quiet", || {
        let before = counts();
        let empty = list(&help, "INBOX").is_empty() && list(&peer, "INBOX").is_empty();
        let after = counts();
        before == after && empty && before.0 >= 1 && before.0 == before.1 && before.2 == before.3
    })
    .await;
    shutdown.cancel();
    (
        Side {
            publisher: ours,
            handled: our_handled,
        },
        Side {
            publisher: theirs,
            handled: their_handled,
        },
        acks.load(Ordering::SeqCst),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auto_responder_that_marks_its_answers_gets_one_acknowledgement_and_the_loop_stops() {
    let Some(()) = servers(false) else { return };
    let (ours, theirs, acks) = run_loop(true, true).await;
    let our_events = events(&ours.publisher);
    assert_eq!(acks, 1, "one acknowledgement, for the customer's own mail");
    assert_eq!(
        our_events.len(),
        2,
        "the customer's mail and one auto-answer: {our_events:?}"
    );
    assert!(!our_events[0].auto_submitted);
    assert!(
        our_events[1].auto_submitted,
        "the auto-answer is recognised"
    );
    assert_eq!(
        events(&theirs.publisher).len(),
        1,
        "the customer side got one acknowledgement"
    );
    assert!(
        events(&theirs.publisher)[0].auto_submitted,
        "our acknowledgement is marked automatic"
    );
    assert_eq!(ours.handled.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_careless_auto_responder_that_respects_auto_submitted_never_answers_our_acknowledgement()
{
    let Some(()) = servers(false) else { return };
    let (ours, theirs, acks) = run_loop(false, false).await;
    assert_eq!(acks, 1);
    assert_eq!(
        events(&ours.publisher).len(),
        1,
        "no answer came back to our acknowledgement"
    );
    assert_eq!(theirs.handled.load(Ordering::SeqCst), 1);
}
