//! Fixtures shaped like Slack's Events API deliveries, the channel's
//! options as the gateway loads them, and a loopback stand-in of the Web API.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use intake_channel::testing::load_channel_options;
use intake_channel_slack::{PATH, SIGNATURE_HEADER, Slack, SlackOptions, TIMESTAMP_HEADER, sign};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
pub const BOT_TOKEN: &str = "xoxb-test-token";
pub const BOT_USER: &str = "U0BOT";
pub const SUPPORT: &str = "C0SUPPORT";

/// `[channels.slack]` as the gateway loads it, the Web API at `api`.
pub fn options(api: &str) -> SlackOptions {
    let toml = format!(
        "[channels.slack]\nenabled = true\nsigning_secret_env = \"SLACK_SIGNING\"\n\
         bot_token_env = \"SLACK_BOT\"\napi_base_url = \"{api}\"\n\
         support_channels = [\"{SUPPORT}\"]\n"
    );
    load_channel_options::<Slack>(
        &toml,
        &[("SLACK_SIGNING", SIGNING_SECRET), ("SLACK_BOT", BOT_TOKEN)],
    )
    .unwrap_or_else(|errors| panic!("{errors}"))
}

/// An `event_callback` delivery of `event` with the id `event_id`.
pub fn callback(event_id: &str, event: Value) -> Vec<u8> {
    json!({
        "token": "legacy-verification-token",
        "team_id": "T0TEAM",
        "api_app_id": "A0APP",
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": 1749416383,
        "authorizations": [{"enterprise_id": null, "team_id": "T0TEAM", "user_id": BOT_USER,
            "is_bot": true, "is_enterprise_install": false}],
        "is_ext_shared_channel": false,
        "event_context": "4-eyJldCI6Im1lc3NhZ2UifQ"
    })
    .to_string()
    .into_bytes()
}

/// A person's message in `channel` (`channel_type` `im` or `channel`).
pub fn message(user: &str, channel: &str, channel_type: &str, ts: &str, text: &str) -> Value {
    json!({"type": "message", "user": user, "text": text, "ts": ts, "channel": channel,
        "channel_type": channel_type, "event_ts": ts, "team": "T0TEAM",
        "blocks": [{"type": "rich_text", "block_id": "b1", "elements": []}]})
}

/// Unix seconds now.
pub fn now() -> String {
    chrono::Utc::now().timestamp().to_string()
}

/// A delivery of `body` signed with `secret` at `timestamp` (none: unsigned).
pub fn request_at(body: Vec<u8>, secret: Option<&str>, timestamp: &str) -> Request<Body> {
    let mut request = Request::post(PATH)
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, timestamp);
    if let Some(secret) = secret {
        request = request.header(
            SIGNATURE_HEADER,
            sign(&SecretString::from(secret), timestamp, &body),
        );
    }
    request.body(Body::from(body)).unwrap()
}

/// A delivery of `body` signed with `secret` now.
pub fn request(body: Vec<u8>, secret: Option<&str>) -> Request<Body> {
    request_at(body, secret, &now())
}

/// One request the stand-in received.
pub use intake_channel::testing::SeenRequest as Seen;

/// A loopback stand-in of the API answering with `answer(request, count)`;
/// returns its base URL (`http://127.0.0.1:<port>/api/`) and the requests.
pub async fn stand_in<F>(answer: F) -> (String, Arc<Mutex<Vec<Seen>>>)
where
    F: Fn(&Seen, usize) -> axum::response::Response + Send + Sync + 'static,
{
    intake_channel::testing::api_stand_in("/api/", answer).await
}
