//! Replies over SMTP (lettre) against the aiosmtpd sink with AUTH and
//! STARTTLS (`scripts/test-services start smtp`), and the rule-2 pointer
//! reply end to end with Dovecot.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use common::*;
use intake_channel::{PullRunner, PullRunnerOptions, Reply, ReplyFailure, ReplySender};
use intake_channel_email::config::AccountConfig;
use intake_channel_email::cursor::MemoryCursors;
use intake_channel_email::normalise::{Limits, Mailbox};
use intake_channel_email::{EmailChannel, SmtpReplySender, normalise};
use tokio_util::sync::CancellationToken;

fn sender(account: &AccountConfig) -> SmtpReplySender {
    SmtpReplySender::new(&account.address, account.smtp.as_ref().unwrap()).unwrap()
}

fn acknowledgement(to: &str, in_reply_to: &str) -> Reply {
    Reply {
        channel: "email".to_owned(),
        contact_key: format!("email:{to}"),
        conversation_id: Some(in_reply_to.to_owned()),
        ticket_id: Some(1234),
        text: "Ваше обращение зарегистрировано под номером 1234.".to_owned(),
        subject: Some("[#1234] Re: Заказ не пришёл".to_owned()),
        in_reply_to: vec![in_reply_to.to_owned()],
        outcome_id: uuid::Uuid::new_v4(),
        ..Reply::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledgement_goes_from_the_support_address_threaded_and_marked_automatic() {
    let Some(()) = servers(true) else { return };
    let user = fresh_user();
    let account = account(&user, &smtp_section(PASSWORD_ENV), "");
    let reply = acknowledgement("anna@customer.test", "order-1@customer.test");
    let delivery = sender(&account).send(&reply).await.unwrap();
    let message_id = delivery.message_id.unwrap();
    assert!(
        message_id.starts_with(&format!("<intake.{}.", reply.outcome_id.simple())),
        "{message_id}"
    );
    assert!(message_id.ends_with("@example.test>"), "{message_id}");
    let copy = sink_copy(&reply.outcome_id.simple().to_string()).await;
    assert_eq!(header(&copy, "From"), Some(user.as_str()));
    assert_eq!(
        header(&copy, "X-MailFrom"),
        Some(user.as_str()),
        "envelope from help@ too"
    );
    assert_eq!(header(&copy, "X-RcptTo"), Some("anna@customer.test"));
    assert_eq!(
        header(&copy, "In-Reply-To"),
        Some("<order-1@customer.test>")
    );
    assert_eq!(header(&copy, "References"), Some("<order-1@customer.test>"));
    assert_eq!(header(&copy, "Auto-Submitted"), Some("auto-replied"));
    assert_eq!(header(&copy, "X-Auto-Response-Suppress"), Some("All"));
    assert_eq!(header(&copy, "Message-ID"), Some(message_id.as_str()));

    // The customer answers the acknowledgement (their client threads on it):
    // the answer lands in the original mail's conversation.
    let original = mail(
        &user,
        "order-1@customer.test",
        "Заказ не пришёл",
        "Где заказ?",
    );
    let answer = format!(
        "From: Anna Petrova <anna@customer.test>\r\nTo: {user}\r\nSubject: Re: [#1234] Re: Заказ не пришёл\r\n\
         Message-ID: <answer-1@customer.test>\r\nIn-Reply-To: {message_id}\r\n\
         References: {} {message_id}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nСпасибо!\r\n",
        header(&copy, "References").unwrap()
    );
    let mailbox = Mailbox {
        address: user.clone(),
        aliases: Vec::new(),
        limits: Limits {
            max_attachment_bytes: 1 << 20,
            max_attachments: 5,
        },
        trusted_authserv_ids: Vec::new(),
        ticket_token: Default::default(),
    };
    let first = normalise(&original, &mailbox, Utc::now()).unwrap();
    let second = normalise(answer.as_bytes(), &mailbox, Utc::now()).unwrap();
    assert_eq!(
        second.event.conversation.thread_id,
        first.event.conversation.thread_id
    );
    assert_eq!(
        second
            .event
            .metadata
            .get("email_ticket_token")
            .map(String::as_str),
        Some("1234")
    );
    assert!(
        !second.event.auto_submitted,
        "a person's answer is not automatic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_as_the_acknowledgement_path_builds_it_threads_on_the_conversation_and_names_the_ticket()
 {
    let Some(()) = servers(true) else { return };
    let account = account(&fresh_user(), &smtp_section(PASSWORD_ENV), "");
    // crates/ack sets the conversation, the ticket and the text only.
    let reply = Reply {
        channel: "email".to_owned(),
        contact_key: "email:boris@customer.test".to_owned(),
        conversation_id: Some("root-9@customer.test".to_owned()),
        ticket_id: Some(4321),
        text: "Мы получили ваше письмо.".to_owned(),
        outcome_id: uuid::Uuid::new_v4(),
        ..Reply::default()
    };
    sender(&account).send(&reply).await.unwrap();
    let copy = sink_copy(&reply.outcome_id.simple().to_string()).await;
    assert_eq!(header(&copy, "In-Reply-To"), Some("<root-9@customer.test>"));
    assert_eq!(header(&copy, "References"), Some("<root-9@customer.test>"));
    assert!(
        header(&copy, "Subject").unwrap().contains("[#4321]"),
        "{copy}"
    );
    assert_eq!(header(&copy, "Auto-Submitted"), Some("auto-replied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_smtp_login_is_an_unauthorized_failure() {
    let Some(()) = servers(true) else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("smtp-password");
    std::fs::write(&file, "definitely-wrong").unwrap();
    let line = format!("password_file = \"{}\"", file.display());
    let account = account(&fresh_user(), &smtp_section(&line), "");
    let error = sender(&account)
        .send(&acknowledgement("anna@customer.test", "x@customer.test"))
        .await
        .unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::Unauthorized, "{error}");
    assert!(!error.to_string().contains("definitely-wrong"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mail_for_someone_else_gets_a_pointer_and_no_ticket_when_so_configured() {
    let Some(()) = servers(true) else { return };
    let dir = tempfile::tempdir().unwrap();
    let user = fresh_user();
    let account = account(
        &user,
        &format!(
            "foreign_recipient = \"refuse_with_pointer\"\n{}",
            smtp_section(PASSWORD_ENV)
        ),
        "",
    );
    let pointer: Arc<dyn ReplySender> = Arc::new(sender(&account));
    let (ctx, publisher) = context(dir.path());
    let foreign_id = format!("personal-{}@customer.test", uuid::Uuid::new_v4().simple());
    let foreign = mail(
        "ivan.personal@example.test",
        &foreign_id,
        "Привет, Иван",
        "Иван, посмотри заказ",
    );
    append(&user, "INBOX", &foreign);
    append(
        &user,
        "INBOX",
        &mail(&user, "ours@customer.test", "to support", "for the team"),
    );
    let channel = EmailChannel::new(
        account,
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        Some(pointer),
    )
    .unwrap();
    let mut runner = PullRunner::new(PullRunnerOptions {
        initial_backoff: Duration::from_millis(200),
        ..PullRunnerOptions::default()
    });
    runner.add(Box::new(channel));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(runner.run(ctx.clone(), shutdown.clone()));
    wait_until("both mails handed off", || {
        list(&user, "Processed").len() == 2
    })
    .await;
    shutdown.cancel();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let texts: Vec<_> = events(&publisher).iter().map(|e| e.text.clone()).collect();
    assert_eq!(
        texts,
        ["for the team"],
        "no ticket for the mail to a personal address"
    );
    let copy = sink_copy(&format!("<{foreign_id}>")).await;
    assert_eq!(header(&copy, "X-RcptTo"), Some("anna@customer.test"));
    assert_eq!(header(&copy, "Auto-Submitted"), Some("auto-replied"));
    assert!(
        copy.contains(&user),
        "the pointer names the support address"
    );
}
