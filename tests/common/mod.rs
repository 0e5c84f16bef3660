//! Harness for the end-to-end tests: the built `intake` binary as a child
//! process, the Zendesk simulator in the test process (it stands for Zendesk,
//! which is outside intake), and the real Kafka broker started by
//! `scripts/test-services` (address in `INTAKE_TEST_KAFKA`).
#![allow(dead_code)]

mod intake;
pub mod postgres;

pub use intake::{Intake, strip_ansi};

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use serde_json::Value;
use sha2::Sha256;

/// Which bus the binary runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Kafka,
}

/// The Kafka broker of `scripts/test-services`. Fails (does not skip) under CI
/// when it is missing; elsewhere returns `None` so a developer can run the
/// embedded half alone.
pub fn kafka_brokers() -> Option<String> {
    match std::env::var("INTAKE_TEST_KAFKA") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "INTAKE_TEST_KAFKA is not set under CI: run `scripts/test-services start` (scripts/test does)"
            )
        }
        _ => {
            eprintln!(
                "skipping the Kafka half: INTAKE_TEST_KAFKA is not set (run scripts/test-services start)"
            );
            None
        }
    }
}

/// A free loopback port (bound then released; the binary binds it right after).
/// A loopback port that nothing listens on now and that no other call in
/// this test process has handed out (two listeners of one process must never
/// be given the same port, which the kernel may do for back-to-back binds).
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
    panic!("no unused loopback port after 1000 tries");
}

/// Every ticket in the simulator `sim`, with comments (its admin API).
pub async fn sim_tickets(sim: &SimHandle) -> Vec<Value> {
    let body: Value = reqwest::get(format!("{}/admin/tickets", sim.base_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["tickets"].as_array().cloned().unwrap_or_default()
}

/// Waits (bounded by `timeout`) until `sim` holds at least `count` tickets;
/// returns what it holds then.
pub async fn wait_sim_tickets(sim: &SimHandle, count: usize, timeout: Duration) -> Vec<Value> {
    let deadline = Instant::now() + timeout;
    loop {
        let tickets = sim_tickets(sim).await;
        if tickets.len() >= count || Instant::now() > deadline {
            return tickets;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The simulator, started in the test process on a free port.
pub async fn start_sim(config: SimConfig) -> SimHandle {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    Simulator::start(config, listener).await.unwrap()
}

/// One test's world: a temp dir with config and secrets, the simulator, and
/// the gateway address the binary will listen on.
pub struct World {
    pub dir: tempfile::TempDir,
    pub backend: Backend,
    pub sim: SimHandle,
    /// The data listener (channel webhooks) of the gateway/all process.
    pub http: SocketAddr,
    /// Its ops listener (`/metrics`, `/healthz`, `/readyz`).
    pub ops: SocketAddr,
    pub chat_key: Vec<u8>,
    pub topic_prefix: String,
    pub config_path: PathBuf,
    /// The ops listener of a separate `--role router` process (its own
    /// config file, `router_config_path`, differs only in the listeners;
    /// a router opens no data listener).
    pub router_ops: SocketAddr,
    /// The `http.listen` of the router's config, which a router never opens.
    pub router_http: SocketAddr,
    pub router_config_path: PathBuf,
    /// The Kafka brokers, for the Kafka backend.
    pub brokers: Option<String>,
}

impl World {
    pub async fn new(backend: Backend, brokers: Option<&str>) -> World {
        Self::with_sim(backend, brokers, SimConfig::default(), "").await
    }

    /// `extra_toml` is appended to the generated configuration.
    pub async fn with_sim(
        backend: Backend,
        brokers: Option<&str>,
        sim_config: SimConfig,
        extra_toml: &str,
    ) -> World {
        Self::with_store(backend, brokers, sim_config, extra_toml, None).await
    }

    /// [`World::with_sim`] with `store_toml` as the body of `[store]` (the
    /// default: a SQLite file in the test's directory; see
    /// [`postgres::store_toml`]).
    pub async fn with_store(
        backend: Backend,
        brokers: Option<&str>,
        sim_config: SimConfig,
        extra_toml: &str,
        store_toml: Option<&str>,
    ) -> World {
        let dir = tempfile::tempdir().unwrap();
        let sim = start_sim(sim_config).await;
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let chat_key: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(
            dir.path().join("chat-secret"),
            format!("whsec_{}", BASE64.encode(&chat_key)),
        )
        .unwrap();
        std::fs::write(dir.path().join("zendesk-token"), "sim-token").unwrap();
        let topic_prefix = format!("e2e{}", uuid::Uuid::new_v4().simple());
        let bus = match backend {
            Backend::Embedded => format!(
                "backend = \"embedded\"\ntopic_prefix = \"{topic_prefix}\"\n[bus.embedded]\npath = {:?}\n",
                dir.path().join("bus.sqlite")
            ),
            Backend::Kafka => format!(
                "backend = \"kafka\"\ntopic_prefix = \"{topic_prefix}\"\n[bus.kafka]\nbrokers = {:?}\npartitions = 2\n[bus.kafka.properties]\n\"session.timeout.ms\" = \"6000\"\n",
                brokers.expect("kafka brokers")
            ),
        };
        let config_for = |http: SocketAddr, ops: SocketAddr| {
            format!(
                r#"[log]
level = "info,intake=debug"
[service]
shutdown_deadline_secs = 5
[http]
listen = "{http}"
[ops]
listen = "{ops}"
[bus]
{bus}
[store]
{store}
[blob]
dir = {blobs:?}
[zendesk]
base_url = "{sim_url}"
email = "agent@intake-sim.test"
api_token_file = {token:?}
requests_per_minute = 700
# The simulator here does not enforce Zendesk's endpoint limits (SimConfig's
# default), so the client need not pace them: at their real values, every
# new requester would wait 1.1 s for its user creation and a run of a few
# hundred events would take minutes. Their pacing is tested on its own
# (crates/zendesk/tests/endpoint_limits.rs, crates/router/tests/endpoint_*).
update_ticket_per_minute = 100000
user_creates_per_minute = 100000
max_attempts = 2
[router]
consumer_group = "router-{topic_prefix}"
retry_initial_backoff_ms = 100
retry_max_backoff_secs = 2
# A router SIGKILLed by a test holds its conversations' claims this long.
claim_ttl_secs = 3
[channels.chat]
secret_file = {secret:?}
priority = "high"
tags = ["web"]
{extra_toml}
"#,
                store = store_toml.map_or_else(
                    || format!("sqlite_path = {:?}", dir.path().join("state.sqlite")),
                    str::to_owned
                ),
                blobs = dir.path().join("blobs"),
                sim_url = sim.base_url,
                token = dir.path().join("zendesk-token"),
                secret = dir.path().join("chat-secret"),
            )
        };
        let config_path = dir.path().join("intake.toml");
        std::fs::write(&config_path, config_for(http, ops)).unwrap();
        let router_http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let router_ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let router_config_path = dir.path().join("intake-router.toml");
        std::fs::write(&router_config_path, config_for(router_http, router_ops)).unwrap();
        World {
            dir,
            backend,
            sim,
            http,
            ops,
            chat_key,
            topic_prefix,
            config_path,
            router_ops,
            router_http,
            router_config_path,
            brokers: brokers.map(str::to_owned),
        }
    }

    /// Starts `intake run --role <role>`; `crashpoint` arms a test crash point.
    /// `--role router` gets its own config file (own listeners) so that a
    /// gateway and a router can run side by side.
    pub fn spawn(&self, role: &str, crashpoint: Option<&str>) -> Intake {
        let config = if role == "router" {
            &self.router_config_path
        } else {
            &self.config_path
        };
        Intake::spawn(config, role, crashpoint)
    }

    /// [`World::spawn`] with extra environment variables (`INTAKE_TEST_NOW`, ...).
    pub fn spawn_env(&self, role: &str, crashpoint: Option<&str>, env: &[(&str, &str)]) -> Intake {
        let config = if role == "router" {
            &self.router_config_path
        } else {
            &self.config_path
        };
        let config = config.display().to_string();
        Intake::spawn_command(
            &["run", "--config", &config, "--role", role],
            crashpoint,
            env,
        )
    }

    /// A URL on the data listener (channel webhooks).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    /// A URL on the ops listener (`/metrics`, `/healthz`, `/readyz`).
    pub fn ops_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.ops)
    }

    /// Standard Webhooks signature of `id.timestamp.body` with the chat key.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        Self::sign_with(&self.chat_key, id, timestamp, body)
    }

    /// Standard Webhooks signature with any key (a wrong one, for tests of refusals).
    pub fn sign_with(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
    }

    /// Posts a signed chat message; returns status and JSON body.
    pub async fn post_chat(&self, id: &str, body: &Value) -> (u16, Value) {
        let bytes = serde_json::to_vec(body).unwrap();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = self.sign(id, timestamp, &bytes);
        self.post_raw(id, timestamp, &signature, "application/json", bytes)
            .await
    }

    pub async fn post_raw(
        &self,
        id: &str,
        timestamp: i64,
        signature: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let response = reqwest::Client::new()
            .post(self.url("/v1/chat/messages"))
            .header("content-type", content_type)
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .expect("gateway answers");
        let status = response.status().as_u16();
        let json = response.json::<Value>().await.unwrap_or(Value::Null);
        (status, json)
    }

    /// Every ticket in the simulator, with comments.
    pub async fn tickets(&self) -> Vec<Value> {
        sim_tickets(&self.sim).await
    }

    /// Waits (bounded) until the simulator holds `count` tickets and returns them.
    pub async fn wait_tickets(&self, count: usize, timeout: Duration) -> Vec<Value> {
        wait_sim_tickets(&self.sim, count, timeout).await
    }

    pub async fn sim_admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request =
            reqwest::Client::new().request(method, format!("{}{path}", self.sim.base_url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "sim admin {path}: {}",
            response.status()
        );
        response.json().await.unwrap_or(Value::Null)
    }

    /// Waits (bounded) until the gateway's ops listener answers `/readyz` with 200.
    pub async fn wait_ready(&self, intake: &mut Intake) {
        self.wait_ready_on(self.ops, intake).await;
    }

    /// Waits (bounded) until the ops listener `addr` answers `/readyz` with 200.
    pub async fn wait_ready_on(&self, addr: SocketAddr, intake: &mut Intake) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = reqwest::get(format!("http://{addr}/readyz")).await
                && response.status().is_success()
            {
                return;
            }
            assert!(intake.running(), "intake exited:\n{}", intake.output());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("intake not ready after 60 s:\n{}", intake.output());
    }

    /// The gateway's `/metrics` text (from its ops listener).
    pub async fn metrics(&self) -> String {
        reqwest::get(self.ops_url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Another router process on this world's router config with ops and
    /// HTTP listeners of its own: the config, `edit`ed, is written to `file`
    /// in the world's directory and the router started on it with `env`.
    /// Returns the process and its ops address.
    pub fn spawn_another_router(
        &self,
        file: &str,
        env: &[(&str, &str)],
        edit: impl FnOnce(String) -> String,
    ) -> (Intake, SocketAddr) {
        let ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let config = std::fs::read_to_string(&self.router_config_path)
            .unwrap()
            .replace(&self.router_ops.to_string(), &ops.to_string())
            .replace(&self.router_http.to_string(), &http.to_string());
        let path = self.path(file);
        std::fs::write(&path, edit(config)).unwrap();
        (Intake::spawn_with_env(&path, "router", env), ops)
    }
}

/// A chat body from one visitor.
pub fn chat_body(conversation: &str, author_id: &str, email: Option<&str>, text: &str) -> Value {
    let mut author = serde_json::json!({"id": author_id, "name": "Ольга Тестова"});
    if let Some(email) = email {
        author["email"] = Value::String(email.to_owned());
    }
    serde_json::json!({"conversation_id": conversation, "author": author, "text": text})
}

/// What a finished `intake` command printed.
#[derive(Debug)]
pub struct CliOutput {
    /// Exit code; `None` when it was killed after the timeout (or by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the `intake` binary with `args` and waits (bounded) for it to finish.
pub async fn run_intake(args: &[&str], timeout: Duration) -> CliOutput {
    let mut child = Command::new(env!("CARGO_BIN_EXE_intake"))
        .args(args)
        .env_remove("INTAKE_CRASHPOINT")
        .env_remove("INTAKE_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start intake");
    let mut readers = Vec::new();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        readers.push(std::thread::spawn(move || {
            let mut text = String::new();
            let mut stream = stream;
            let _ = std::io::Read::read_to_string(&mut stream, &mut text);
            text
        }));
    }
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status.code(),
            Ok(None) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let stderr = strip_ansi(&readers.pop().unwrap().join().unwrap_or_default());
    let stdout = strip_ansi(&readers.pop().unwrap().join().unwrap_or_default());
    CliOutput {
        code,
        stdout,
        stderr,
    }
}

impl World {
    /// The chat events topic of this world.
    pub fn chat_topic(&self) -> String {
        format!("{}.events.chat", self.topic_prefix)
    }

    /// Options to open the same bus as the binary (same SQLite file or brokers).
    pub fn bus_options(&self) -> intake_bus::BusOptions {
        // Through serde, so options the bus grows later keep their defaults.
        let options = match self.backend {
            Backend::Embedded => {
                serde_json::json!({"backend": "embedded", "path": self.path("bus.sqlite")})
            }
            Backend::Kafka => serde_json::json!({
                "backend": "kafka",
                "brokers": self.brokers.clone().expect("kafka brokers"),
                "properties": {"session.timeout.ms": "6000"},
            }),
        };
        serde_json::from_value(options).expect("bus options")
    }

    /// Reads `topic` from its beginning with a fresh consumer group, without
    /// marking anything done: every record, until `quiet` passes without a new
    /// one after at least `min` records (or `overall` passes).
    pub async fn read_topic(
        &self,
        topic: &str,
        min: usize,
        quiet: Duration,
        overall: Duration,
    ) -> Vec<intake_bus::Delivery> {
        let bus = intake_bus::connect(self.bus_options())
            .await
            .expect("test opens the bus");
        let group = format!("e2e-reader-{}", uuid::Uuid::new_v4().simple());
        let mut consumer = bus
            .consumer(&group, &[topic.to_owned()])
            .await
            .expect("test consumer");
        let deadline = Instant::now() + overall;
        let mut records = Vec::new();
        let mut last = Instant::now();
        while Instant::now() < deadline {
            match consumer
                .poll(Duration::from_millis(500))
                .await
                .expect("poll")
            {
                Some(delivery) => {
                    records.push(delivery);
                    last = Instant::now();
                }
                None if records.len() >= min && last.elapsed() >= quiet => break,
                None => {}
            }
        }
        records
    }

    /// Posts a signed chat message; `Err` when the gateway does not answer
    /// within `timeout` (or the connection breaks).
    pub async fn try_post_chat(
        &self,
        id: &str,
        body: &Value,
        timeout: Duration,
    ) -> Result<(u16, Value), reqwest::Error> {
        let bytes = serde_json::to_vec(body).unwrap();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = self.sign(id, timestamp, &bytes);
        let response = reqwest::Client::new()
            .post(self.url("/v1/chat/messages"))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .timeout(timeout)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        ))
    }

    /// Every user in the simulator.
    pub async fn sim_users(&self) -> Vec<Value> {
        let body = self
            .sim_admin(reqwest::Method::GET, "/admin/users", None)
            .await;
        body["users"].as_array().cloned().unwrap_or_default()
    }

    /// Adds a simulator fault rule (`POST /admin/faults`).
    pub async fn add_fault(&self, rule: Value) {
        let response = reqwest::Client::new()
            .post(format!("{}/admin/faults", self.sim.base_url))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status().as_u16(),
            201,
            "fault {rule} refused: {}",
            response.text().await.unwrap_or_default()
        );
    }

    /// Runs an `intake` subcommand with `--config` pointing at this world's file.
    pub async fn cli(&self, args: &[&str], timeout: Duration) -> CliOutput {
        let config = self.config_path.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", &config]);
        run_intake(&all, timeout).await
    }
}

/// Sum of the Prometheus samples named `name` whose labels include `labels`.
/// `None` when no such sample is exposed.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut total = None;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = match line.rsplit_once(' ') {
            Some(parts) => parts,
            None => continue,
        };
        let (metric, label_text) = match series.split_once('{') {
            Some((metric, rest)) => (metric, rest.trim_end_matches('}')),
            None => (series, ""),
        };
        if metric != name {
            continue;
        }
        let matches = labels.iter().all(|(key, wanted)| {
            label_text
                .split(',')
                .any(|pair| pair == format!("{key}=\"{wanted}\""))
        });
        if matches && let Ok(value) = value.parse::<f64>() {
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// The ticket whose subject contains `needle`.
pub fn ticket_by_subject<'a>(tickets: &'a [Value], needle: &str) -> Option<&'a Value> {
    tickets
        .iter()
        .find(|t| t["subject"].as_str().is_some_and(|s| s.contains(needle)))
}

/// How long [`wait_for`] waits for a condition of an end-to-end test.
pub const CONDITION_TIMEOUT: Duration = Duration::from_secs(90);

/// Waits until `condition` holds (checked every 200 ms), failing the test
/// with `what` after [`CONDITION_TIMEOUT`].
pub async fn wait_for(what: &str, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + CONDITION_TIMEOUT;
    while !condition().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every callback the site's chat backend received: headers and body.
pub type Callbacks = Arc<Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

/// The site's chat backend on `listener`: records every callback posted to
/// `/intake/replies` into `seen` and answers 204.
pub async fn start_callback_endpoint(listener: tokio::net::TcpListener, seen: Callbacks) {
    let app = axum::Router::new().route(
        "/intake/replies",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = Arc::clone(&seen);
                async move {
                    seen.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
}

/// Lower-case hex HMAC-SHA256 of the concatenated `parts` (Meta's
/// `X-Hub-Signature-256`, Slack's `v0=` signature).
pub fn hmac_hex(key: &str, parts: &[&[u8]]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
