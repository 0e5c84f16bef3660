//! Compatibility with Slack's own SDK: requests signed by `slack_sdk`'s
//! `SignatureVerifier` (PyPI, in a venv under the target dir) are
//! accepted, and the SDK accepts the signatures this crate computes.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Publisher, Topics};
use intake_channel::testing::{BusMode, ControlledPublisher};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_slack::{PATH, SIGNATURE_HEADER, SlackChannel, TIMESTAMP_HEADER, sign};
use secrecy::SecretString;
use tower::ServiceExt as _;

use common::*;

/// A venv with `slack_sdk` from PyPI, made once per target dir.
fn slack_sdk_python() -> Option<PathBuf> {
    let venv = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("slack-sdk-venv");
    intake_channel::testing::pypi_venv(&venv, "slack_sdk==3.47.0", "slack_sdk.signature")
}

/// Runs `script` with `args`, the body on stdin; its stdout, or its stderr as the error.
fn python(python: &PathBuf, script: &str, args: &[&str], body: &[u8]) -> Result<String, String> {
    let mut child = Command::new(python)
        .args(["-c", script])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let output = child.wait_with_output().unwrap();
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

const SIGN: &str = r#"
import sys
from slack_sdk.signature import SignatureVerifier
secret, ts = sys.argv[1:3]
body = sys.stdin.buffer.read().decode("utf-8")
print(SignatureVerifier(secret).generate_signature(timestamp=ts, body=body))
"#;

const VERIFY: &str = r#"
import sys
from slack_sdk.signature import SignatureVerifier
secret, ts, signature = sys.argv[1:4]
body = sys.stdin.buffer.read().decode("utf-8")
ok = SignatureVerifier(secret).is_valid(body=body, timestamp=ts, signature=signature)
sys.exit(0 if ok else 3)
"#;

#[tokio::test]
async fn requests_signed_by_slack_sdk_are_accepted_and_slack_sdk_accepts_ours() {
    let Some(py) = slack_sdk_python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let bus = ControlledPublisher::new(BusMode::Confirm);
    let ctx = ChannelContext {
        publisher: Arc::clone(&bus) as Arc<dyn Publisher>,
        topics: Topics::new("slack-sdk"),
        blobs: Arc::new(LocalDirBlobStore::new(dir.path().join("b"))) as Arc<dyn BlobStore>,
    };
    let app = SlackChannel::new(options("http://127.0.0.1:9/api/")).routes(ctx);
    let body = callback(
        "Ev0SDK",
        message("U0ANNA", "D0DM", "im", "1749416383.000200", "Grüße"),
    );
    let ts = now();

    let signature = python(&py, SIGN, &[SIGNING_SECRET, &ts], &body).unwrap();
    assert_eq!(
        signature,
        sign(&SecretString::from(SIGNING_SECRET), &ts, &body)
    );
    let send = |signature: String| {
        Request::post(PATH)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, ts.as_str())
            .header(SIGNATURE_HEADER, signature)
            .body(Body::from(body.clone()))
            .unwrap()
    };
    let answer = app.clone().oneshot(send(signature)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(bus.records().len(), 1);

    let other = python(&py, SIGN, &["someone else's secret", &ts], &body).unwrap();
    let answer = app.clone().oneshot(send(other)).await.unwrap();
    assert_eq!(answer.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(bus.records().len(), 1);

    let ours = sign(&SecretString::from(SIGNING_SECRET), &ts, &body);
    assert!(python(&py, VERIFY, &[SIGNING_SECRET, &ts, &ours], &body).is_ok());
    let mut tampered = body.clone();
    tampered[5] ^= 1;
    assert!(python(&py, VERIFY, &[SIGNING_SECRET, &ts, &ours], &tampered).is_err());
}
