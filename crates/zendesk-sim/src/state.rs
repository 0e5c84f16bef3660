//! Shared simulator state: the account's records, the sim clock and persistence.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::SimConfig;
use crate::error::SimError;
use crate::faults::Runtime;
use crate::index::SearchIndex;
use crate::model::{Group, Membership, Render, Ticket, Upload, User};

/// A stored response to a ticket creation, replayed on an idempotency hit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdempotencyEntry {
    pub request: Value,
    pub status: u16,
    pub body: Value,
    pub location: String,
    pub created_at: DateTime<Utc>,
}

/// Everything that would survive in a real account (persisted to the state file).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Data {
    pub tickets: BTreeMap<u64, Ticket>,
    pub users: BTreeMap<u64, User>,
    pub groups: Vec<Group>,
    pub memberships: Vec<Membership>,
    pub uploads: HashMap<String, Upload>,
    pub idempotency: HashMap<String, IdempotencyEntry>,
    /// Times of recent updates keyed by `"{ticket_id}:{user_id}"`.
    pub ticket_updates: HashMap<String, Vec<DateTime<Utc>>>,
    pub next_ticket_id: u64,
    pub next_user_id: u64,
    pub next_object_id: u64,
    pub clock_offset_ms: i64,
    /// Versions search still sees while recent updates are being indexed.
    #[serde(default)]
    pub search_index: SearchIndex,
    /// The registered webhook (`POST /admin/webhooks`).
    #[serde(default)]
    pub webhook: Option<crate::webhooks::Webhook>,
    /// Webhook deliveries by outcome.
    #[serde(default)]
    pub webhook_deliveries: std::collections::BTreeMap<String, u64>,
    /// Webhooks created through the Webhooks API, by id.
    #[serde(default)]
    pub api_webhooks: BTreeMap<String, crate::triggers::ApiWebhook>,
    /// Triggers created through the Triggers API, by id.
    #[serde(default)]
    pub triggers: BTreeMap<u64, crate::triggers::Trigger>,
}

impl Data {
    /// A fresh account: one admin agent, one group and its membership.
    pub fn seeded(config: &SimConfig, now: DateTime<Utc>) -> Data {
        let mut data = Data {
            next_ticket_id: 1,
            next_user_id: 361_000_000_001,
            next_object_id: 900_000_000_001,
            ..Data::default()
        };
        let agent_id = data.add_user(
            "Sim Agent",
            Some(config.agent_email.clone()),
            None,
            "admin",
            now,
        );
        let group_id = data.next_id();
        data.groups.push(Group {
            id: group_id,
            name: "Support".to_owned(),
            created_at: now,
        });
        let membership_id = data.next_id();
        data.memberships.push(Membership {
            id: membership_id,
            user_id: agent_id,
            group_id,
            default: true,
            created_at: now,
        });
        data
    }

    /// A fresh id for comments, audits, attachments, groups and memberships.
    pub fn next_id(&mut self) -> u64 {
        let id = self.next_object_id;
        self.next_object_id += 1;
        id
    }

    /// Adds a user and returns its id; agents start `online`.
    pub fn add_user(
        &mut self,
        name: &str,
        email: Option<String>,
        external_id: Option<String>,
        role: &str,
        now: DateTime<Utc>,
    ) -> u64 {
        let id = self.next_user_id;
        self.next_user_id += 1;
        let is_agent = role == "agent" || role == "admin";
        self.users.insert(
            id,
            User {
                id,
                name: name.to_owned(),
                email,
                phone: None,
                external_id,
                locale: "en-US".to_owned(),
                role: role.to_owned(),
                created_at: now,
                updated_at: now,
                availability: is_agent.then(|| "online".to_owned()),
                availability_updated_at: is_agent.then_some(now),
                active: true,
                extra_emails: Vec::new(),
                identities: Vec::new(),
                suspended: false,
            },
        );
        id
    }

    /// Finds an active user by any of its e-mail identities, case-insensitively.
    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users.values().find(|u| u.active && u.has_email(email))
    }

    /// Finds an active user by external id, case-insensitively.
    pub fn user_by_external_id(&self, external_id: &str) -> Option<&User> {
        self.users.values().find(|u| {
            u.active
                && u.external_id
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(external_id))
        })
    }

    /// The user with `id` unless it was deleted or merged away.
    pub fn active_user(&self, id: u64) -> Option<&User> {
        self.users.get(&id).filter(|u| u.active)
    }
}

pub(crate) struct Shared {
    pub config: SimConfig,
    pub data: Mutex<Data>,
    pub runtime: Mutex<Runtime>,
    /// The sim clock's origin: UTC when the state was built, and tokio's
    /// clock at that moment.
    clock_origin: (DateTime<Utc>, tokio::time::Instant),
    clock_offset_ms: AtomicI64,
    version: AtomicU64,
    persisted: tokio::sync::Mutex<u64>,
}

/// A handle on the simulator's state; cheap to clone.
#[derive(Clone)]
pub struct SimState {
    pub(crate) shared: Arc<Shared>,
}

impl SimState {
    /// Builds the state, loading `state_file` when it exists.
    pub fn new(config: SimConfig) -> Result<SimState, SimError> {
        let loaded = match &config.state_file {
            Some(path) if path.exists() => {
                let bytes = std::fs::read(path).map_err(|e| SimError::StateFile(e.to_string()))?;
                Some(
                    serde_json::from_slice::<Data>(&bytes)
                        .map_err(|e| SimError::StateFile(e.to_string()))?,
                )
            }
            _ => None,
        };
        Ok(match loaded {
            Some(data) => SimState::with_data(config, data),
            None => SimState::fresh(config),
        })
    }

    /// A freshly seeded account (the state file, if any, is only written, not read).
    pub fn fresh(config: SimConfig) -> SimState {
        let data = Data::seeded(&config, Utc::now());
        SimState::with_data(config, data)
    }

    fn with_data(config: SimConfig, data: Data) -> SimState {
        let offset = data.clock_offset_ms;
        let runtime = Runtime::new(config.fault_seed);
        SimState {
            shared: Arc::new(Shared {
                config,
                data: Mutex::new(data),
                runtime: Mutex::new(runtime),
                clock_origin: (Utc::now(), tokio::time::Instant::now()),
                clock_offset_ms: AtomicI64::new(offset),
                version: AtomicU64::new(0),
                persisted: tokio::sync::Mutex::new(0),
            }),
        }
    }

    /// The configuration the simulator runs with.
    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// Current time on the sim clock: the wall time at start moved on by
    /// tokio's clock, plus the advanced offset. Outside paused time that is
    /// wall time; a test on paused tokio time (`start_paused`) drives the sim
    /// clock, its rate window and its delays together with the client's
    /// timers, so what it measures does not depend on the machine's speed.
    pub fn now(&self) -> DateTime<Utc> {
        let (start, started) = self.shared.clock_origin;
        let elapsed = chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
        start
            + elapsed
            + chrono::Duration::milliseconds(self.shared.clock_offset_ms.load(Ordering::SeqCst))
    }

    /// Moves the sim clock forward.
    pub fn advance_clock(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.shared.clock_offset_ms.fetch_add(ms, Ordering::SeqCst);
    }

    pub(crate) fn data(&self) -> MutexGuard<'_, Data> {
        self.shared
            .data
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Slow (delayed) ticket updates still being worked on, including ones
    /// whose client stopped waiting (for tests that wait for them to end).
    pub fn slow_updates(&self) -> usize {
        self.runtime().slow_updates
    }

    pub(crate) fn runtime(&self) -> MutexGuard<'_, Runtime> {
        self.shared
            .runtime
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn render(&self) -> RenderBase {
        RenderBase(self.shared.config.public_base())
    }

    /// Every ticket as JSON, each with a `comments` array, ordered by id.
    pub fn tickets(&self) -> Vec<Value> {
        let base = self.render();
        let render = base.get();
        let data = self.data();
        data.tickets
            .values()
            .map(|t| {
                let mut v = render.ticket(t);
                v["comments"] = t.comments.iter().map(|c| render.comment(c)).collect();
                v
            })
            .collect()
    }

    /// Every user as JSON, ordered by id.
    pub fn users(&self) -> Vec<Value> {
        let base = self.render();
        let render = base.get();
        self.data().users.values().map(|u| render.user(u)).collect()
    }

    /// Id of the seeded admin agent (the one API tokens act as by default).
    pub fn agent_id(&self) -> u64 {
        let email = self.shared.config.agent_email.clone();
        self.data().user_by_email(&email).map_or(0, |u| u.id)
    }

    /// Id of the seeded group.
    pub fn default_group_id(&self) -> u64 {
        self.data().groups.first().map_or(0, |g| g.id)
    }

    /// Creates a user with the given role (`end-user`, `agent`, `admin`) and returns its id.
    pub fn create_user(&self, name: &str, email: &str, role: &str) -> u64 {
        let now = self.now();
        self.data()
            .add_user(name, Some(email.to_owned()), None, role, now)
    }

    /// Deletes user `id` as `DELETE /api/v2/users/{id}` does (soft delete);
    /// returns the deleted user as rendered in the answer.
    pub fn delete_user(&self, id: u64) -> Result<Value, crate::ApiError> {
        let now = self.now();
        let lag = self.shared.config.search_lag;
        let owner = self.agent_id();
        let base = self.render();
        let mut data = self.data();
        crate::api::user_ops::delete(&mut data, id, owner, lag, now)?;
        let mut user = data
            .users
            .get(&id)
            .map(|u| base.get().user(u))
            .unwrap_or_default();
        user["permanently_deleted"] = Value::Bool(false);
        Ok(user)
    }

    /// Merges end user `source` into end user `target` as the seeded agent
    /// would with `PUT /api/v2/users/{source}/merge`; returns the receiving user.
    pub fn merge_users(&self, source: u64, target: u64) -> Result<Value, crate::ApiError> {
        self.merge_users_as(self.agent_id(), source, target)
    }

    pub(crate) fn merge_users_as(
        &self,
        agent: u64,
        source: u64,
        target: u64,
    ) -> Result<Value, crate::ApiError> {
        let now = self.now();
        let lag = self.shared.config.search_lag;
        let base = self.render();
        let mut data = self.data();
        crate::api::user_ops::merge(&mut data, source, target, agent, lag, now)?;
        Ok(data
            .users
            .get(&target)
            .map(|u| base.get().user(u))
            .unwrap_or_default())
    }

    /// Sets a ticket's status directly (as an agent in the UI or an automation would);
    /// search sees the change `search_lag` later, as after an API update.
    pub fn set_ticket_status(&self, id: u64, status: &str) -> bool {
        let now = self.now();
        let lag = self.shared.config.search_lag;
        let mut data = self.data();
        let before = data.tickets.get(&id).cloned();
        if before.is_none() {
            return false;
        }
        data.remember_ticket(before, lag);
        if let Some(t) = data.tickets.get_mut(&id) {
            t.status = status.to_owned();
            t.updated_at = now;
        }
        true
    }

    /// Sets an agent's availability status; false if the user is not an agent.
    pub fn set_availability(&self, agent_id: u64, status: &str) -> bool {
        let now = self.now();
        let mut data = self.data();
        match data.users.get_mut(&agent_id) {
            Some(u) if u.is_agent() => {
                u.availability = Some(status.to_owned());
                u.availability_updated_at = Some(now);
                true
            }
            _ => false,
        }
    }

    /// Forgets every record, fault and log entry and reseeds the account.
    pub fn reset(&self) {
        let now = self.now();
        *self.data() = Data::seeded(&self.shared.config, now);
        self.runtime().reset(self.shared.config.fault_seed);
    }

    /// Writes the state file (if configured) after a change; errors are logged, not fatal.
    pub(crate) async fn persist(&self) {
        let Some(path) = self.shared.config.state_file.clone() else {
            return;
        };
        let (version, snapshot) = {
            let mut data = self.data();
            let version = self.shared.version.fetch_add(1, Ordering::SeqCst) + 1;
            data.clock_offset_ms = self.shared.clock_offset_ms.load(Ordering::SeqCst);
            (version, serde_json::to_vec(&*data))
        };
        let bytes = match snapshot {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::warn!(error = %e, "state snapshot failed");
                return;
            }
        };
        let mut written = self.shared.persisted.lock().await;
        if *written >= version {
            return;
        }
        let tmp = path.with_extension("tmp");
        let result = async {
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        match result {
            Ok(()) => *written = version,
            Err(e) => tracing::warn!(error = %e, "state file write failed"),
        }
    }
}

/// Owns the base URL so a [`Render`] can borrow it.
pub(crate) struct RenderBase(String);

impl RenderBase {
    pub fn get(&self) -> Render<'_> {
        Render { base: &self.0 }
    }
}

impl SimState {
    /// Adds a user to a group (the first membership becomes the default one).
    pub fn add_membership(&self, user_id: u64, group_id: u64) {
        let now = self.now();
        let mut data = self.data();
        let default = !data.memberships.iter().any(|m| m.user_id == user_id);
        let id = data.next_id();
        data.memberships.push(Membership {
            id,
            user_id,
            group_id,
            default,
            created_at: now,
        });
    }

    /// Registers a fault rule (same as `POST /admin/faults`).
    pub fn add_fault(&self, spec: crate::faults::FaultSpec) {
        let now = self.now();
        self.runtime().add_fault(spec, now);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.runtime().clear_faults();
    }

    /// Every request received so far (oldest first, at most the last 10 000).
    pub fn requests(&self) -> Vec<crate::faults::RequestRecord> {
        self.runtime().requests.iter().cloned().collect()
    }

    /// How many responses were sent with `status`.
    pub fn responses_with_status(&self, status: u16) -> u64 {
        self.runtime().by_status.get(&status).copied().unwrap_or(0)
    }

    /// Counters and rate-limit window, as served by `GET /admin/stats`.
    pub fn stats(&self) -> Value {
        let now = self.now();
        let (tickets, users, retained) = {
            let data = self.data();
            (data.tickets.len(), data.users.len(), data.retained())
        };
        let mut rt = self.runtime();
        let used = rt.rate.used(now);
        let by_status: serde_json::Map<String, Value> = rt
            .by_status
            .iter()
            .map(|(k, v)| (k.to_string(), Value::from(*v)))
            .collect();
        serde_json::json!({
            "requests_total": rt.by_status.values().sum::<u64>(),
            "by_status": by_status,
            "dropped_connections": rt.dropped,
            "faults_injected": rt.faults_injected,
            "rate_limit": {
                "limit_per_minute": self.shared.config.requests_per_minute,
                "window_secs": crate::faults::RATE_WINDOW_SECS,
                "used": used,
                "oldest_counted_at": rt.rate.oldest().map(crate::model::ts),
                "reset_secs": rt.rate_reset_secs(now),
            },
            "retained": retained,
            "tickets": tickets,
            "users": users,
            "now": crate::model::ts(now),
        })
    }
}
