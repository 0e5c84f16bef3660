//! The profile e-mail of the Slack member who wrote (issue 14 point 2,
//! decision 52): `users.info` through the channel's Web API client and bot
//! token, so the router can link the member's `slack:<team>:<user>` key to
//! the Zendesk user who already has that address.
//!
//! Slack vouches for a workspace member's profile e-mail (members sign in
//! with it; reading it needs the `users:read.email` scope), so it goes on
//! the verified contact. Bots, deleted members and members without a
//! readable e-mail add nothing. The lookup never costs the customer the
//! message: it is bounded by [`LOOKUP_TIMEOUT`] (Slack wants its 200 within
//! three seconds) and any failure is logged and counted
//! (`intake_slack_profile_lookups_total{outcome}`), the message published
//! without the e-mail. Answers are kept for [`CACHE_TTL`] per member (at
//! most [`CACHE_CAPACITY`] members), so a busy member costs one call an
//! hour.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use metrics::counter;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use crate::CHANNEL;

/// Longest wait for one `users.info` answer.
pub const LOOKUP_TIMEOUT: Duration = Duration::from_millis(1500);
/// How long an answer (an e-mail or none) is kept per member.
pub const CACHE_TTL: Duration = Duration::from_secs(3600);
/// Members kept at most; the oldest half is dropped when full.
pub const CACHE_CAPACITY: usize = 10_000;

/// How a lookup ended (the `outcome` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupOutcome {
    /// The member's e-mail was found.
    Found,
    /// A member without a readable e-mail, a bot, or a deleted member.
    NoEmail,
    /// Answered from the cache.
    Cached,
    /// Slack answered `ok: false` (e.g. `missing_scope`, `user_not_found`).
    Refused,
    /// No usable answer in time (timeout, connection, not JSON, 5xx).
    Failed,
}

impl LookupOutcome {
    pub const ALL: [LookupOutcome; 5] = [
        LookupOutcome::Found,
        LookupOutcome::NoEmail,
        LookupOutcome::Cached,
        LookupOutcome::Refused,
        LookupOutcome::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LookupOutcome::Found => "found",
            LookupOutcome::NoEmail => "no_email",
            LookupOutcome::Cached => "cached",
            LookupOutcome::Refused => "refused",
            LookupOutcome::Failed => "failed",
        }
    }
}

/// Looks members' profile e-mails up with `users.info`.
#[derive(Debug)]
pub struct Profiles {
    http: reqwest::Client,
    api_base_url: Url,
    bot_token: SecretString,
    cache: Mutex<HashMap<String, (Instant, Option<String>)>>,
}

impl Profiles {
    pub fn new(http: reqwest::Client, api_base_url: Url, bot_token: SecretString) -> Self {
        Self {
            http,
            api_base_url,
            bot_token,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The profile e-mail of member `user`, if Slack gives one.
    pub async fn email(&self, user: &str) -> Option<String> {
        if let Some(cached) = self.cached(user) {
            record(LookupOutcome::Cached, None);
            return cached;
        }
        let (outcome, email, detail) = self.ask(user).await;
        record(outcome, detail.as_deref());
        if matches!(outcome, LookupOutcome::Found | LookupOutcome::NoEmail) {
            self.remember(user, email.clone());
        }
        email
    }

    fn cached(&self, user: &str) -> Option<Option<String>> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (at, email) = cache.get(user)?;
        (at.elapsed() < CACHE_TTL).then(|| email.clone())
    }

    fn remember(&self, user: &str, email: Option<String>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            let mut ages: Vec<Instant> = cache.values().map(|(at, _)| *at).collect();
            ages.sort();
            let cut = ages[ages.len() / 2];
            cache.retain(|_, (at, _)| *at > cut);
        }
        cache.insert(user.to_owned(), (Instant::now(), email));
    }

    async fn ask(&self, user: &str) -> (LookupOutcome, Option<String>, Option<String>) {
        let Ok(url) = self.api_base_url.join("users.info") else {
            return (LookupOutcome::Failed, None, Some("bad api_base_url".into()));
        };
        let answer = self
            .http
            .get(url)
            .query(&[("user", user)])
            .bearer_auth(self.bot_token.expose_secret())
            .timeout(LOOKUP_TIMEOUT)
            .send()
            .await;
        let body: Value = match answer {
            Ok(answer) if answer.status().is_success() => match answer.json().await {
                Ok(body) => body,
                Err(_) => return (LookupOutcome::Failed, None, Some("not JSON".into())),
            },
            Ok(answer) => {
                let status = answer.status().as_u16();
                return (
                    LookupOutcome::Failed,
                    None,
                    Some(format!("status {status}")),
                );
            }
            Err(e) => {
                return (
                    LookupOutcome::Failed,
                    None,
                    Some(e.without_url().to_string()),
                );
            }
        };
        if body["ok"].as_bool() != Some(true) {
            let code = body["error"].as_str().unwrap_or("unknown").to_owned();
            return (LookupOutcome::Refused, None, Some(code));
        }
        let member = &body["user"];
        let person =
            member["is_bot"].as_bool() != Some(true) && member["deleted"].as_bool() != Some(true);
        let email = member["profile"]["email"]
            .as_str()
            .map(str::trim)
            .filter(|e| person && intake_event::normalise_email(e).is_ok())
            .map(str::to_lowercase);
        match email {
            Some(email) => (LookupOutcome::Found, Some(email), None),
            None => (LookupOutcome::NoEmail, None, None),
        }
    }
}

/// Logs (never the address) and counts one lookup.
fn record(outcome: LookupOutcome, detail: Option<&str>) {
    match outcome {
        LookupOutcome::Refused | LookupOutcome::Failed => tracing::warn!(
            channel = CHANNEL,
            outcome = outcome.as_str(),
            detail = detail.unwrap_or("-"),
            "Slack profile e-mail not read; the message goes on without it"
        ),
        _ => tracing::debug!(
            channel = CHANNEL,
            outcome = outcome.as_str(),
            "Slack profile lookup"
        ),
    }
    counter!("intake_slack_profile_lookups_total", "outcome" => outcome.as_str()).increment(1);
}
