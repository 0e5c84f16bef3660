//! What the client writes to its logs: failed calls are logged without
//! Zendesk's `details` (which echo customer data) and never with the token.

mod common;

use std::io;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use base64::Engine as _;
use intake_zendesk::{Auth, Client, Comment, NewTicket};
use secrecy::SecretString;

/// A customer e-mail address that Zendesk echoes in an error's `details`.
const CUSTOMER_EMAIL: &str = "jane.doe@customer.test";
const WRONG_TOKEN: &str = "wrong-but-secret-token-4711";

/// Everything the tracing subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
    }
}

#[tokio::test]
async fn failed_calls_log_neither_customer_data_nor_the_token() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);

    // A 422 whose details quote the customer's e-mail (an unknown upload token).
    let client = sim.client(700, 1);
    let ticket = NewTicket {
        subject: Some("logs".into()),
        comment: Comment {
            body: Some("see attachment".into()),
            public: true,
            uploads: vec![CUSTOMER_EMAIL.into()],
            ..Comment::default()
        },
        ..NewTicket::default()
    };
    let error = client
        .create_ticket(&ticket, Some("k-logs"))
        .await
        .expect_err("the upload token is unknown");
    assert_eq!(error.status(), Some(422));
    // The details stay on the error value for callers that keep them.
    let details = error.api_body().and_then(|b| b.details.clone());
    assert!(
        details.is_some_and(|d| d.to_string().contains(CUSTOMER_EMAIL)),
        "{error:?}"
    );

    // A wrong token: 401.
    let mut options = sim.options(700, 1);
    options.auth = Auth::ApiToken {
        email: common::AGENT_EMAIL.into(),
        token: SecretString::from(WRONG_TOKEN),
    };
    let error = Client::new(options)?
        .groups()
        .await
        .expect_err("wrong token");
    assert_eq!(error.status(), Some(401));
    drop(guard);

    let text = captured.text();
    let failures: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("zendesk call failed"))
        .collect();
    assert_eq!(failures.len(), 2, "{text}");
    assert!(
        failures[0].contains("422") && failures[0].contains("RecordInvalid"),
        "{}",
        failures[0]
    );
    assert!(failures[1].contains("401"), "{}", failures[1]);
    let encoded = |token: &str| {
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}/token:{token}", common::AGENT_EMAIL))
    };
    for secret in [
        CUSTOMER_EMAIL.to_owned(),
        WRONG_TOKEN.to_owned(),
        common::TOKEN.to_owned(),
        encoded(WRONG_TOKEN),
        encoded(common::TOKEN),
    ] {
        assert!(!text.contains(&secret), "{secret} in the log:\n{text}");
    }
    Ok(())
}
