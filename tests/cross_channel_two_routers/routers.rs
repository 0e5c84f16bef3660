//! Two router processes of the built binary on one consumer group, with
//! the helpers of `tests/cross_channel_two_routers.rs`: a fresh topic
//! prefix and PostgreSQL schema, the simulator, records put on a chosen
//! partition, and which router handled an event (from their logs).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use intake_bus::{Record, Topics, cloudevent_headers};
use intake_event::{Contact, SCHEMA_ID, TicketEvent};
use intake_store::{PostgresOptions, PostgresStore, StateStore};
use intake_zendesk_sim::SimConfig;
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::{self, Backend, Intake, World, kafka_brokers};

pub const PARTITIONS: u32 = 2;
pub const CHANNELS: [&str; 4] = ["chat", "email", "telegram", "slack"];
pub const IN_FLIGHT: usize = 4;
pub const AUTH: (&str, &str) = ("agent@intake-sim.test/token", "sim-token");
pub const TELEGRAM_SECRET: &str = "123456:telegram-test-token";

/// Environment of both routers: room for the run in the client budget, a
/// claim life longer than the gate is held, and a few events at once (each
/// waiting claim holds one of the eight pooled connections).
pub fn router_env() -> Vec<(&'static str, String)> {
    vec![
        ("INTAKE__ZENDESK__REQUESTS_PER_MINUTE", "6000".into()),
        ("INTAKE__ROUTER__CLAIM_TTL_SECS", "30".into()),
        ("INTAKE__ROUTER__MAX_IN_FLIGHT", IN_FLIGHT.to_string()),
        ("E2E_SLACK_SIGNING", "slack-signing-secret".into()),
        ("E2E_SLACK_BOT", "xoxb-e2e".into()),
        ("E2E_IMAP_PASSWORD", "imap-password".into()),
    ]
}

/// The channels besides chat (appended to the world's router config).
pub fn channels_toml(world: &World) -> String {
    let telegram = world.path("telegram-secret");
    format!(
        r#"
[channels.telegram]
enabled = true
# As high as chat: both routers run their copies at the same rate.
priority = "high"
bot_username = "intake_test_bot"
token_file = {telegram:?}
secret_token_file = {telegram:?}
[channels.slack]
enabled = true
signing_secret_env = "E2E_SLACK_SIGNING"
bot_token_env = "E2E_SLACK_BOT"
api_base_url = "http://127.0.0.1:9"
support_channels = ["C0SUPPORT"]
[channels.email]
enabled = true
[[channels.email.accounts]]
name = "help"
address = "help@intake.test"
[channels.email.accounts.imap]
host = "127.0.0.1"
port = 9
tls = "none"
username = "help@intake.test"
password_env = "E2E_IMAP_PASSWORD"
"#
    )
}

/// Two routers on one group and what the test needs to reach them.
pub struct Routers {
    pub world: World,
    pub store: PostgresStore,
    /// The schema's connection URL (for the gate).
    pub url: String,
    topics: Topics,
    bus: std::sync::Arc<dyn intake_bus::Bus>,
    pub routers: Vec<(Intake, SocketAddr)>,
    /// Holds the schema's URL file.
    _store_dir: tempfile::TempDir,
}

/// A router config beside the world's, with its own listeners.
pub fn router_config(world: &World, name: &str) -> (PathBuf, SocketAddr) {
    let ops: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let http: SocketAddr = format!("127.0.0.1:{}", common::free_port())
        .parse()
        .unwrap();
    let mut text = std::fs::read_to_string(&world.router_config_path)
        .unwrap()
        .replace(&world.router_ops.to_string(), &ops.to_string())
        .replace(&world.router_http.to_string(), &http.to_string());
    text.push_str(&channels_toml(world));
    let path = world.path(&format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, ops)
}

impl Routers {
    /// None without Kafka or PostgreSQL (see `common`).
    pub async fn start() -> Option<Routers> {
        let brokers = kafka_brokers()?;
        let store_dir = tempfile::tempdir().unwrap();
        let store_toml = common::postgres::store_toml(store_dir.path()).await?;
        let url = std::fs::read_to_string(store_dir.path().join("postgres-url")).unwrap();
        let sim = SimConfig {
            requests_per_minute: None,
            search_lag: Duration::ZERO,
            ..SimConfig::default()
        };
        let world =
            World::with_store(Backend::Kafka, Some(&brokers), sim, "", Some(&store_toml)).await;
        std::fs::write(world.path("telegram-secret"), TELEGRAM_SECRET).unwrap();
        let schema = url
            .rsplit_once("search_path%3D")
            .map(|(_, s)| s.to_owned())
            .expect("the schema in the URL");
        let server = common::postgres::server()?;
        let store = PostgresStore::connect(
            &SecretString::from(server),
            PostgresOptions {
                schema: Some(schema),
                ..PostgresOptions::default()
            },
        )
        .await
        .unwrap();
        let env = router_env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut routers = Vec::new();
        for name in ["router-a", "router-b"] {
            let (path, ops) = router_config(&world, name);
            let mut router = Intake::spawn_with_env(&path, "router", &env);
            world.wait_ready_on(ops, &mut router).await;
            routers.push((router, ops));
        }
        let bus = intake_bus::connect(world.bus_options()).await.unwrap();
        let topics = Topics::new(world.topic_prefix.clone());
        Some(Routers {
            world,
            store,
            url,
            topics,
            bus,
            routers,
            _store_dir: store_dir,
        })
    }

    /// Publishes `event` on `partition` of its channel's topic (a key of its
    /// conversation that the partitioner puts there: decision 37's key with
    /// the thread id chosen by the test).
    pub async fn publish(&self, event: &TicketEvent) {
        let headers = cloudevent_headers(
            &event.event_id.to_string(),
            &format!("/intake/{}", event.channel),
            SCHEMA_ID,
            event.received_at,
            None,
        );
        let record = Record {
            topic: self.topics.events(&event.channel),
            key: key_of(event),
            payload: event.to_json(),
            headers,
        };
        self.bus.publisher().publish(record).await.unwrap();
    }

    /// Waits (bounded) until every event has its ticket recorded in the store.
    pub async fn wait_recorded(&self, events: &[&TicketEvent]) {
        let deadline = std::time::Instant::now() + common::CONDITION_TIMEOUT;
        loop {
            let mut missing = Vec::new();
            for event in events {
                if self
                    .store
                    .ticket_for_event(event.event_id)
                    .await
                    .unwrap()
                    .is_none()
                {
                    missing.push(format!("{} {}", event.channel, event.event_id));
                }
            }
            if missing.is_empty() {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "not recorded: {missing:?}\n{}",
                self.problems()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The routers' warnings and errors, and their rebalances (which
    /// partitions each was given or had taken).
    pub fn problems(&self) -> String {
        self.output()
            .lines()
            .filter(|l| {
                l.contains(" WARN ")
                    || l.contains(" ERROR ")
                    || l.starts_with("router")
                    || l.contains("partitions assigned")
                    || l.contains("partition revoked")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub async fn ticket_of(&self, event: &TicketEvent) -> u64 {
        self.store
            .ticket_for_event(event.event_id)
            .await
            .unwrap()
            .expect("recorded")
            .ticket_id
    }

    /// Which router (0 or 1) made the event's ticket or comment, from the
    /// routers' logs; panics unless exactly one did.
    pub fn handled_by(&self, event: &TicketEvent) -> usize {
        let needle = format!("event_id=\"{}\"", event.event_id);
        let by: Vec<usize> = self
            .routers
            .iter()
            .enumerate()
            .filter(|(_, (router, _))| {
                router.output().lines().any(|line| {
                    line.contains(&needle)
                        && (line.contains("ticket created") || line.contains("comment added"))
                })
            })
            .map(|(index, _)| index)
            .collect();
        assert_eq!(
            by.len(),
            1,
            "{} handled by {by:?}\n{}",
            event.event_id,
            self.output()
        );
        by[0]
    }

    /// Probes on both partitions of every channel, round after round,
    /// until each channel's two partitions are answered by two different
    /// routers: the group then holds both, one partition of each topic
    /// each. Returns which router holds each (channel, partition).
    pub async fn wait_balanced(&mut self) -> Assignment {
        // A deadline, not a count of rounds: on a busy machine the group's
        // rebalance after the second router joins can take a while.
        let deadline = std::time::Instant::now() + Duration::from_secs(240);
        let mut rounds = Vec::new();
        for round in 0.. {
            if std::time::Instant::now() > deadline {
                break;
            }
            // A router that stopped never takes its partitions back.
            let stopped: Vec<usize> = (0..self.routers.len())
                .filter(|i| !self.routers[*i].0.running())
                .collect();
            assert!(
                stopped.is_empty(),
                "router(s) {stopped:?} stopped:\n{}",
                self.problems()
            );
            let mut probes = Vec::new();
            for channel in CHANNELS {
                for partition in 0..PARTITIONS {
                    let user = format!("probe-{round}-{partition}");
                    let contact = Contact {
                        key: format!("{channel}:{user}"),
                        channel_user_id: Some(user.clone()),
                        ..Contact::default()
                    };
                    let mut probe = TicketEvent::new(
                        channel,
                        &user,
                        contact,
                        format!("probe {round} {partition}"),
                        Utc::now(),
                    );
                    probe.subject = Some(format!("probe {round} {partition}"));
                    probe.conversation.thread_id =
                        Some(thread_on(channel, &format!("probe-{round}"), partition));
                    probes.push(((channel, partition), probe));
                }
            }
            for (_, probe) in &probes {
                self.publish(probe).await;
            }
            self.wait_recorded(&probes.iter().map(|(_, p)| p).collect::<Vec<_>>())
                .await;
            let held: HashMap<(&str, u32), usize> = probes
                .iter()
                .map(|(at, probe)| (*at, self.handled_by(probe)))
                .collect();
            if CHANNELS.iter().all(|c| held[&(*c, 0)] != held[&(*c, 1)]) {
                return Assignment(held);
            }
            let mut seen: Vec<_> = held.iter().map(|(at, by)| (*at, *by)).collect();
            seen.sort();
            rounds.push(format!("round {round}: {seen:?}"));
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let output = self.output();
        let assignments: Vec<&str> = output
            .lines()
            .filter(|l| l.contains("partitions") || l.starts_with("router"))
            .collect();
        panic!(
            "the two routers never held one partition of every topic each within 240 s\n\
             (channel, partition) -> router per round:\n{}\n\
             the groups as the broker sees them:\n{}\n\
             the routers' rebalances:\n{}\n\
             problems:\n{}",
            rounds.join("\n"),
            self.groups(),
            assignments.join("\n"),
            self.problems()
        );
    }

    /// The consumer groups of this run as the broker describes them: state
    /// and members (for the failure message of [`Self::wait_balanced`]).
    fn groups(&self) -> String {
        use rdkafka::consumer::{BaseConsumer, Consumer};
        let Some(brokers) = kafka_brokers() else {
            return "no Kafka".into();
        };
        let consumer: BaseConsumer = match rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &brokers)
            .create()
        {
            Ok(consumer) => consumer,
            Err(error) => return format!("no client: {error}"),
        };
        let list = match consumer.fetch_group_list(None, Duration::from_secs(10)) {
            Ok(list) => list,
            Err(error) => return format!("no group list: {error}"),
        };
        let prefix = format!("router-{}", self.world.topic_prefix);
        list.groups()
            .iter()
            .filter(|g| g.name().starts_with(&prefix))
            .map(|g| {
                let members: Vec<String> = g
                    .members()
                    .iter()
                    .map(|m| {
                        format!(
                            "{} ({} assignment bytes)",
                            m.client_id(),
                            m.assignment().map_or(0, <[u8]>::len)
                        )
                    })
                    .collect();
                format!(
                    "{} state={} protocol={} members={members:?}",
                    g.name(),
                    g.state(),
                    g.protocol()
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The simulator's identities of `user`, as (type, value).
    pub async fn identities(&self, user: u64) -> Vec<(String, String)> {
        let body: Value = reqwest::Client::new()
            .get(format!(
                "{}/api/v2/users/{user}/identities",
                self.world.sim.base_url
            ))
            .basic_auth(AUTH.0, Some(AUTH.1))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["identities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["type"].as_str().unwrap_or_default().to_owned(),
                    i["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// A Zendesk end user with an e-mail and a phone (as an agent would
    /// have entered them); returns its id.
    pub async fn seed_user(&self, name: &str, email: &str, phone: &str) -> u64 {
        let user: Value = reqwest::Client::new()
            .post(format!(
                "{}/api/v2/users/create_or_update",
                self.world.sim.base_url
            ))
            .basic_auth(AUTH.0, Some(AUTH.1))
            .json(&json!({"user": {"name": name, "email": email, "phone": phone}}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        user["user"]["id"].as_u64().expect("a user id")
    }

    /// Stops both routers (a stop that drains) and drops the schema's data.
    pub async fn finish(mut self) {
        for (router, _) in &mut self.routers {
            assert_eq!(router.terminate(Duration::from_secs(30)).await, Some(0));
        }
        self.store.close().await;
    }

    pub fn output(&self) -> String {
        self.routers
            .iter()
            .enumerate()
            .map(|(i, (router, _))| format!("router {i}:\n{}", router.output()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Which router holds each (channel, partition), as the probes found.
pub struct Assignment(HashMap<(&'static str, u32), usize>);

impl Assignment {
    /// The partition of `channel` that `router` holds.
    pub fn of(&self, channel: &str, router: usize) -> u32 {
        (0..PARTITIONS)
            .find(|p| self.0.get(&(channel, *p)) == Some(&router))
            .expect("every router holds a partition of every channel")
    }
}

/// The bus key of an event (decision 37: the conversation).
pub fn key_of(event: &TicketEvent) -> String {
    format!(
        "thread:{}:{}",
        event.channel,
        event.conversation.thread_id.as_deref().unwrap()
    )
}

/// A thread id starting with `base` whose key librdkafka's default
/// partitioner (`consistent_random`: CRC-32 of the key) puts on `partition`.
pub fn thread_on(channel: &str, base: &str, partition: u32) -> String {
    (0..1000)
        .map(|n| format!("{base}-{n}"))
        .find(|thread| {
            crc32fast::hash(format!("thread:{channel}:{thread}").as_bytes()) % PARTITIONS
                == partition
        })
        .expect("a thread id on the partition")
}

pub fn message(
    channel: &str,
    id: &str,
    contact: Contact,
    text: &str,
    thread: String,
) -> TicketEvent {
    let mut event = TicketEvent::new(channel, id, contact, text, Utc::now());
    event.conversation.thread_id = Some(thread);
    if channel == "email" {
        event.subject = Some(text.to_owned());
    }
    event
}

/// A mail from `email` whose From our receiving server verified (decision 35).
pub fn mail(id: &str, email: &str, text: &str, partition: u32) -> TicketEvent {
    let contact = Contact {
        key: format!("email:{email}"),
        email: Some(email.to_owned()),
        verified: true,
        ..Contact::default()
    };
    message(
        "email",
        id,
        contact,
        text,
        thread_on("email", id, partition),
    )
}

/// A Telegram message of user `user` in its private chat; `phone`: the
/// sender shared their own contact card (decision 38: verified).
pub fn telegram(
    id: &str,
    user: u64,
    phone: Option<&str>,
    text: &str,
    partition: u32,
) -> TicketEvent {
    let contact = Contact {
        key: format!("telegram:{user}"),
        phone: phone.map(str::to_owned),
        channel_user_id: Some(user.to_string()),
        verified: true,
        ..Contact::default()
    };
    message(
        "telegram",
        id,
        contact,
        text,
        thread_on("telegram", &user.to_string(), partition),
    )
}
