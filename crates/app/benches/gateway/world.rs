//! One measured world: a temp dir, the Zendesk simulator (unlimited rate),
//! the service started in-process with a role and a bus backend, and a
//! reqwest client that signs chat messages with Standard Webhooks.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use intake_app::{Role, Service};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

/// How long one POST may take before the benchmark calls it a failure.
const POST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the service may take to drain when a phase ends.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);

/// Which bus the service runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// Kafka with these bootstrap servers.
    Kafka(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Kafka(_) => "kafka",
        }
    }
}

/// A running service with its simulator; [`World::stop`] ends both.
pub struct World {
    _dir: tempfile::TempDir,
    pub sim: SimHandle,
    service: Service,
    shutdown: CancellationToken,
    pub poster: Poster,
}

/// Signs and posts chat messages to the gateway; cheap to clone.
#[derive(Clone)]
pub struct Poster {
    gateway: SocketAddr,
    chat_key: Arc<[u8]>,
    client: reqwest::Client,
}

impl World {
    /// Starts the simulator and the service with `role` on `backend`;
    /// `label` keeps topic names and consumer groups apart between worlds.
    pub async fn start(backend: &Backend, role: Role, label: &str) -> anyhow::Result<World> {
        let dir = tempfile::Builder::new().prefix("intake-bench-").tempdir()?;
        let sim_config = SimConfig {
            requests_per_minute: None,
            search_lag: Duration::ZERO,
            ..SimConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let sim = Simulator::start(sim_config, listener).await?;

        let chat_key: Vec<u8> = (0u8..32)
            .map(|i| i.wrapping_mul(11).wrapping_add(5))
            .collect();
        let secret_file = dir.path().join("chat-secret");
        std::fs::write(&secret_file, format!("whsec_{}", BASE64.encode(&chat_key)))?;
        let token_file = dir.path().join("zendesk-token");
        std::fs::write(&token_file, "sim-token")?;

        let unique = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
        let prefix = format!("bench{label}{unique}");
        let bus = match backend {
            Backend::Embedded => format!(
                "backend = \"embedded\"\ntopic_prefix = \"{prefix}\"\n[bus.embedded]\npath = {:?}\n",
                dir.path().join("bus.sqlite")
            ),
            Backend::Kafka(brokers) => format!(
                "backend = \"kafka\"\ntopic_prefix = \"{prefix}\"\n[bus.kafka]\nbrokers = {brokers:?}\npartitions = 2\n"
            ),
        };
        let config_text = format!(
            r#"[log]
level = {log_level:?}
[service]
shutdown_deadline_secs = 10
[http]
listen = "127.0.0.1:0"
[ops]
listen = "127.0.0.1:0"
[bus]
{bus}
[store]
sqlite_path = {store:?}
[blob]
dir = {blobs:?}
[zendesk]
base_url = "{sim_url}"
email = "agent@intake-sim.test"
api_token_file = {token_file:?}
requests_per_minute = 100000
[router]
consumer_group = "router-{prefix}"
[channels.chat]
secret_file = {secret_file:?}
"#,
            log_level = std::env::var("INTAKE_BENCH_LOG").unwrap_or_else(|_| "warn".to_owned()),
            store = dir.path().join("state.sqlite"),
            blobs = dir.path().join("blobs"),
            sim_url = sim.base_url,
        );
        let config =
            intake_config::load_from(Some(&config_text), &[], &intake_app::channel_sections())
                .map_err(|errors| {
                    anyhow::anyhow!("the bench configuration is invalid:\n{errors}")
                })?;
        intake_telemetry::init_logging(config.log.format, &config.log.level)?;

        let shutdown = CancellationToken::new();
        let service = Service::start(config, role, shutdown.clone()).await?;
        let gateway = service
            .http_addr()
            .context("the service did not bind its listener")?;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(POST_TIMEOUT)
            .build()?;
        Ok(World {
            _dir: dir,
            sim,
            service,
            shutdown,
            poster: Poster {
                gateway,
                chat_key: chat_key.into(),
                client,
            },
        })
    }

    /// The service's `/metrics` text (from its ops listener).
    pub async fn metrics(&self) -> anyhow::Result<String> {
        let url = format!("http://{}/metrics", self.service.ops_addr());
        Ok(self.poster.client.get(url).send().await?.text().await?)
    }

    /// Stops the service (bounded) and the simulator.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        let drained = tokio::time::timeout(STOP_TIMEOUT, self.service.wait()).await;
        // The simulator's graceful stop waits for open connections; bound it.
        let _ = tokio::time::timeout(STOP_TIMEOUT, self.sim.shutdown()).await;
        match drained {
            Ok(result) => result,
            Err(_) => anyhow::bail!("the service did not stop within {STOP_TIMEOUT:?}"),
        }
    }
}

impl Poster {
    /// Posts one signed chat message from customer `customer`; returns the
    /// HTTP status.
    pub async fn post_chat(&self, message_id: &str, customer: usize) -> anyhow::Result<u16> {
        let body = serde_json::to_vec(&serde_json::json!({
            "conversation_id": format!("conv-{customer}"),
            "author": {"id": format!("visitor-{customer}"), "name": format!("Bench Customer {customer}")},
            "text": format!("Benchmark message {message_id}: my order has not arrived yet."),
        }))?;
        let timestamp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.chat_key)?;
        mac.update(format!("{message_id}.{timestamp}.").as_bytes());
        mac.update(&body);
        let signature = format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()));
        let response = self
            .client
            .post(format!("http://{}/v1/chat/messages", self.gateway))
            .header("content-type", "application/json")
            .header("webhook-id", message_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        // Read the body so the connection goes back to the pool.
        let _ = response.bytes().await;
        Ok(status)
    }
}
