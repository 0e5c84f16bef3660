//! The few Bot API calls the channel makes (`getFile`, the file download,
//! `sendMessage`), over one `reqwest` client. The token is part of every
//! URL, so no URL ever reaches an error or a log (`without_url`).

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

/// A Bot API endpoint with the bot's token.
#[derive(Clone)]
pub struct BotApi {
    client: reqwest::Client,
    base: String,
    token: SecretString,
    timeout: Duration,
}

impl std::fmt::Debug for BotApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotApi")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why a Bot API call failed. Never holds the token.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("bot API unreachable: {0}")]
    Unreachable(String),
    #[error("bot API did not answer in time")]
    Timeout,
    /// Telegram's own answer `{"ok": false, ...}` (or a non-JSON answer).
    #[error("bot API refused ({status}): {description}")]
    Refused {
        status: u16,
        description: String,
        retry_after: Option<Duration>,
    },
    #[error("file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
}

impl ApiError {
    fn from_reqwest(error: reqwest::Error) -> Self {
        if error.is_timeout() {
            return ApiError::Timeout;
        }
        ApiError::Unreachable(error.without_url().to_string())
    }

    /// True when the same call later may work (network, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            ApiError::Unreachable(_) | ApiError::Timeout => true,
            ApiError::Refused { status, .. } => *status == 429 || *status >= 500,
            ApiError::TooLarge { .. } => false,
        }
    }
}

impl BotApi {
    /// A client for `base` (no trailing slash) with a per-request `timeout`.
    pub fn new(base: &str, token: SecretString, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token,
            timeout,
        })
    }

    /// Calls `method` with a JSON body; the `result` of an `ok` answer.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, ApiError> {
        self.call_long(method, body, Duration::ZERO).await
    }

    /// [`BotApi::call`] for a call Telegram may hold for `hold` (`getUpdates`
    /// with `timeout`): the request timeout grows by that much.
    pub async fn call_long(
        &self,
        method: &str,
        body: &Value,
        hold: Duration,
    ) -> Result<Value, ApiError> {
        let url = format!("{}/bot{}/{method}", self.base, self.token.expose_secret());
        let response = self
            .client
            .post(url)
            .timeout(self.timeout + hold)
            .json(body)
            .send()
            .await
            .map_err(ApiError::from_reqwest)?;
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer["result"].clone());
        }
        Err(ApiError::Refused {
            status: answer["error_code"]
                .as_u64()
                .map_or(status, |code| code as u16),
            description: answer["description"]
                .as_str()
                .unwrap_or("no description")
                .chars()
                .take(200)
                .collect(),
            retry_after: answer["parameters"]["retry_after"]
                .as_u64()
                .map(Duration::from_secs),
        })
    }

    /// `getFile` then the download of its `file_path`, at most `limit` bytes.
    pub async fn download(&self, file_id: &str, limit: u64) -> Result<Vec<u8>, ApiError> {
        let file = self
            .call("getFile", &serde_json::json!({ "file_id": file_id }))
            .await?;
        if file["file_size"].as_u64().is_some_and(|size| size > limit) {
            return Err(ApiError::TooLarge { limit });
        }
        let Some(path) = file["file_path"].as_str() else {
            return Err(ApiError::Refused {
                status: 400,
                description: "getFile gave no file_path".to_owned(),
                retry_after: None,
            });
        };
        let url = format!(
            "{}/file/bot{}/{path}",
            self.base,
            self.token.expose_secret()
        );
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(ApiError::from_reqwest)?;
        let status = response.status().as_u16();
        if status != 200 {
            return Err(ApiError::Refused {
                status,
                description: "file download failed".to_owned(),
                retry_after: None,
            });
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(ApiError::from_reqwest)? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() as u64 > limit {
                return Err(ApiError::TooLarge { limit });
            }
        }
        Ok(bytes)
    }
}
