//! The router against the embedded bus, a local blob directory, a SQLite
//! store and the Zendesk simulator on 127.0.0.1:0.

#![allow(dead_code)]

pub mod flaky;
pub mod limited;
pub mod publisher_bus;
pub mod revoking;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Bus, BusOptions, Delivery, EmbeddedOptions, Record, Topics, cloudevent_headers};
use intake_event::{Contact, SCHEMA_ID, TicketEvent, TicketOutcome};
use intake_router::{ChannelRoute, Router, RouterError, RouterOptions};
use intake_store::{SqliteStore, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub bus: Arc<dyn Bus>,
    pub store: Arc<SqliteStore>,
    pub blobs: Arc<LocalDirBlobStore>,
    pub sim: SimHandle,
    pub client: Client,
    pub topics: Topics,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    router: Option<JoinHandle<Result<(), RouterError>>>,
}

pub fn routes() -> Vec<ChannelRoute> {
    vec![
        ChannelRoute {
            name: "chat".to_owned(),
            priority: Some(intake_zendesk::Priority::High),
            group_id: None,
            tags: vec!["web".to_owned()],
        },
        ChannelRoute::new("email"),
    ]
}

impl Harness {
    /// The embedded bus in a temporary directory.
    pub async fn new() -> Harness {
        Self::with_sim(SimConfig {
            requests_per_minute: None,
            ..SimConfig::default()
        })
        .await
    }

    /// [`Harness::new`] against a simulator configured as `config`.
    pub async fn with_sim(config: SimConfig) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let bus = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(
            dir.path().join("bus.db"),
        )))
        .await
        .unwrap();
        Self::on_sim(dir, bus, Topics::new("intake"), config).await
    }

    /// A simulator enforcing Zendesk's user-creation limits (one a second,
    /// five a minute per user; no account limit), and the client pacing
    /// user creation at 60 a minute under them.
    pub async fn with_user_create_limits() -> Harness {
        let h = Self::with_sim(SimConfig {
            requests_per_minute: None,
            user_create_limits: Some(intake_zendesk_sim::UserCreateLimits::default()),
            ..SimConfig::default()
        })
        .await;
        h.client
            .set_endpoint_limits(intake_zendesk::EndpointLimitOptions {
                update_ticket_per_minute: None,
                user_creates_per_minute: Some(60),
            });
        h
    }

    /// The real Kafka broker of `scripts/test-services` (`INTAKE_TEST_KAFKA`)
    /// with extra client `properties`, on topics of a fresh random prefix;
    /// None when no broker is configured.
    pub async fn kafka(properties: &[(&str, &str)]) -> Option<Harness> {
        let brokers = std::env::var("INTAKE_TEST_KAFKA")
            .ok()
            .filter(|b| !b.is_empty())?;
        let mut options = intake_bus::KafkaOptions::new(brokers);
        options.partitions = 1;
        options
            .properties
            .insert("session.timeout.ms".into(), "6000".into());
        for (name, value) in properties {
            options.properties.insert((*name).into(), (*value).into());
        }
        let bus = intake_bus::connect(BusOptions::Kafka(options))
            .await
            .unwrap();
        let topics = Topics::new(format!("rt{}", uuid::Uuid::new_v4().simple()));
        let mut all: Vec<String> = routes().iter().map(|r| topics.events(&r.name)).collect();
        all.push(topics.dlq());
        bus.ensure_topics(&all).await.unwrap();
        Some(Self::on(tempfile::tempdir().unwrap(), bus, topics).await)
    }

    async fn on(dir: tempfile::TempDir, bus: Arc<dyn Bus>, topics: Topics) -> Harness {
        let config = SimConfig {
            requests_per_minute: None,
            ..SimConfig::default()
        };
        Self::on_sim(dir, bus, topics, config).await
    }

    async fn on_sim(
        dir: tempfile::TempDir,
        bus: Arc<dyn Bus>,
        topics: Topics,
        config: SimConfig,
    ) -> Harness {
        let store = Arc::new(
            SqliteStore::open(dir.path().join("state.db"))
                .await
                .unwrap(),
        );
        let blobs = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
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
        Harness {
            dir,
            bus,
            store,
            blobs,
            sim,
            client,
            topics,
            http: reqwest::Client::new(),
            shutdown: CancellationToken::new(),
            router: None,
        }
    }

    pub fn options(&self, channels: Vec<ChannelRoute>) -> RouterOptions {
        let mut options = RouterOptions::new(self.topics.clone(), channels);
        options.retry_initial_backoff = Duration::from_millis(20);
        options.retry_max_backoff = Duration::from_millis(200);
        options.idle_poll = Duration::from_millis(20);
        options
    }

    /// Options with one event in flight: for tests whose one-time fault must
    /// hit the event published first (several lanes at once would race for it).
    pub fn serial_options(&self, channels: Vec<ChannelRoute>) -> RouterOptions {
        let mut options = self.options(channels);
        options.max_in_flight = 1;
        options
    }

    pub fn start_router(&mut self, options: RouterOptions) {
        let store: Arc<dyn StateStore> = self.store.clone();
        let blobs: Arc<dyn BlobStore> = self.blobs.clone();
        let router =
            Router::new(self.bus.clone(), store, blobs, self.client.clone(), options).unwrap();
        self.router = Some(tokio::spawn(router.run(self.shutdown.clone())));
    }

    pub async fn stop_router(&mut self) {
        self.stop_router_with().await.unwrap();
    }

    /// Stops the router and returns how its run ended.
    pub async fn stop_router_with(&mut self) -> Result<(), RouterError> {
        self.shutdown.cancel();
        let mut outcome = Ok(());
        if let Some(router) = self.router.take() {
            let result = tokio::time::timeout(Duration::from_secs(30), router).await;
            outcome = result.expect("router stops in time").unwrap();
        }
        self.shutdown = CancellationToken::new();
        outcome
    }

    /// Whether the router task has ended (it returned, e.g. with an error).
    pub fn router_finished(&self) -> bool {
        self.router.as_ref().is_some_and(JoinHandle::is_finished)
    }

    pub async fn publish(&self, event: &TicketEvent) {
        let headers = cloudevent_headers(
            &event.event_id.to_string(),
            &format!("/intake/{}", event.channel),
            SCHEMA_ID,
            event.received_at,
            None,
        );
        self.publish_raw(&event.channel, &event.contact.key, event.to_json(), headers)
            .await;
    }

    pub async fn publish_raw(
        &self,
        channel: &str,
        key: &str,
        payload: Vec<u8>,
        headers: Vec<(String, String)>,
    ) {
        let record = Record {
            topic: self.topics.events(channel),
            key: key.to_owned(),
            payload,
            headers,
        };
        self.bus.publisher().publish(record).await.unwrap();
    }

    pub fn tickets(&self) -> Vec<Value> {
        self.sim.state().tickets()
    }

    /// Waits (bounded) until `count` tickets exist, then returns them.
    pub async fn wait_for_tickets(&self, count: usize) -> Vec<Value> {
        self.wait_until(|h| h.tickets().len() >= count).await;
        self.tickets()
    }

    pub async fn wait_until(&self, condition: impl Fn(&Harness) -> bool) {
        for _ in 0..900 {
            if condition(self) {
                return;
            }
            assert!(!self.router_finished(), "the router stopped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "condition not met within 45 s; tickets: {:#?}",
            self.tickets()
        );
    }

    /// The state store's record of `event_id`, once the router has written it
    /// (it is written after Zendesk answered, so a ticket can be seen first).
    pub async fn wait_for_link(&self, event_id: uuid::Uuid) -> intake_store::TicketLink {
        for _ in 0..900 {
            if let Some(link) = self.store.ticket_for_event(event_id).await.unwrap() {
                return link;
            }
            assert!(!self.router_finished(), "the router stopped");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("event {event_id} not recorded in the state store within 45 s");
    }

    pub async fn add_fault(&self, fault: Value) {
        let response = self
            .http
            .post(format!("{}/admin/faults", self.sim.base_url))
            .json(&fault)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "fault rejected: {}",
            response.text().await.unwrap()
        );
    }

    pub async fn requests(&self) -> Vec<Value> {
        let body: Value = self
            .http
            .get(format!("{}/admin/requests", self.sim.base_url))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["requests"].as_array().cloned().unwrap_or_default()
    }

    /// Every record on the DLQ so far (read by a fresh consumer group).
    pub async fn dead_letters(&self, group: &str) -> Vec<Delivery> {
        let mut consumer = self
            .bus
            .consumer(group, &[self.topics.dlq()])
            .await
            .unwrap();
        let mut out = Vec::new();
        while let Some(delivery) = consumer.poll(Duration::from_millis(200)).await.unwrap() {
            out.push(delivery);
            assert!(out.len() < 100, "too many dead letters");
        }
        out
    }

    /// Waits (bounded) until the DLQ holds `count` letters, then returns them
    /// (read by a fresh consumer group each round).
    pub async fn wait_for_dead_letters(&self, count: usize) -> Vec<Delivery> {
        for round in 0..30 {
            let letters = self.dead_letters(&format!("wait-dlq-{round}")).await;
            if letters.len() >= count {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("fewer than {count} dead letters after about 45 s");
    }

    /// Every record on the outcomes topic so far (read by a fresh consumer group).
    pub async fn outcomes(&self, group: &str) -> Vec<Delivery> {
        let mut consumer = self
            .bus
            .consumer(group, &[self.topics.outcomes()])
            .await
            .unwrap();
        let mut out = Vec::new();
        loop {
            match consumer.poll(Duration::from_millis(200)).await {
                Ok(Some(delivery)) => {
                    out.push(delivery);
                    assert!(out.len() < 100, "too many outcomes");
                }
                Ok(None) => break,
                // On Kafka the topic is created by the router's first outcome:
                // before that there is nothing to read yet.
                Err(error) if error.to_string().contains("UnknownTopicOrPartition") => break,
                Err(error) => panic!("reading outcomes: {error}"),
            }
        }
        out
    }

    /// Waits (bounded) until the outcomes topic holds `count` records, then
    /// returns them decoded with their records (a fresh group each round).
    pub async fn wait_for_outcomes(&self, count: usize) -> Vec<(Delivery, TicketOutcome)> {
        for round in 0..60 {
            let records = self.outcomes(&format!("wait-outcomes-{round}")).await;
            if records.len() >= count {
                return records
                    .into_iter()
                    .map(|record| {
                        let outcome = TicketOutcome::from_json(&record.payload).unwrap();
                        (record, outcome)
                    })
                    .collect();
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("fewer than {count} outcomes after about 45 s");
    }

    /// Publishes a dead letter again without its error headers, as
    /// `intake dlq replay` does.
    pub async fn replay(&self, letter: &Delivery) {
        let topic = letter.header("intake_source_topic").unwrap().to_owned();
        let headers = letter
            .headers
            .iter()
            .filter(|(name, _)| !intake_router::is_error_header(name))
            .cloned()
            .collect();
        let record = Record {
            topic,
            key: letter.key.clone(),
            payload: letter.payload.clone(),
            headers,
        };
        self.bus.publisher().publish(record).await.unwrap();
    }

    /// The user JSON of `id` as the simulator holds it.
    pub fn user(&self, id: &Value) -> Value {
        self.sim
            .state()
            .users()
            .into_iter()
            .find(|u| u["id"] == *id)
            .unwrap_or_else(|| panic!("no user {id}"))
    }
}

pub fn chat_event(message_id: &str, visitor: &str, text: &str) -> TicketEvent {
    let contact = Contact {
        key: format!("chat:{visitor}"),
        name: Some(format!("Visitor {visitor}")),
        ..Contact::default()
    };
    TicketEvent::new("chat", message_id, contact, text, Utc::now())
}

/// A mail from a verified sender address.
pub fn email_event(message_id: &str, address: &str, text: &str) -> TicketEvent {
    let contact = Contact {
        key: format!("email:{address}"),
        name: Some("Mail Customer".to_owned()),
        email: Some(address.to_owned()),
        verified: true,
        ..Contact::default()
    };
    TicketEvent::new("email", message_id, contact, text, Utc::now())
}

pub fn has_tag(ticket: &Value, tag: &str) -> bool {
    ticket["tags"]
        .as_array()
        .is_some_and(|tags| tags.iter().any(|t| t == tag))
}

pub fn fault(status: u16, count: u32, path_prefix: &str) -> Value {
    json!({"status": status, "count": count, "path_prefix": path_prefix})
}
