//! XOAUTH2 against the real Dovecot (its oauth2 passdb validates HS256 JWTs
//! with the test key), with an in-process token endpoint that issues such
//! tokens for a refresh token and rotates it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::*;
use intake_channel::{ChannelError, PullChannel, PullStatus};
use intake_channel_email::EmailChannel;
use intake_channel_email::cursor::MemoryCursors;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
struct Provider {
    user: String,
    key: String,
    /// The refresh token it accepts now (rotated on every use).
    current: Arc<Mutex<String>>,
    calls: Arc<AtomicUsize>,
    /// Answer every request with 400 invalid_grant.
    revoked: bool,
}

async fn token(
    State(provider): State<Provider>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    provider.calls.fetch_add(1, Ordering::SeqCst);
    let mut current = provider.current.lock().unwrap();
    let presented = form.get("refresh_token").cloned().unwrap_or_default();
    if provider.revoked
        || form.get("grant_type").map(String::as_str) != Some("refresh_token")
        || presented != *current
        || form.get("client_id").map(String::as_str) != Some("intake-test")
    {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(serde_json::json!({"error": "invalid_grant"})),
        )
            .into_response();
    }
    let now = chrono::Utc::now().timestamp();
    let claims =
        serde_json::json!({"sub": provider.user, "iat": now, "nbf": now, "exp": now + 600});
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(provider.key.as_bytes()),
    )
    .unwrap();
    let rotated = format!("{presented}-next");
    *current = rotated.clone();
    axum::Json(serde_json::json!({"access_token": jwt, "expires_in": 600, "token_type": "Bearer", "refresh_token": rotated})).into_response()
}

/// Starts the token endpoint; returns its URL.
async fn start_provider(provider: Provider) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .with_state(provider);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn oauth_account(
    user: &str,
    token_url: &str,
    refresh_file: &std::path::Path,
) -> intake_channel_email::config::AccountConfig {
    let (host, port) = env("INTAKE_TEST_IMAP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let toml = format!(
        "[[accounts]]\nname = \"oauth\"\naddress = \"{user}\"\n[accounts.imap]\nhost = \"{host}\"\nport = {port}\n\
         tls = \"none\"\nusername = \"{user}\"\nauth = \"xoauth2\"\ncommand_timeout_secs = 30\n\
         [accounts.imap.oauth2]\ntoken_url = \"{token_url}\"\nclient_id = \"intake-test\"\n\
         refresh_token_file = \"{}\"\n",
        refresh_file.display()
    );
    let raw: intake_channel_email::config::RawEmailConfig = toml::from_str(&toml).unwrap();
    raw.validate().unwrap().accounts.remove(0)
}

fn provider(user: &str, revoked: bool) -> Option<Provider> {
    let key = std::env::var("INTAKE_TEST_IMAP_OAUTH2_KEY").ok()?;
    Some(Provider {
        user: user.to_owned(),
        key,
        current: Arc::new(Mutex::new("rt-1".to_owned())),
        calls: Arc::new(AtomicUsize::new(0)),
        revoked,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xoauth2_logs_in_with_a_refreshed_token_and_keeps_the_rotated_refresh_token() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    let provider = provider(&user, false)
        .expect("INTAKE_TEST_IMAP_OAUTH2_KEY (scripts/test-services env imap)");
    let url = start_provider(provider.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let refresh_file = dir.path().join("refresh-token");
    std::fs::write(&refresh_file, "rt-1").unwrap();
    append(
        &user,
        "INBOX",
        &mail(&user, "oauth-1@customer.test", "oauth", "read with xoauth2"),
    );

    let (ctx, publisher) = context(dir.path());
    let mut channel = EmailChannel::new(
        oauth_account(&user, &url, &refresh_file),
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    for round in 0..2 {
        // Two sessions: the second reuses the cached token (one refresh in all).
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        let watched = publisher.clone();
        let watcher = tokio::spawn(async move {
            wait_until("the event", || events(&watched).len() == round + 1).await;
            stop.cancel();
        });
        if round == 1 {
            append(
                &user,
                "INBOX",
                &mail(&user, "oauth-2@customer.test", "oauth", "second session"),
            );
        }
        tokio::time::timeout(
            WAIT,
            channel.run(ctx.clone(), PullStatus::new("email"), shutdown),
        )
        .await
        .unwrap()
        .unwrap();
        watcher.await.unwrap();
    }
    assert_eq!(events(&publisher)[0].text, "read with xoauth2");
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        1,
        "the access token is cached until it nearly expires"
    );
    assert_eq!(
        std::fs::read_to_string(&refresh_file).unwrap(),
        "rt-1-next",
        "the rotated refresh token is kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_is_a_counted_retryable_failure_every_time() {
    let Some(()) = servers(false) else { return };
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _ = metrics::set_global_recorder(recorder);
    let user = fresh_user();
    let provider = provider(&user, true)
        .expect("INTAKE_TEST_IMAP_OAUTH2_KEY (scripts/test-services env imap)");
    let url = start_provider(provider.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let refresh_file = dir.path().join("refresh-token");
    std::fs::write(&refresh_file, "rt-secret-value").unwrap();
    let (ctx, _) = context(dir.path());
    let mut channel = EmailChannel::new(
        oauth_account(&user, &url, &refresh_file),
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    for _ in 0..2 {
        let result: Result<(), ChannelError> = channel
            .run(
                ctx.clone(),
                PullStatus::new("email"),
                CancellationToken::new(),
            )
            .await;
        let error = result.unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(error.to_string().contains("invalid_grant"), "{error}");
        assert!(!error.to_string().contains("rt-secret-value"));
    }
    let text = handle.render();
    let line = text
        .lines()
        .find(|l| l.starts_with("intake_email_token_failures_total") && l.contains("invalid_grant"))
        .unwrap_or_else(|| panic!("no token failure metric in:\n{text}"));
    assert!(line.ends_with(" 2"), "counted every time: {line}");
    assert_eq!(provider.calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_server_refuses_is_retried_with_a_new_one() {
    let Some(()) = servers(false) else { return };
    let user = fresh_user();
    let mut provider = provider(&user, false)
        .expect("INTAKE_TEST_IMAP_OAUTH2_KEY (scripts/test-services env imap)");
    provider.key = "not-the-key-dovecot-trusts".to_owned();
    let url = start_provider(provider.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let refresh_file = dir.path().join("refresh-token");
    std::fs::write(&refresh_file, "rt-1").unwrap();
    let (ctx, _) = context(dir.path());
    let mut channel = EmailChannel::new(
        oauth_account(&user, &url, &refresh_file),
        Vec::new(),
        Arc::new(MemoryCursors::default()),
        None,
    )
    .unwrap();
    for _ in 0..2 {
        let error = channel
            .run(
                ctx.clone(),
                PullStatus::new("email"),
                CancellationToken::new(),
            )
            .await
            .unwrap_err();
        assert!(error.is_retryable(), "{error}");
        assert!(
            error.to_string().contains("refused the access token"),
            "{error}"
        );
    }
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        2,
        "a refused token is not reused"
    );
}

/// An account that reads by XOAUTH2 and sends by XOAUTH2 too, to the sink
/// (which checks the same JWTs), logging in as `user` both times.
fn oauth_sending_account(
    user: &str,
    token_url: &str,
    refresh_file: &std::path::Path,
) -> intake_channel_email::config::EmailConfig {
    let (imap_host, imap_port) = env("INTAKE_TEST_IMAP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let smtp_port = env("INTAKE_TEST_SMTP")
        .split_once(':')
        .unwrap()
        .1
        .to_owned();
    let toml = format!(
        "[[accounts]]\nname = \"oauth\"\naddress = \"{user}\"\n[accounts.imap]\nhost = \"{imap_host}\"\n\
         port = {imap_port}\ntls = \"none\"\nusername = \"{user}\"\nauth = \"xoauth2\"\n\
         [accounts.imap.oauth2]\ntoken_url = \"{token_url}\"\nclient_id = \"intake-test\"\n\
         refresh_token_file = \"{}\"\n\
         [accounts.smtp]\nhost = \"localhost\"\nport = {smtp_port}\ntls = \"starttls\"\n\
         ca_file = \"{}\"\nusername = \"{user}\"\nauth = \"xoauth2\"\n",
        refresh_file.display(),
        env("INTAKE_TEST_TLS_CA"),
    );
    let raw: intake_channel_email::config::RawEmailConfig = toml::from_str(&toml).unwrap();
    raw.validate().unwrap()
}

fn smtp_reply() -> intake_channel::Reply {
    intake_channel::Reply {
        channel: "email".to_owned(),
        contact_key: "email:olga@customer.test".to_owned(),
        conversation_id: Some("root-oauth@customer.test".to_owned()),
        ticket_id: Some(55),
        text: "Спасибо, обращение 55.".to_owned(),
        outcome_id: uuid::Uuid::new_v4(),
        ..intake_channel::Reply::default()
    }
}

/// The SMTP sink's XOAUTH2 key, or None (skip) outside CI.
fn smtp_oauth2() -> Option<()> {
    servers(true)?;
    if std::env::var("INTAKE_TEST_SMTP_OAUTH2_KEY").is_ok() {
        return Some(());
    }
    assert!(
        std::env::var("CI").is_err(),
        "INTAKE_TEST_SMTP_OAUTH2_KEY not set (scripts/test-services env smtp)"
    );
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_sends_with_the_imap_token_source_and_refreshes_once() {
    use intake_channel::ReplySender as _;
    let Some(()) = smtp_oauth2() else { return };
    let user = fresh_user();
    let provider = provider(&user, false).expect("INTAKE_TEST_IMAP_OAUTH2_KEY");
    let url = start_provider(provider.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let refresh_file = dir.path().join("refresh-token");
    std::fs::write(&refresh_file, "rt-1").unwrap();
    let config = oauth_sending_account(&user, &url, &refresh_file);
    let senders = intake_channel_email::AccountSenders::new(&config)
        .unwrap()
        .unwrap();
    let first = smtp_reply();
    senders.send(&first).await.unwrap();
    let copy = sink_copy(&first.outcome_id.simple().to_string()).await;
    assert_eq!(header(&copy, "From"), Some(user.as_str()));

    // IMAP of the same account reads with the same token source: the token
    // is not fetched again, and the refresh token is rotated once.
    append(
        &user,
        "INBOX",
        &mail(
            &user,
            "oauth-smtp@customer.test",
            "oauth",
            "read after sending",
        ),
    );
    let (ctx, publisher) = context(dir.path());
    let account = config.accounts[0].clone();
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
        wait_until("the event", || events(&watched).len() == 1).await;
        stop.cancel();
    });
    tokio::time::timeout(
        WAIT,
        channel.run(ctx.clone(), PullStatus::new("email"), shutdown),
    )
    .await
    .unwrap()
    .unwrap();
    watcher.await.unwrap();
    let second = smtp_reply();
    senders.send(&second).await.unwrap();
    sink_copy(&second.outcome_id.simple().to_string()).await;
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        1,
        "one token for two sends and an IMAP session"
    );
    assert_eq!(std::fs::read_to_string(&refresh_file).unwrap(), "rt-1-next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_the_smtp_server_refuses_is_replaced_once_then_unauthorized() {
    use intake_channel::ReplySender as _;
    let Some(()) = smtp_oauth2() else { return };
    let user = fresh_user();
    // A provider that signs with a key the sink does not trust.
    let mut provider = provider(&user, false).expect("INTAKE_TEST_IMAP_OAUTH2_KEY");
    provider.key = "not-the-test-key".to_owned();
    let url = start_provider(provider.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let refresh_file = dir.path().join("refresh-token");
    std::fs::write(&refresh_file, "rt-1").unwrap();
    let config = oauth_sending_account(&user, &url, &refresh_file);
    let senders = intake_channel_email::AccountSenders::new(&config)
        .unwrap()
        .unwrap();
    let error = senders.send(&smtp_reply()).await.unwrap_err();
    assert_eq!(
        error.reason(),
        intake_channel::ReplyFailure::Unauthorized,
        "{error}"
    );
    assert_eq!(
        provider.calls.load(Ordering::SeqCst),
        2,
        "the refused token was not reused: a fresh one was fetched once"
    );
}
