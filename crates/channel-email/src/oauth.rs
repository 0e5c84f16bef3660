//! XOAUTH2 (Gmail, Microsoft 365): an access token from the provider's token
//! endpoint (refresh-token grant), kept until shortly before it expires, and
//! a rotated refresh token written back to its file. Every failure is a
//! metric and a log line (`intake_email_token_failures_total`), never silence.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::EmailError;

/// Validated `[accounts.imap.oauth2]`.
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    /// The token endpoint (`https://oauth2.googleapis.com/token`, …).
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub refresh_token: SecretString,
    /// Where the refresh token came from, if a file: a rotated one is written back.
    pub refresh_token_file: Option<PathBuf>,
    pub scope: Option<String>,
}

/// A token is renewed this long before the provider says it expires.
const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// Longest wait for the token endpoint.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

struct Cached {
    access_token: SecretString,
    renew_at: Instant,
}

struct State {
    cached: Option<Cached>,
    refresh_token: SecretString,
}

/// The access tokens of one account.
pub struct TokenSource {
    account: String,
    config: OAuth2Config,
    http: reqwest::Client,
    state: Mutex<State>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("account", &self.account)
            .field("token_url", &self.config.token_url)
            .finish_non_exhaustive()
    }
}

#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
}

impl TokenSource {
    pub fn new(account: &str, config: OAuth2Config) -> Result<Self, EmailError> {
        let http = reqwest::Client::builder()
            .timeout(TOKEN_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EmailError::Config(format!("token client: {e}")))?;
        let state = Mutex::new(State {
            cached: None,
            refresh_token: config.refresh_token.clone(),
        });
        Ok(Self {
            account: account.to_owned(),
            config,
            http,
            state,
        })
    }

    /// A valid access token: the cached one, or a fresh one.
    pub async fn access_token(&self) -> Result<SecretString, EmailError> {
        let mut state = self.state.lock().await;
        if let Some(cached) = &state.cached
            && Instant::now() < cached.renew_at
        {
            return Ok(cached.access_token.clone());
        }
        match self.refresh(&mut state).await {
            Ok(token) => Ok(token),
            Err((reason, message)) => {
                crate::events::token_failed(&self.account, reason, &message);
                Err(EmailError::Token(message))
            }
        }
    }

    /// Forgets the cached token (the server refused it).
    pub async fn invalidate(&self) {
        self.state.lock().await.cached = None;
    }

    async fn refresh(&self, state: &mut State) -> Result<SecretString, (&'static str, String)> {
        let mut form = vec![
            ("grant_type", "refresh_token".to_owned()),
            (
                "refresh_token",
                state.refresh_token.expose_secret().to_owned(),
            ),
            ("client_id", self.config.client_id.clone()),
        ];
        if let Some(secret) = &self.config.client_secret {
            form.push(("client_secret", secret.expose_secret().to_owned()));
        }
        if let Some(scope) = &self.config.scope {
            form.push(("scope", scope.clone()));
        }
        let response = self
            .http
            .post(&self.config.token_url)
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                (
                    "unreachable",
                    format!("token endpoint unreachable: {}", e.without_url()),
                )
            })?;
        let status = response.status();
        if !status.is_success() {
            // The body names the OAuth error (invalid_grant, …), never a secret.
            let body = response.text().await.unwrap_or_default();
            let code = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or_default();
            let reason = if code == "invalid_grant" {
                "invalid_grant"
            } else {
                "refused"
            };
            return Err((reason, format!("token endpoint answered {status} {code}")));
        }
        let parsed: TokenResponse = response.json().await.map_err(|_| {
            (
                "invalid_response",
                "token endpoint sent no readable token".to_owned(),
            )
        })?;
        let lifetime = Duration::from_secs(parsed.expires_in.unwrap_or(3600));
        let access_token = SecretString::from(parsed.access_token);
        state.cached = Some(Cached {
            access_token: access_token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN),
        });
        if let Some(rotated) = parsed.refresh_token
            && rotated != state.refresh_token.expose_secret()
        {
            state.refresh_token = SecretString::from(rotated.clone());
            if let Some(path) = &self.config.refresh_token_file {
                persist(path, &rotated).map_err(|e| {
                    (
                        "persist",
                        format!(
                            "cannot keep the rotated refresh token in {}: {e}",
                            path.display()
                        ),
                    )
                })?;
            }
            tracing::info!(channel = "email", account = %self.account, "oauth2 refresh token rotated");
        }
        Ok(access_token)
    }
}

/// Replaces the file's content atomically (write beside it, then rename).
fn persist(path: &std::path::Path, token: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("rotating");
    std::fs::write(&tmp, token)?;
    std::fs::rename(&tmp, path)
}

/// The XOAUTH2 SASL exchange (Google's and Microsoft's format).
pub(crate) struct XOAuth2 {
    pub user: String,
    pub token: SecretString,
    pub sent: bool,
}

impl async_imap::Authenticator for XOAuth2 {
    type Response = Vec<u8>;

    fn process(&mut self, _challenge: &[u8]) -> Vec<u8> {
        if self.sent {
            // A second challenge carries the error; an empty answer ends the exchange.
            return Vec::new();
        }
        self.sent = true;
        format!(
            "user={}\x01auth=Bearer {}\x01\x01",
            self.user,
            self.token.expose_secret()
        )
        .into_bytes()
    }
}
