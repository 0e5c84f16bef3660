//! The S3 end-to-end harness: a bucket (the shared server of
//! `scripts/test-services` or a SeaweedFS of the test's own), and a gateway
//! and a router process with one config file and one data directory each.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use intake_blob::{BlobStore, S3BlobStore, S3Credentials, S3Options};
use intake_zendesk_sim::{SimConfig, SimHandle};
use secrecy::SecretString;
use serde_json::{Value, json};

use crate::common::{self, Intake, World, free_port, start_sim};

/// An S3 endpoint, bucket and key, for the processes and for the test itself.
#[derive(Clone)]
pub struct Bucket {
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    pub prefix: String,
}

impl Bucket {
    pub fn store(&self) -> S3BlobStore {
        let mut options = S3Options::new(&self.bucket);
        options.endpoint = Some(self.endpoint.clone());
        options.prefix = self.prefix.clone();
        options.path_style = true;
        options.connect_timeout = Duration::from_secs(2);
        options.request_timeout = Duration::from_secs(5);
        options.max_retries = 0;
        options.credentials = S3Credentials::Static {
            access_key_id: SecretString::from(self.key_id.clone()),
            secret_access_key: SecretString::from(self.secret.clone()),
            session_token: None,
        };
        S3BlobStore::new(&options).expect("s3 client")
    }

    /// Waits (bounded) until the bucket can be written.
    pub async fn wait_writable(&self, timeout: Duration) {
        let store = self.store();
        let deadline = Instant::now() + timeout;
        loop {
            match store.check_ready().await {
                Ok(()) => return,
                Err(error) if Instant::now() > deadline => {
                    panic!("s3 not writable after {timeout:?}: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

pub fn required_env(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Some(value),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{name} is not set under CI: run `scripts/test-services start` (scripts/test does)"
        ),
        _ => {
            eprintln!("skipping: {name} is not set (run scripts/test-services start)");
            None
        }
    }
}

/// The shared server of `scripts/test-services`, under a fresh prefix.
pub fn shared_bucket() -> Option<Bucket> {
    Some(Bucket {
        endpoint: required_env("INTAKE_TEST_S3")?,
        bucket: required_env("INTAKE_TEST_S3_BUCKET")?,
        key_id: required_env("INTAKE_TEST_S3_ACCESS_KEY_ID")?,
        secret: required_env("INTAKE_TEST_S3_SECRET_ACCESS_KEY")?,
        prefix: format!("e2e/{}", uuid::Uuid::new_v4().simple()),
    })
}

/// Gateway and router: one config file and one data directory each.
pub struct Pair {
    pub _dir: tempfile::TempDir,
    pub sim: SimHandle,
    pub chat_key: Vec<u8>,
    pub gateway_http: SocketAddr,
    /// The gateway's ops listener (`/readyz`, `/metrics`).
    pub gateway_ops: SocketAddr,
    pub gateway_config: PathBuf,
    pub gateway_dir: PathBuf,
    pub router_config: PathBuf,
    pub router_dir: PathBuf,
}

impl Pair {
    pub async fn new(brokers: &str, bucket: &Bucket) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let sim = start_sim(SimConfig {
            requests_per_minute: None,
            ..SimConfig::default()
        })
        .await;
        let chat_key: Vec<u8> = (0..32).map(|i| (i * 11 + 5) as u8).collect();
        let topic_prefix = format!("s3e2e{}", uuid::Uuid::new_v4().simple());
        let gateway_http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let router_http: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let gateway_ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let router_ops: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut paths = Vec::new();
        for (role, http, ops) in [
            ("gateway", gateway_http, gateway_ops),
            ("router", router_http, router_ops),
        ] {
            // Each process its own directory, as on two machines.
            let own = dir.path().join(role);
            std::fs::create_dir_all(&own).unwrap();
            std::fs::write(
                own.join("chat-secret"),
                format!("whsec_{}", BASE64.encode(&chat_key)),
            )
            .unwrap();
            std::fs::write(own.join("zendesk-token"), "sim-token").unwrap();
            std::fs::write(own.join("s3-key-id"), &bucket.key_id).unwrap();
            std::fs::write(own.join("s3-secret"), &bucket.secret).unwrap();
            let config = format!(
                r#"[log]
level = "info,intake=debug"
[service]
shutdown_deadline_secs = 5
[http]
listen = "{http}"
[ops]
listen = "{ops}"
[bus]
backend = "kafka"
topic_prefix = "{topic_prefix}"
[bus.kafka]
brokers = {brokers:?}
partitions = 2
[bus.kafka.properties]
"session.timeout.ms" = "6000"
[store]
sqlite_path = {store:?}
[blob]
backend = "s3"
dir = {blobs:?}
[blob.s3]
endpoint = {endpoint:?}
bucket = {bucket:?}
prefix = {prefix:?}
path_style = true
access_key_id_file = {key_id:?}
secret_access_key_file = {secret:?}
request_timeout_secs = 5
connect_timeout_secs = 2
max_retries = 1
[zendesk]
base_url = "{sim_url}"
email = "agent@intake-sim.test"
api_token_file = {token:?}
requests_per_minute = 6000
# Not enforced by this simulator: unpaced, so 200 new requesters do not
# wait 1.1 s each (see tests/common/mod.rs).
update_ticket_per_minute = 100000
user_creates_per_minute = 100000
max_attempts = 2
[router]
consumer_group = "router-{topic_prefix}"
retry_initial_backoff_ms = 100
retry_max_backoff_secs = 2
[channels.chat]
secret_file = {chat_secret:?}
"#,
                store = own.join("state.sqlite"),
                blobs = own.join("blobs"),
                endpoint = bucket.endpoint,
                bucket = bucket.bucket,
                prefix = bucket.prefix,
                key_id = own.join("s3-key-id"),
                secret = own.join("s3-secret"),
                sim_url = sim.base_url,
                token = own.join("zendesk-token"),
                chat_secret = own.join("chat-secret"),
            );
            let config_path = own.join("intake.toml");
            std::fs::write(&config_path, config).unwrap();
            paths.push((config_path, own));
        }
        let (router_config, router_dir) = paths.pop().unwrap();
        let (gateway_config, gateway_dir) = paths.pop().unwrap();
        Pair {
            _dir: dir,
            sim,
            chat_key,
            gateway_http,
            gateway_ops,
            gateway_config,
            gateway_dir,
            router_config,
            router_dir,
        }
    }

    pub async fn start(&self) -> (Intake, Intake) {
        let mut gateway = Intake::spawn(&self.gateway_config, "gateway", None);
        let mut router = Intake::spawn(&self.router_config, "router", None);
        wait_ready(self.gateway_ops, &mut gateway).await;
        gateway
            .wait_output("intake started", Duration::from_secs(60))
            .await;
        router
            .wait_output("intake started", Duration::from_secs(60))
            .await;
        (gateway, router)
    }

    /// Posts a signed chat message; `Err` when no answer came in time.
    pub async fn post(&self, id: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
        let bytes = serde_json::to_vec(body).unwrap();
        let timestamp = chrono::Utc::now().timestamp();
        let signature = World::sign_with(&self.chat_key, id, timestamp, &bytes);
        let response = reqwest::Client::new()
            .post(format!("http://{}/v1/chat/messages", self.gateway_http))
            .header("content-type", "application/json")
            .header("webhook-id", id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(bytes)
            .timeout(Duration::from_secs(30))
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    pub async fn tickets(&self) -> Vec<Value> {
        common::sim_tickets(&self.sim).await
    }

    /// Waits (bounded) until the simulator holds at least `count` tickets.
    pub async fn wait_tickets(&self, count: usize, timeout: Duration) -> Vec<Value> {
        common::wait_sim_tickets(&self.sim, count, timeout).await
    }
}

/// Waits (bounded) until the ops listener `addr` answers `/readyz` with 200.
pub async fn wait_ready(addr: SocketAddr, intake: &mut Intake) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while Instant::now() < deadline {
        if let Ok(response) = reqwest::get(format!("http://{addr}/readyz")).await
            && response.status().is_success()
        {
            return;
        }
        assert!(intake.running(), "intake exited:\n{}", intake.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("intake not ready after 90 s:\n{}", intake.output());
}

/// Files below `dir` (recursively); none when it does not exist.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found
}

pub fn chat_message(conversation: &str, text: &str, attachment: Option<&[u8]>) -> Value {
    let mut body = common::chat_body(conversation, &format!("{conversation}-visitor"), None, text);
    if let Some(bytes) = attachment {
        body["attachments"] = json!([{
            "filename": "receipt.pdf",
            "content_type": "application/pdf",
            "data_base64": BASE64.encode(bytes),
        }]);
    }
    body
}

pub fn attachments_of(ticket: &Value) -> Vec<Value> {
    ticket["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["attachments"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// A SeaweedFS of the test's own (`weed mini`), every listener on a free
/// loopback port, its data in a temp dir that survives restarts.
pub struct OwnS3 {
    pub weed: PathBuf,
    pub dir: tempfile::TempDir,
    /// s3, master, volume, filer, admin; each with a gRPC port.
    pub ports: Vec<(u16, u16)>,
    pub bucket: String,
    pub child: Option<Child>,
}

pub const OWN_KEY_ID: &str = "e2e-restart-key";
pub const OWN_SECRET: &str = "e2e-restart-secret";

impl OwnS3 {
    pub fn new(weed: PathBuf) -> OwnS3 {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let identities = json!({"identities": [{
            "name": "e2e",
            "credentials": [{"accessKey": OWN_KEY_ID, "secretKey": OWN_SECRET}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]});
        std::fs::write(dir.path().join("s3.json"), identities.to_string()).unwrap();
        let ports = (0..5).map(|_| (free_port(), free_port())).collect();
        OwnS3 {
            weed,
            dir,
            ports,
            bucket: "intake-e2e".to_owned(),
            child: None,
        }
    }

    pub fn bucket(&self) -> Bucket {
        Bucket {
            endpoint: format!("http://127.0.0.1:{}", self.ports[0].0),
            bucket: self.bucket.clone(),
            key_id: OWN_KEY_ID.to_owned(),
            secret: OWN_SECRET.to_owned(),
            prefix: "blobs".to_owned(),
        }
    }

    pub fn start(&mut self) {
        assert!(self.child.is_none(), "already running");
        let [s3, master, volume, filer, admin] = self.ports[..] else {
            unreachable!()
        };
        let data = self.dir.path().join("data");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("weed.log"))
            .unwrap();
        let child = Command::new(&self.weed)
            .arg("mini")
            .arg(format!("-dir={}", data.display()))
            .args(["-ip=127.0.0.1", "-ip.bind=127.0.0.1"])
            .arg(format!("-s3.port={}", s3.0))
            .arg(format!("-s3.port.grpc={}", s3.1))
            .arg(format!("-master.port={}", master.0))
            .arg(format!("-master.port.grpc={}", master.1))
            .arg(format!("-volume.port={}", volume.0))
            .arg(format!("-volume.port.grpc={}", volume.1))
            .arg(format!("-filer.port={}", filer.0))
            .arg(format!("-filer.port.grpc={}", filer.1))
            .arg(format!("-admin.port={}", admin.0))
            .arg(format!("-admin.port.grpc={}", admin.1))
            .args([
                "-admin.ui=false",
                "-admin.port.legacy=0",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-master.telemetry=false",
                "-master.volumeSizeLimitMB=64",
                "-s3.autoCreateBucket=false",
            ])
            .arg(format!(
                "-s3.config={}",
                self.dir.path().join("s3.json").display()
            ))
            .arg(format!("-bucket={}", self.bucket))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start weed");
        self.child = Some(child);
    }

    /// SIGTERM by pid and wait (bounded) until it exited and its S3 port is free.
    pub async fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.ports[0].0)).is_ok() {
            assert!(Instant::now() < deadline, "s3 port still open after stop");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("weed.log")).unwrap_or_default()
    }
}

impl Drop for OwnS3 {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
