//! The email channel against the real Dovecot (`scripts/test-services start
//! imap`), run by the pull runner, with Python's imaplib as the sender side.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use intake_channel::testing::{BusMode, ControlledPublisher};
use intake_channel::{ChannelContext, PullRunner, PullRunnerOptions};
use intake_channel_email::EmailChannel;
use intake_channel_email::config::AccountConfig;
use intake_channel_email::cursor::{CursorStore, StoreCursors};
use tokio_util::sync::CancellationToken;

/// A runner over one channel, stopped (and awaited) by `stop`.
struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), intake_channel::PullRunnerError>>,
}

impl Running {
    fn start(account: AccountConfig, cursors: Arc<dyn CursorStore>, ctx: &ChannelContext) -> Self {
        let channel = EmailChannel::new(account, Vec::new(), cursors, None).unwrap();
        let mut runner = PullRunner::new(PullRunnerOptions {
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            ..PullRunnerOptions::default()
        });
        runner.add(Box::new(channel));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(runner.run(ctx.clone(), shutdown.clone()));
        Self { shutdown, task }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the channel stops within the deadline")
            .unwrap()
            .unwrap();
    }
}

async fn sqlite_cursors(dir: &std::path::Path) -> Arc<dyn CursorStore> {
    let store = intake_store::SqliteStore::open(dir.join("state.db"))
        .await
        .unwrap();
    Arc::new(StoreCursors(Arc::new(store)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_appended_mail_becomes_an_event_and_is_moved_only_after_the_bus_confirmed_it() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (mut ctx, _) = context(dir.path());
    // The bus refuses first: the mail must stay in the INBOX, unflagged.
    let bus = ControlledPublisher::new(BusMode::Fail);
    ctx.publisher = bus.clone();
    append(
        &user,
        "INBOX",
        &mail(
            &user,
            "first@customer.test",
            "Заказ не пришёл",
            "Здравствуйте! Где мой заказ?",
        ),
    );
    let running = Running::start(
        account(&user, "", ""),
        sqlite_cursors(dir.path()).await,
        &ctx,
    );
    wait_until("two refused publishes", || bus.attempts() >= 2).await;
    let inbox = list(&user, "INBOX");
    assert_eq!(inbox.len(), 1, "nothing handed off while the bus refuses");
    assert!(
        !inbox[0].flags.iter().any(|f| f == "$IntakeProcessed"),
        "{inbox:?}"
    );
    assert!(list(&user, "Processed").is_empty());

    bus.set_mode(BusMode::Confirm);
    let published = || -> Vec<intake_channel::TicketEvent> {
        bus.records()
            .iter()
            .filter_map(|r| intake_channel::TicketEvent::from_json(&r.payload).ok())
            .collect()
    };
    wait_until("the event and the move", || {
        published().len() == 1 && list(&user, "Processed").len() == 1
    })
    .await;
    running.stop().await;
    assert!(list(&user, "INBOX").is_empty());
    let event = &published()[0];
    assert_eq!(event.channel, "email");
    assert_eq!(event.channel_message_id, "first@customer.test");
    assert_eq!(event.subject.as_deref(), Some("Заказ не пришёл"));
    assert_eq!(event.text, "Здравствуйте! Где мой заказ?");
    assert_eq!(event.contact.key, "email:anna@customer.test");
    assert!(
        !event.contact.verified,
        "no trusted authserv-id is configured"
    );
    assert_eq!(
        event.conversation.thread_id.as_deref(),
        Some("first@customer.test")
    );
    assert!(
        event.raw_inline.is_some() || event.raw.is_some(),
        "the raw mail is kept"
    );
    let processed = list(&user, "Processed");
    assert!(processed[0].flags.iter().any(|f| f == "$IntakeProcessed"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_arriving_during_idle_is_pushed_not_polled() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    // Renewal and poll far beyond the wait: only an IDLE push can deliver it in time.
    let running = Running::start(
        account(
            &user,
            "",
            "idle_renew_secs = 1500\npoll_interval_secs = 3600",
        ),
        sqlite_cursors(dir.path()).await,
        &ctx,
    );
    // Let the first (empty) catch-up finish and IDLE begin.
    wait_until("the processed folder to exist", || {
        imap_tool(&["uidvalidity", &user, "Processed"], None)
            .trim()
            .parse::<u64>()
            .is_ok()
    })
    .await;
    append(
        &user,
        "INBOX",
        &mail(&user, "pushed@customer.test", "push", "arrived during IDLE"),
    );
    wait_until("the pushed event", || events(&publisher).len() == 1).await;
    running.stop().await;
    assert_eq!(events(&publisher)[0].text, "arrived during IDLE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_mails_sent_while_down_are_each_taken_once_and_a_restart_takes_none() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    let mails: Vec<Vec<u8>> = (0..200)
        .map(|i| {
            mail(
                &user,
                &format!("bulk-{i}@customer.test"),
                &format!("n{i}"),
                &format!("mail {i}"),
            )
        })
        .collect();
    append_many(&user, "INBOX", &mails);
    let cursors = sqlite_cursors(dir.path()).await;
    let running = Running::start(account(&user, "", ""), Arc::clone(&cursors), &ctx);
    wait_until("200 events", || events(&publisher).len() >= 200).await;
    wait_until("200 mails moved", || list(&user, "Processed").len() == 200).await;
    running.stop().await;
    let ids: BTreeSet<_> = events(&publisher).iter().map(|e| e.event_id).collect();
    assert_eq!(events(&publisher).len(), 200, "each mail once");
    assert_eq!(ids.len(), 200);
    let texts: Vec<_> = events(&publisher).iter().map(|e| e.text.clone()).collect();
    assert_eq!(
        texts.first().map(String::as_str),
        Some("mail 0"),
        "oldest first"
    );

    // A restart finds nothing new (cursor + hand-off), and takes a new mail once.
    let running = Running::start(account(&user, "", ""), cursors, &ctx);
    append(
        &user,
        "INBOX",
        &mail(&user, "after@customer.test", "later", "after restart"),
    );
    wait_until("the new event", || events(&publisher).len() == 201).await;
    running.stop().await;
    assert_eq!(events(&publisher).len(), 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_uidvalidity_change_neither_reingests_nor_loses_mail() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    // Flag-only hand-off in a folder of its own, so processed mail stays next to new mail.
    let config = || {
        account(
            &user,
            "",
            "mailbox = \"Support\"\nprocessed_folder = \"Support-done\"",
        )
    };
    let flag_only = || {
        let mut account = config();
        account.imap.processed_folder = None;
        account
    };
    let first: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            mail(
                &user,
                &format!("old-{i}@customer.test"),
                "old",
                &format!("old {i}"),
            )
        })
        .collect();
    append_many(&user, "Support", &first);
    let cursors = sqlite_cursors(dir.path()).await;
    let running = Running::start(flag_only(), Arc::clone(&cursors), &ctx);
    wait_until("3 events", || events(&publisher).len() == 3).await;
    wait_until("3 flagged", || {
        list(&user, "Support")
            .iter()
            .filter(|m| m.flags.iter().any(|f| f == "$IntakeProcessed"))
            .count()
            == 3
    })
    .await;
    running.stop().await;

    // While down: a new mail, then the server rebuilds the folder (new
    // UIDVALIDITY, new UIDs: the new mail gets UID 1, below the cursor).
    append(
        &user,
        "Support",
        &mail(&user, "new@customer.test", "new", "the new one"),
    );
    let before = imap_tool(&["uidvalidity", &user, "Support"], None);
    imap_tool(&["rebuild", &user, "Support"], None);
    let after = imap_tool(&["uidvalidity", &user, "Support"], None);
    assert_ne!(before, after, "the rebuild changed UIDVALIDITY");
    let rebuilt = list(&user, "Support");
    let new_uid = rebuilt
        .iter()
        .find(|m| m.message_id.contains("new@"))
        .unwrap()
        .uid;
    assert_eq!(
        new_uid, 1,
        "the new mail sits below the stale cursor: {rebuilt:?}"
    );

    let running = Running::start(flag_only(), cursors, &ctx);
    wait_until("the new event", || events(&publisher).len() >= 4).await;
    wait_until("all flagged", || {
        list(&user, "Support")
            .iter()
            .all(|m| m.flags.iter().any(|f| f == "$IntakeProcessed"))
    })
    .await;
    running.stop().await;
    let texts: Vec<_> = events(&publisher).iter().map(|e| e.text.clone()).collect();
    assert_eq!(texts.len(), 4, "no re-ingest of the 3 old mails: {texts:?}");
    assert_eq!(texts[3], "the new one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_mail_is_dead_lettered_with_its_reason_and_the_next_mail_flows() {
    let Some(()) = servers(false) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    append(
        &user,
        "INBOX",
        b"Subject: nobody sent this\r\nMessage-ID: <nofrom@x>\r\n\r\nno From header\r\n",
    );
    append(
        &user,
        "INBOX",
        &mail(&user, "good@customer.test", "fine", "a good one"),
    );
    let running = Running::start(
        account(&user, "", ""),
        sqlite_cursors(dir.path()).await,
        &ctx,
    );
    wait_until("the good event", || events(&publisher).len() == 1).await;
    wait_until("both moved", || list(&user, "Processed").len() == 2).await;
    running.stop().await;
    let letters = dead_letters(&publisher);
    assert_eq!(letters.len(), 1);
    assert_eq!(
        letters[0].header("intake_error_reason"),
        Some("email_no_sender")
    );
    assert!(
        letters[0].payload.starts_with(b"Subject: nobody sent this"),
        "the raw mail is in the letter"
    );
    assert_eq!(events(&publisher)[0].text, "a good one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_recovered_without_loss() {
    let Some(()) = servers(false) else { return };
    let Ok(conf) = std::env::var("INTAKE_TEST_DOVECOT_CONF") else {
        panic!("INTAKE_TEST_DOVECOT_CONF is not set (scripts/test-services env imap)");
    };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let (ctx, publisher) = context(dir.path());
    append(
        &user,
        "INBOX",
        &mail(&user, "before@customer.test", "a", "before the drop"),
    );
    let running = Running::start(
        account(&user, "", ""),
        sqlite_cursors(dir.path()).await,
        &ctx,
    );
    wait_until("the first event", || events(&publisher).len() == 1).await;
    // The server drops every session of the user.
    let kicked = std::process::Command::new("doveadm")
        .args(["-c", &conf, "kick", &user])
        .output()
        .unwrap();
    assert!(
        kicked.status.success(),
        "{}",
        String::from_utf8_lossy(&kicked.stderr)
    );
    append(
        &user,
        "INBOX",
        &mail(&user, "after@customer.test", "b", "after the drop"),
    );
    wait_until("the second event", || events(&publisher).len() == 2).await;
    wait_until("both moved", || list(&user, "Processed").len() == 2).await;
    running.stop().await;
    assert_eq!(events(&publisher)[1].text, "after the drop");
}
