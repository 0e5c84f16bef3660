//! Shared set-up of the integration tests: a simulator on 127.0.0.1:0, a
//! client for it and the simulator's admin API.
#![allow(dead_code)]

use std::time::Duration;

use anyhow::{Context, Result, bail};
use chrono::{DateTime, Utc};
use intake_zendesk::{Auth, Client, ClientOptions, Comment, NewTicket, TicketUpdate};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const AGENT_EMAIL: &str = "agent@intake-sim.test";
pub const TOKEN: &str = "sim-token";

pub struct Sim {
    pub handle: SimHandle,
    admin: reqwest::Client,
}

pub async fn start(config: SimConfig) -> Result<Sim> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let handle = Simulator::start(config, listener).await?;
    Ok(Sim {
        handle,
        admin: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()?,
    })
}

/// A new ticket with `subject` and a public "help" comment.
pub fn ticket(subject: &str) -> NewTicket {
    NewTicket {
        subject: Some(subject.into()),
        comment: Comment {
            body: Some("help".into()),
            public: true,
            ..Comment::default()
        },
        ..NewTicket::default()
    }
}

/// An update adding a public comment with `text` and nothing else.
pub fn comment(text: &str) -> TicketUpdate {
    TicketUpdate {
        comment: Some(Comment {
            body: Some(text.into()),
            public: true,
            ..Comment::default()
        }),
        ..TicketUpdate::default()
    }
}

/// A simulator without search lag and with the given account limit.
pub fn config(requests_per_minute: Option<u32>) -> SimConfig {
    SimConfig {
        requests_per_minute,
        search_lag: Duration::ZERO,
        oauth_token: Some(SecretString::from("sim-oauth")),
        ..SimConfig::default()
    }
}

impl Sim {
    pub fn options(&self, requests_per_minute: u32, max_attempts: u32) -> ClientOptions {
        ClientOptions {
            base_url: self.handle.base_url.parse().expect("sim base url"),
            auth: Auth::ApiToken {
                email: AGENT_EMAIL.into(),
                token: SecretString::from(TOKEN),
            },
            requests_per_minute,
            request_timeout: Duration::from_secs(10),
            max_attempts,
        }
    }

    pub fn client(&self, requests_per_minute: u32, max_attempts: u32) -> Client {
        Client::new(self.options(requests_per_minute, max_attempts)).expect("client")
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.handle.base_url)
    }

    pub async fn admin_get(&self, path: &str) -> Result<Value> {
        let response = self.admin.get(self.url(path)).send().await?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .with_context(|| format!("GET {path}"))?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> Result<()> {
        let response = self.admin.post(self.url(path)).json(&body).send().await?;
        if !response.status().is_success() {
            bail!("POST {path}: {}", response.status());
        }
        Ok(())
    }

    /// Adds a fault rule (`POST /admin/faults`).
    pub async fn fault(&self, spec: Value) -> Result<()> {
        self.admin_post("/admin/faults", spec).await
    }

    /// Every API request the simulator received (`GET /admin/requests`), oldest first.
    pub async fn requests(&self) -> Result<Vec<Request>> {
        let body = self.admin_get("/admin/requests").await?;
        let list = match body {
            Value::Array(list) => list,
            mut other => match other.get_mut("requests").map(Value::take) {
                Some(Value::Array(list)) => list,
                _ => bail!("unexpected /admin/requests shape"),
            },
        };
        let mut requests: Vec<Request> = list
            .into_iter()
            .map(serde_json::from_value)
            .collect::<Result<_, _>>()?;
        requests.retain(|r| r.path.starts_with("/api/"));
        requests.sort_by_key(|r| r.at);
        Ok(requests)
    }

    /// API requests matching a method and a path prefix.
    pub async fn requests_to(&self, method: &str, path: &str) -> Result<Vec<Request>> {
        Ok(self
            .requests()
            .await?
            .into_iter()
            .filter(|r| r.method == method && r.path.starts_with(path))
            .collect())
    }

    /// How many responses with `status` the simulator sent, from `/admin/stats`.
    pub async fn responses_with_status(&self, status: u16) -> Result<u64> {
        let stats = self.admin_get("/admin/stats").await?;
        let key = status.to_string();
        for pointer in ["/by_status", "/statuses", "/status_counts", "/responses"] {
            if let Some(map) = stats.pointer(pointer).and_then(Value::as_object) {
                return Ok(map.get(&key).and_then(Value::as_u64).unwrap_or(0));
            }
        }
        bail!("no per-status counts in /admin/stats: {stats}")
    }

    pub async fn advance_clock_secs(&self, seconds: u64) -> Result<()> {
        self.admin_post("/admin/clock/advance", json!({ "seconds": seconds }))
            .await
    }
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct Request {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub authorization: Option<String>,
    pub status: u16,
    pub at: DateTime<Utc>,
}

/// Seconds between two logged requests on the sim clock.
pub fn gap_secs(earlier: &Request, later: &Request) -> f64 {
    (later.at - earlier.at).num_milliseconds() as f64 / 1000.0
}
