//! The scheduler against the Zendesk simulator on 127.0.0.1:0, a state store
//! and a loopback stand-in for Slack, on a clock the test moves by hand.

#![allow(dead_code)]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::response::IntoResponse;
use chrono::{DateTime, TimeZone, Utc};
use intake_bus::Topics;
use intake_calendar::refresh::LivePolicies;
use intake_calendar::{Calendars, SlaPolicies, WorkingCalendar};
use intake_channel::testing::{SeenRequest, api_stand_in};
use intake_sla_watch::{Scheduler, SlaWatchOptions, SlackNotifier, SlackTarget};
use intake_store::{SlaStage, SlaWatch, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions, Comment, NewTicket, UserInput};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Monday, 7 December 2026, 09:00 Moscow time.
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
}

/// A clock the test sets.
#[derive(Clone)]
pub struct HandClock(Arc<Mutex<DateTime<Utc>>>);

impl HandClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Arc::new(Mutex::new(at)))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap() = at;
    }
    pub fn clock(&self) -> intake_sla_watch::Clock {
        let inner = Arc::clone(&self.0);
        Arc::new(move || *inner.lock().unwrap())
    }
}

/// The process-wide metrics recorder (tests use distinct policy names).
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().unwrap())
}

/// The value of counter `name` with label `policy`, 0 when absent.
pub fn counter(name: &str, policy: &str) -> u64 {
    let needle = format!("{name}{{policy=\"{policy}\"}} ");
    metrics()
        .render()
        .lines()
        .find_map(|line| line.strip_prefix(&needle)?.trim().parse().ok())
        .unwrap_or(0)
}

pub struct World {
    pub sim: SimHandle,
    pub client: Client,
    pub clock: HandClock,
    pub slack_url: String,
    pub slack_seen: Arc<Mutex<Vec<SeenRequest>>>,
    /// Slack answers 500 while this is above zero (and counts it down).
    pub slack_failures: Arc<Mutex<u32>>,
    pub policies: LivePolicies,
}

impl World {
    pub async fn new() -> World {
        metrics();
        let config = SimConfig {
            requests_per_minute: None,
            ..SimConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = Simulator::start(config, listener).await.unwrap();
        let client = Client::new(ClientOptions {
            base_url: url::Url::parse(&sim.base_url).unwrap(),
            auth: Auth::ApiToken {
                email: "agent@intake-sim.test".to_owned(),
                token: secrecy::SecretString::from("sim-token"),
            },
            requests_per_minute: 60_000,
            request_timeout: Duration::from_secs(5),
            max_attempts: 1,
        })
        .unwrap();
        let slack_failures = Arc::new(Mutex::new(0u32));
        let failures = Arc::clone(&slack_failures);
        let (slack_url, slack_seen) = api_stand_in("/hooks/", move |_, _| {
            let mut left = failures.lock().unwrap();
            if *left > 0 {
                *left -= 1;
                return axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            "ok".into_response()
        })
        .await;
        let mut calendars = Calendars::default();
        calendars.insert(WorkingCalendar::seeds_default("default"));
        let policies = LivePolicies::new(SlaPolicies::new(Vec::new(), calendars));
        World {
            sim,
            client,
            clock: HandClock::new(t0()),
            slack_url: format!("{slack_url}T000/B000/secret-part"),
            slack_seen,
            slack_failures,
            policies,
        }
    }

    pub fn options(&self) -> SlaWatchOptions {
        let mut options = SlaWatchOptions::new(Topics::new("intake"));
        options.scan_interval = Duration::from_millis(50);
        options.lease_ttl = Duration::from_secs(10);
        options.zendesk_base_url = Some(url::Url::parse(&self.sim.base_url).unwrap());
        options.clock = self.clock.clock();
        options
    }

    pub fn slack(&self) -> SlackNotifier {
        let target = SlackTarget::Webhook(secrecy::SecretString::from(self.slack_url.clone()));
        SlackNotifier::new(target, Duration::from_secs(5)).unwrap()
    }

    /// A scheduler on `store`, running until stopped.
    pub fn start(&self, store: Arc<dyn StateStore>, options: SlaWatchOptions) -> Running {
        let scheduler = Scheduler::new(
            store,
            self.client.clone(),
            Some(self.slack()),
            self.policies.clone(),
            options,
        );
        let scans = scheduler.scans();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(scheduler.run(shutdown.clone()));
        Running {
            shutdown,
            task,
            scans,
        }
    }

    /// A ticket as the router makes one: the customer's first comment with
    /// the event id in its metadata. Returns (ticket id, requester id).
    pub async fn ticket(&self, name: &str) -> (u64, u64) {
        let requester = self
            .client
            .create_or_update_user(&UserInput {
                name: Some(name.to_owned()),
                email: Some(format!("{name}@customer.test")),
                ..UserInput::default()
            })
            .await
            .unwrap();
        let ticket = NewTicket {
            subject: Some(format!("help {name}")),
            comment: Comment {
                body: Some("Где мой заказ?".to_owned()),
                public: true,
                author_id: Some(requester.id),
                ..Comment::default()
            },
            requester_id: Some(requester.id),
            tags: vec!["intake_sla_email".to_owned()],
            metadata: Some(json!({"intake_event_id": uuid::Uuid::new_v4().to_string()})),
            ..NewTicket::default()
        };
        let created = self.client.create_ticket(&ticket, None).await.unwrap();
        (created.ticket.id, requester.id)
    }

    pub async fn tags(&self, ticket_id: u64) -> Vec<String> {
        self.client.show_ticket(ticket_id).await.unwrap().tags
    }

    /// The internal notes of a ticket.
    pub async fn notes(&self, ticket_id: u64) -> Vec<String> {
        let comments = self
            .client
            .list_comments(ticket_id, false, 100)
            .await
            .unwrap();
        comments
            .into_iter()
            .filter(|c| !c.public)
            .map(|c| c.body)
            .collect()
    }

    pub fn slack_posts(&self) -> Vec<Value> {
        self.slack_seen
            .lock()
            .unwrap()
            .iter()
            .map(|r| r.body.clone())
            .collect()
    }

    /// An agent's reply in Zendesk (the simulator's admin route).
    pub async fn agent_reply(&self, ticket_id: u64, public: bool) {
        let answer = reqwest::Client::new()
            .post(format!(
                "{}/admin/tickets/{ticket_id}/agent_reply",
                self.sim.base_url
            ))
            .json(&json!({"body": "Здравствуйте! Смотрим.", "public": public}))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{}", answer.status());
    }
}

pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    pub scans: intake_sla_watch::ScanCount,
}

impl Running {
    /// Waits until `more` further scan rounds completed.
    pub async fn scans_more(&mut self, more: u64) {
        let target = *self.scans.borrow() + more;
        tokio::time::timeout(
            Duration::from_secs(60),
            self.scans.wait_for(|count| *count >= target),
        )
        .await
        .expect("scans within 60 s")
        .unwrap();
    }

    /// Stops the scheduler and waits for it (it releases its lease).
    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("the scheduler stops within 30 s")
            .unwrap();
    }
}

/// A watch of `ticket_id` due `due_minutes` after t0, warned from `warn_minutes`.
pub fn watch(ticket_id: u64, policy: &str, due_minutes: i64, warn_minutes: i64) -> SlaWatch {
    SlaWatch {
        ticket_id,
        channel: "email".to_owned(),
        policy: policy.to_owned(),
        calendar: "default".to_owned(),
        locale: Some("ru".to_owned()),
        due_at: t0() + chrono::Duration::minutes(due_minutes),
        warn_at: t0() + chrono::Duration::minutes(warn_minutes),
        stage: SlaStage::Watching,
        stage_at: t0(),
    }
}

/// Waits (polling, at most 60 s) until `ticket_id`'s watch reaches `stage`.
pub async fn wait_stage(store: &Arc<dyn StateStore>, ticket_id: u64, stage: SlaStage) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = store.sla_watch(ticket_id).await.unwrap().map(|w| w.stage);
        if now == Some(stage) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "ticket {ticket_id} never reached {stage:?} (at {now:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
