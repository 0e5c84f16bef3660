//! The Slack post of a warning: an incoming webhook (`POST <url>` with
//! `{"text"}`), or `chat.postMessage` with a bot token to a channel. The
//! webhook URL and the token are secrets: never in logs, errors or `Debug`.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use url::Url;

/// Where posts go.
#[derive(Clone)]
pub enum SlackTarget {
    /// An incoming webhook URL.
    Webhook(SecretString),
    /// `chat.postMessage` (`<api_base_url>chat.postMessage`).
    PostMessage {
        bot_token: SecretString,
        channel: String,
        api_base_url: Url,
    },
}

impl std::fmt::Debug for SlackTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlackTarget::Webhook(_) => f.write_str("Webhook(<redacted>)"),
            SlackTarget::PostMessage { channel, .. } => {
                write!(
                    f,
                    "PostMessage {{ channel: {channel:?}, bot_token: <redacted> }}"
                )
            }
        }
    }
}

/// Why a post failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("slack post failed ({reason}): {message}")]
pub struct SlackError {
    /// A fixed code: `unreachable`, `timeout`, `rate_limited`,
    /// `upstream_error`, `unauthorized`, `rejected`.
    pub reason: &'static str,
    /// Says what failed; never the URL or the token.
    pub message: String,
    retryable: bool,
}

impl SlackError {
    fn new(reason: &'static str, message: impl Into<String>, retryable: bool) -> Self {
        Self {
            reason,
            message: message.into(),
            retryable,
        }
    }

    /// True when the same post may succeed later.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

/// Posts warnings to one Slack destination.
#[derive(Debug, Clone)]
pub struct SlackNotifier {
    http: reqwest::Client,
    target: SlackTarget,
}

impl SlackNotifier {
    /// A notifier whose posts give up after `timeout`.
    pub fn new(target: SlackTarget, timeout: Duration) -> Result<Self, SlackError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .no_proxy()
            .build()
            .map_err(|e| SlackError::new("invalid", format!("http client: {e}"), false))?;
        Ok(Self { http, target })
    }

    /// Posts `text`.
    pub async fn post(&self, text: &str) -> Result<(), SlackError> {
        let (request, api) = match &self.target {
            SlackTarget::Webhook(url) => {
                let url = Url::parse(url.expose_secret()).map_err(|_| {
                    SlackError::new("invalid", "the webhook URL is not a URL", false)
                })?;
                (self.http.post(url).json(&json!({"text": text})), false)
            }
            SlackTarget::PostMessage {
                bot_token,
                channel,
                api_base_url,
            } => {
                let url = api_base_url
                    .join("chat.postMessage")
                    .map_err(|_| SlackError::new("invalid", "bad api_base_url", false))?;
                let request = self
                    .http
                    .post(url)
                    .bearer_auth(bot_token.expose_secret())
                    .json(&json!({"channel": channel, "text": text}));
                (request, true)
            }
        };
        let answer = request.send().await.map_err(|e| {
            let reason = if e.is_timeout() {
                "timeout"
            } else {
                "unreachable"
            };
            SlackError::new(reason, e.without_url().to_string(), true)
        })?;
        let status = answer.status();
        if !status.is_success() {
            let body = answer.text().await.unwrap_or_default();
            let code: String = body.chars().take(60).collect();
            return Err(match status.as_u16() {
                429 => SlackError::new("rate_limited", format!("{status}"), true),
                401 | 403 => SlackError::new("unauthorized", format!("{status} {code}"), false),
                s if s >= 500 => SlackError::new("upstream_error", format!("{status}"), true),
                _ => SlackError::new("rejected", format!("{status} {code}"), false),
            });
        }
        if !api {
            return Ok(());
        }
        let body: Value = answer.json().await.unwrap_or(Value::Null);
        if body["ok"].as_bool() == Some(true) {
            return Ok(());
        }
        let code = body["error"].as_str().unwrap_or("unknown").to_owned();
        Err(match code.as_str() {
            "ratelimited" | "rate_limited" => SlackError::new("rate_limited", code, true),
            "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                SlackError::new("upstream_error", code, true)
            }
            "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive"
            | "missing_scope" => SlackError::new("unauthorized", code, false),
            _ => SlackError::new("rejected", code, false),
        })
    }
}
