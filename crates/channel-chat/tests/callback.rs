//! The chat callback against a real HTTP endpoint on loopback: what it
//! sends, how it is signed (checked with the Standard Webhooks reference
//! library from PyPI, `standardwebhooks`, in a venv under the target dir),
//! and how HTTP answers and network failures are classified.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use intake_channel::{Reply, ReplyFailure, ReplySender};
use intake_channel_chat::{CallbackOptions, ChatCallback, WebhookSecret};
use secrecy::ExposeSecret;
use uuid::Uuid;

/// What the endpoint saw, and what it answers.
#[derive(Default)]
struct Endpoint {
    requests: Mutex<Vec<(HeaderMap, Vec<u8>)>>,
    answer: Mutex<Option<(StatusCode, Option<&'static str>)>>,
    delay: Mutex<Duration>,
}

async fn serve(endpoint: Arc<Endpoint>) -> url::Url {
    let app = axum::Router::new().route(
        "/replies",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let endpoint = Arc::clone(&endpoint);
            async move {
                let delay = *endpoint.delay.lock().unwrap();
                tokio::time::sleep(delay).await;
                endpoint
                    .requests
                    .lock()
                    .unwrap()
                    .push((headers, body.to_vec()));
                let (status, retry_after) = endpoint
                    .answer
                    .lock()
                    .unwrap()
                    .unwrap_or((StatusCode::OK, None));
                let mut response = axum::response::Response::builder().status(status);
                if let Some(wait) = retry_after {
                    response = response.header("retry-after", wait);
                }
                response.body(axum::body::Body::empty()).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url::Url::parse(&format!("http://{addr}/replies")).unwrap()
}

fn reply() -> Reply {
    Reply {
        channel: "chat".to_owned(),
        contact_key: "chat:visitor-42".to_owned(),
        conversation_id: Some("conv-1".to_owned()),
        ticket_id: Some(4711),
        text: "Здравствуйте! Мы ответим до 10:02 по московскому времени в понедельник, 7 декабря."
            .to_owned(),
        outcome_id: Uuid::from_u128(0x1234),
        deadline: Some("2026-12-07T07:02:00Z".parse().unwrap()),
        ..Reply::default()
    }
}

fn sender(url: url::Url, secret: &secrecy::SecretString, timeout: Duration) -> ChatCallback {
    ChatCallback::new(CallbackOptions {
        url,
        secret: secret.clone(),
        timeout,
    })
    .unwrap()
}

/// A venv with `standardwebhooks` from PyPI, made once per target dir.
fn standard_webhooks_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("standardwebhooks-venv");
    intake_channel::testing::pypi_venv(&venv, "standardwebhooks==1.1.0", "standardwebhooks")
}

/// Verifies with the reference library; returns its parsed payload or its error.
fn verify_with_reference(
    python: &PathBuf,
    secret: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<serde_json::Value, String> {
    let header = |name: &str| headers.get(name).unwrap().to_str().unwrap().to_owned();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, wid, ts, sig = sys.argv[1:5]
body = sys.stdin.buffer.read()
headers = {"webhook-id": wid, "webhook-timestamp": ts, "webhook-signature": sig}
print(json.dumps(Webhook(secret).verify(body, headers)))
"#;
    let mut child = Command::new(python)
        .args(["-c", script, secret])
        .args([
            header("webhook-id"),
            header("webhook-timestamp"),
            header("webhook-signature"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(serde_json::from_slice(&output.stdout).unwrap())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

#[tokio::test]
async fn the_callback_carries_the_reply_and_the_reference_library_accepts_its_signature() {
    let endpoint = Arc::new(Endpoint::default());
    let url = serve(Arc::clone(&endpoint)).await;
    let secret = WebhookSecret::generate();
    let sender = sender(url, &secret, Duration::from_secs(30));
    assert_eq!(sender.channel(), "chat");
    sender.send(&reply()).await.unwrap();

    let (headers, body) = endpoint.requests.lock().unwrap().remove(0);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["webhook-id"], Uuid::from_u128(0x1234).to_string());
    let payload: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        payload,
        serde_json::json!({
            "type": "ticket.acknowledgement",
            "conversation_id": "conv-1",
            "contact_key": "chat:visitor-42",
            "ticket_id": 4711,
            "text": reply().text,
            "deadline": "2026-12-07T07:02:00Z",
            "outcome_id": Uuid::from_u128(0x1234).to_string(),
        })
    );
    let debug = format!("{sender:?}");
    assert!(!debug.contains(secret.expose_secret()), "{debug}");

    let Some(python) = standard_webhooks_python() else {
        return;
    };
    let verified = verify_with_reference(&python, secret.expose_secret(), &headers, &body);
    assert_eq!(
        verified.unwrap(),
        payload,
        "the reference library verifies and parses it"
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    let refused = verify_with_reference(&python, secret.expose_secret(), &headers, &tampered);
    assert!(refused.is_err(), "a changed body must not verify");
    let other = WebhookSecret::generate();
    let refused = verify_with_reference(&python, other.expose_secret(), &headers, &body);
    assert!(refused.is_err(), "another secret must not verify");
}

#[tokio::test]
async fn http_answers_are_classified_as_retryable_or_not() {
    let endpoint = Arc::new(Endpoint::default());
    let url = serve(Arc::clone(&endpoint)).await;
    let sender = sender(url, &WebhookSecret::generate(), Duration::from_secs(30));
    let cases = [
        (
            StatusCode::SERVICE_UNAVAILABLE,
            None,
            ReplyFailure::UpstreamError,
            true,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            Some("7"),
            ReplyFailure::RateLimited,
            true,
        ),
        (StatusCode::BAD_REQUEST, None, ReplyFailure::Rejected, false),
        (
            StatusCode::UNAUTHORIZED,
            None,
            ReplyFailure::Unauthorized,
            false,
        ),
        (
            StatusCode::NOT_FOUND,
            None,
            ReplyFailure::UnknownRecipient,
            false,
        ),
    ];
    for (status, retry_after, reason, retryable) in cases {
        *endpoint.answer.lock().unwrap() = Some((status, retry_after));
        let error = sender.send(&reply()).await.unwrap_err();
        assert_eq!(
            (error.reason(), error.is_retryable()),
            (reason, retryable),
            "{status}"
        );
        assert!(
            error.message().contains(&status.as_u16().to_string()),
            "{error}"
        );
        let expected_wait = retry_after.map(|s| Duration::from_secs(s.parse().unwrap()));
        assert_eq!(error.retry_after(), expected_wait, "{status}");
    }
    *endpoint.answer.lock().unwrap() = Some((StatusCode::ACCEPTED, None));
    sender.send(&reply()).await.unwrap();
}

#[tokio::test]
async fn a_closed_port_is_unreachable_and_a_slow_endpoint_times_out() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let closed = url::Url::parse(&format!("http://127.0.0.1:{port}/replies")).unwrap();
    let error = sender(closed, &WebhookSecret::generate(), Duration::from_secs(30))
        .send(&reply())
        .await
        .unwrap_err();
    assert_eq!(error.reason(), ReplyFailure::Unreachable);
    assert!(error.is_retryable());
    assert!(
        !error.to_string().contains(&port.to_string()),
        "no URL in the error: {error}"
    );

    let endpoint = Arc::new(Endpoint::default());
    *endpoint.delay.lock().unwrap() = Duration::from_secs(30);
    let url = serve(Arc::clone(&endpoint)).await;
    let error = sender(url, &WebhookSecret::generate(), Duration::from_millis(300))
        .send(&reply())
        .await
        .unwrap_err();
    assert_eq!(
        (error.reason(), error.is_retryable()),
        (ReplyFailure::Timeout, true)
    );
}
