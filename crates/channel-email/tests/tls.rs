//! TLS (STARTTLS and implicit, trusting the test CA) and login failures,
//! against the real Dovecot.

mod common;

use std::sync::Arc;

use common::*;
use intake_channel::testing::RecordingPublisher;
use intake_channel::{ChannelError, PullChannel, PullStatus};
use intake_channel_email::EmailChannel;
use intake_channel_email::config::TlsMode;
use intake_channel_email::cursor::MemoryCursors;
use tokio_util::sync::CancellationToken;

/// Runs the channel until one event is published (then stops it), or until
/// it fails; returns the run's result and the publisher.
async fn run_once(
    account: intake_channel_email::config::AccountConfig,
) -> (Result<(), ChannelError>, Arc<RecordingPublisher>) {
    let dir = tempfile::tempdir().unwrap();
    let (ctx, publisher) = context(dir.path());
    let mut channel = EmailChannel::new(
        account,
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let watched = publisher.clone();
    let watcher = tokio::spawn(async move {
        wait_until("an event", || !events(&watched).is_empty()).await;
        stop.cancel();
    });
    let result = tokio::time::timeout(WAIT, channel.run(ctx, PullStatus::new("email"), shutdown))
        .await
        .expect("the run ends");
    watcher.abort();
    (result, publisher)
}

fn with_tls(
    user: &str,
    address_var: &str,
    tls: TlsMode,
    trust_ca: bool,
) -> intake_channel_email::config::AccountConfig {
    let mut account = account(user, "", "");
    let (host, port) = env(address_var)
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse().unwrap()))
        .unwrap();
    // The certificate names localhost and 127.0.0.1; check the name too.
    account.imap.host = if host == "127.0.0.1" {
        "localhost".to_owned()
    } else {
        host
    };
    account.imap.port = port;
    account.imap.tls = tls;
    account.imap.ca_file = trust_ca.then(|| env("INTAKE_TEST_TLS_CA").into());
    account
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_with_a_private_ca_reads_the_mailbox() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    append(
        &user,
        "INBOX",
        &mail(&user, "starttls@customer.test", "tls", "over starttls"),
    );
    let (result, publisher) =
        run_once(with_tls(&user, "INTAKE_TEST_IMAP", TlsMode::Starttls, true)).await;
    result.unwrap();
    assert_eq!(events(&publisher)[0].text, "over starttls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn implicit_tls_with_a_private_ca_reads_the_mailbox() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    append(
        &user,
        "INBOX",
        &mail(&user, "imaps@customer.test", "tls", "over imaps"),
    );
    let (result, publisher) = run_once(with_tls(
        &user,
        "INTAKE_TEST_IMAPS",
        TlsMode::Implicit,
        true,
    ))
    .await;
    result.unwrap();
    assert_eq!(events(&publisher)[0].text, "over imaps");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_untrusted_ca_is_refused_before_login() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    append(
        &user,
        "INBOX",
        &mail(&user, "untrusted@customer.test", "tls", "never read"),
    );
    let (result, publisher) = run_once(with_tls(
        &user,
        "INTAKE_TEST_IMAPS",
        TlsMode::Implicit,
        false,
    ))
    .await;
    let error = result.unwrap_err();
    assert!(error.to_string().contains("tls"), "{error}");
    assert!(events(&publisher).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_stops_the_channel_with_a_config_error_without_the_password() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    let mut account = account(&user, "", "");
    account.imap.auth = intake_channel_email::config::ImapAuth::Password(
        secrecy::SecretString::from("wrong-password-4711".to_owned()),
    );
    let (result, _) = run_once(account).await;
    let error = result.unwrap_err();
    assert!(
        !error.is_retryable(),
        "bad credentials are not retried: {error}"
    );
    assert!(matches!(error, ChannelError::Config { .. }), "{error:?}");
    assert!(!format!("{error} {error:?}").contains("wrong-password-4711"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starttls_really_negotiates_tls_an_untrusted_certificate_fails_it() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    append(
        &user,
        "INBOX",
        &mail(
            &user,
            "untrusted-starttls@customer.test",
            "tls",
            "never read",
        ),
    );
    let (result, publisher) = run_once(with_tls(
        &user,
        "INTAKE_TEST_IMAP",
        TlsMode::Starttls,
        false,
    ))
    .await;
    let error = result.unwrap_err();
    assert!(error.to_string().contains("tls"), "{error}");
    assert!(events(&publisher).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_accepts_and_never_answers_is_a_stalled_retryable_failure() {
    // No test server needed: a listener that accepts and stays silent.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let toml = format!(
        "[[accounts]]\nname = \"stall\"\naddress = \"help@example.test\"\n[accounts.imap]\nhost = \"127.0.0.1\"\n\
         port = {port}\ntls = \"none\"\nusername = \"u\"\npassword_env = \"PATH\"\ncommand_timeout_secs = 1\n"
    );
    let raw: intake_channel_email::config::RawEmailConfig = toml::from_str(&toml).unwrap();
    let account = raw.validate().unwrap().accounts.remove(0);
    let dir = tempfile::tempdir().unwrap();
    let (ctx, _) = context(dir.path());
    let mut channel = EmailChannel::new(
        account,
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    let result = tokio::time::timeout(
        WAIT,
        channel.run(ctx, PullStatus::new("email"), CancellationToken::new()),
    )
    .await
    .expect("a stalled server does not hang the channel");
    held.abort();
    let error = result.unwrap_err();
    assert!(error.is_retryable(), "{error}");
    assert!(error.to_string().contains("stalled"), "{error}");
}
