//! `[zendesk]`: the account tickets are written to.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::problems::Problem;
use crate::secret::{Ctx, SecretRef};

/// `[zendesk]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZendesk {
    /// Account URL, e.g. `https://acme.zendesk.com`.
    #[serde(default)]
    base_url: Option<String>,
    /// Agent e-mail address for API-token authentication (`email/token:…`).
    #[serde(default)]
    email: Option<String>,
    /// Environment variable holding the API token.
    #[serde(default)]
    api_token_env: Option<String>,
    /// File holding the API token.
    #[serde(default)]
    api_token_file: Option<PathBuf>,
    /// Environment variable holding an OAuth access token (instead of an API token).
    #[serde(default)]
    oauth_token_env: Option<String>,
    /// File holding an OAuth access token (instead of an API token).
    #[serde(default)]
    oauth_token_file: Option<PathBuf>,
    /// Calls per minute intake allows itself (keep under the plan's limit).
    #[serde(default = "default_requests_per_minute")]
    requests_per_minute: u32,
    /// Timeout of one API call, in seconds.
    #[serde(default = "default_request_timeout_secs")]
    request_timeout_secs: u64,
    /// Attempts per API call; after them a temporary failure makes the router
    /// retry the event later (permanent refusals go to the dead-letter queue).
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    /// Update Ticket requests (comments, safe updates) per minute across the
    /// account: Zendesk's own limit for that endpoint, 100, or 300 with the
    /// High Volume add-on. Paced with a bucket of its own (decision 58).
    #[serde(default = "default_update_ticket_per_minute")]
    update_ticket_per_minute: u32,
    /// User creations (`create_or_update`) per minute across the account:
    /// Zendesk allows one a second (and five a minute per user, always kept).
    #[serde(default = "default_user_creates_per_minute")]
    user_creates_per_minute: u32,
    /// Router processes spending this account's budget at the same time
    /// (the router's replica count): each paces by its share of what the
    /// account's answers say is left, and the endpoint limits are split.
    #[serde(default = "default_replicas")]
    replicas: u32,
}

fn default_requests_per_minute() -> u32 {
    200
}
fn default_request_timeout_secs() -> u64 {
    30
}
fn default_max_attempts() -> u32 {
    5
}
fn default_update_ticket_per_minute() -> u32 {
    100
}
fn default_user_creates_per_minute() -> u32 {
    60
}
fn default_replicas() -> u32 {
    1
}

impl Default for RawZendesk {
    fn default() -> Self {
        Self {
            base_url: None,
            email: None,
            api_token_env: None,
            api_token_file: None,
            oauth_token_env: None,
            oauth_token_file: None,
            requests_per_minute: default_requests_per_minute(),
            request_timeout_secs: default_request_timeout_secs(),
            max_attempts: default_max_attempts(),
            update_ticket_per_minute: default_update_ticket_per_minute(),
            user_creates_per_minute: default_user_creates_per_minute(),
            replicas: default_replicas(),
        }
    }
}

/// The Zendesk account and how hard intake may call it.
#[derive(Debug, Clone)]
pub struct ZendeskConfig {
    /// Present when the URL and credentials are all given (the router needs them;
    /// see [`crate::Config::require_router`]).
    pub account: Option<ZendeskAccount>,
    pub requests_per_minute: NonZeroU32,
    pub request_timeout: Duration,
    pub max_attempts: NonZeroU32,
    /// Update Ticket's own per-account limit.
    pub update_ticket_per_minute: NonZeroU32,
    /// User creations per minute per account.
    pub user_creates_per_minute: NonZeroU32,
    /// Router processes sharing the account's budget at once.
    pub replicas: NonZeroU32,
    /// What is missing for `account`, reported only when the router needs it.
    pub(crate) missing: Vec<Problem>,
}

/// Where and as whom intake calls Zendesk.
#[derive(Debug, Clone)]
pub struct ZendeskAccount {
    /// e.g. `https://acme.zendesk.com/`; API paths (`api/v2/…`) join onto it.
    pub base_url: Url,
    pub auth: ZendeskAuth,
}

/// Zendesk API credentials.
#[derive(Debug, Clone)]
pub enum ZendeskAuth {
    /// Basic authentication as `{email}/token:{token}`.
    ApiToken { email: String, token: SecretString },
    /// `Authorization: Bearer {token}`.
    OAuth { token: SecretString },
}

impl RawZendesk {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> ZendeskConfig {
        let mut missing = Vec::new();
        let base_url = match self.base_url.as_deref().map(str::trim) {
            None | Some("") => {
                missing.push(Problem::new(
                    "zendesk.base_url",
                    "required for the router (e.g. https://acme.zendesk.com)",
                ));
                None
            }
            Some(text) => parse_base_url(ctx, text),
        };
        let email = match self.email.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(address) if is_plausible_email(address) => Some(address.to_owned()),
            Some(address) => {
                ctx.problem(
                    "zendesk.email",
                    format!("{address:?} is not an e-mail address"),
                );
                None
            }
        };

        let api_token = SecretRef::new(&self.api_token_env, &self.api_token_file);
        let oauth_token = SecretRef::new(&self.oauth_token_env, &self.oauth_token_file);
        let auth = match (api_token.is_given(), oauth_token.is_given()) {
            (true, true) => {
                ctx.problem(
                    "zendesk.oauth_token_env",
                    "conflicts with zendesk.api_token_env/_file: give an API token or an OAuth token, not both",
                );
                None
            }
            (false, false) => {
                missing.push(Problem::new(
                    "zendesk.api_token_env",
                    "required for the router (or zendesk.api_token_file, or an OAuth token via zendesk.oauth_token_env/_file)",
                ));
                None
            }
            (false, true) => oauth_token
                .resolve(ctx, "zendesk.oauth_token")
                .map(|token| ZendeskAuth::OAuth { token }),
            (true, false) => {
                let token = api_token.resolve(ctx, "zendesk.api_token");
                if email.is_none() && !ctx.problems.has_key("zendesk.email") {
                    missing.push(Problem::new(
                        "zendesk.email",
                        "required for the router with an API token (the agent's address)",
                    ));
                }
                match (email, token) {
                    (Some(email), Some(token)) => Some(ZendeskAuth::ApiToken { email, token }),
                    _ => None,
                }
            }
        };

        let requests_per_minute = NonZeroU32::new(self.requests_per_minute).unwrap_or_else(|| {
            ctx.problem("zendesk.requests_per_minute", "must be greater than 0");
            NonZeroU32::MIN
        });
        if self.request_timeout_secs == 0 {
            ctx.problem("zendesk.request_timeout_secs", "must be at least 1");
        }
        let max_attempts = NonZeroU32::new(self.max_attempts).unwrap_or_else(|| {
            ctx.problem("zendesk.max_attempts", "must be at least 1");
            NonZeroU32::MIN
        });
        let update_ticket_per_minute = NonZeroU32::new(self.update_ticket_per_minute)
            .unwrap_or_else(|| {
                ctx.problem(
                    "zendesk.update_ticket_per_minute",
                    "must be greater than 0 (Zendesk: 100, or 300 with High Volume)",
                );
                NonZeroU32::MIN
            });
        let user_creates_per_minute =
            NonZeroU32::new(self.user_creates_per_minute).unwrap_or_else(|| {
                ctx.problem(
                    "zendesk.user_creates_per_minute",
                    "must be greater than 0 (Zendesk: 60)",
                );
                NonZeroU32::MIN
            });
        let replicas = NonZeroU32::new(self.replicas).unwrap_or_else(|| {
            ctx.problem(
                "zendesk.replicas",
                "must be at least 1 (the number of router processes)",
            );
            NonZeroU32::MIN
        });
        let account = match (base_url, auth) {
            (Some(base_url), Some(auth)) => Some(ZendeskAccount { base_url, auth }),
            _ => None,
        };
        ZendeskConfig {
            account,
            requests_per_minute,
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_attempts,
            update_ticket_per_minute,
            user_creates_per_minute,
            replicas,
            missing,
        }
    }
}

fn parse_base_url(ctx: &mut Ctx<'_>, text: &str) -> Option<Url> {
    let url = match Url::parse(text) {
        Ok(url) => url,
        Err(error) => {
            ctx.problem("zendesk.base_url", format!("is not a URL ({error})"));
            return None;
        }
    };
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        ctx.problem(
            "zendesk.base_url",
            "must be an http(s) URL with a host, e.g. https://acme.zendesk.com",
        );
        return None;
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        ctx.problem(
            "zendesk.base_url",
            "must have no user, query or fragment (credentials go in zendesk.api_token_env/_file)",
        );
        return None;
    }
    // A trailing slash makes `join("api/v2/tickets")` keep any path prefix.
    let mut url = url;
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Some(url)
}

fn is_plausible_email(address: &str) -> bool {
    match address.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !address.chars().any(char::is_whitespace)
        }
        None => false,
    }
}
