//! The department's Slack notice (rule 6): an incoming webhook, or
//! `chat.postMessage` with a bot token. Best effort: a failure is logged,
//! counted and named in the ticket's note; the ticket is in the
//! department's group either way.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

/// Where a department hears of a request.
#[derive(Debug, Clone)]
pub enum SlackTarget {
    /// An incoming webhook (its URL is a credential).
    Webhook { url: SecretString },
    /// `POST {api_base_url}chat.postMessage` to `channel` with a bot token.
    PostMessage {
        api_base_url: url::Url,
        channel: String,
        token: SecretString,
    },
}

impl PartialEq for SlackTarget {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (SlackTarget::Webhook { url: a }, SlackTarget::Webhook { url: b }) => {
                a.expose_secret() == b.expose_secret()
            }
            (
                SlackTarget::PostMessage {
                    api_base_url: a,
                    channel: c,
                    token: t,
                },
                SlackTarget::PostMessage {
                    api_base_url: b,
                    channel: d,
                    token: u,
                },
            ) => a == b && c == d && t.expose_secret() == u.expose_secret(),
            _ => false,
        }
    }
}

impl SlackTarget {
    /// `webhook` or `chat.postMessage`, for notes and explanations.
    pub fn kind(&self) -> &'static str {
        match self {
            SlackTarget::Webhook { .. } => "incoming webhook",
            SlackTarget::PostMessage { .. } => "chat.postMessage",
        }
    }
}

/// Why a notice was not delivered (never holds the webhook URL or token).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slack notice failed: {0}")]
pub struct NoticeError(pub String);

const TIMEOUT: Duration = Duration::from_secs(10);

/// Posts `text` to the target.
pub async fn post(
    http: &reqwest::Client,
    target: &SlackTarget,
    text: &str,
) -> Result<(), NoticeError> {
    let request = match target {
        SlackTarget::Webhook { url } => http
            .post(url.expose_secret())
            .json(&json!({ "text": text })),
        SlackTarget::PostMessage {
            api_base_url,
            channel,
            token,
        } => {
            let url = api_base_url
                .join("chat.postMessage")
                .map_err(|e| NoticeError(format!("bad api_base_url: {e}")))?;
            http.post(url)
                .bearer_auth(token.expose_secret())
                .json(&json!({ "channel": channel, "text": text }))
        }
    };
    let response = request
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| NoticeError(e.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(NoticeError(format!("answered {status}")));
    }
    if let SlackTarget::PostMessage { .. } = target {
        // The Web API answers 200 with `ok: false` on errors.
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| NoticeError(format!("unreadable answer: {}", e.without_url())))?;
        if body["ok"] != true {
            let code = body["error"].as_str().unwrap_or("unknown_error");
            return Err(NoticeError(format!("chat.postMessage: {code}")));
        }
    }
    Ok(())
}
