//! Gateway and router as separate processes (the built binary, `--role
//! gateway` and `--role router`) on separate local data directories, sharing
//! only the Kafka bus and an S3-compatible bucket (SeaweedFS, a real server):
//!
//! - a chat message with an attachment becomes a ticket with the attachment,
//!   which neither process kept in its own directory;
//! - the S3 server restarted in the middle of a run of 200 messages loses
//!   nothing: the gateway answers 503 while it cannot store, the sender
//!   retries as real senders do, and every message ends as exactly one ticket.
//!
//! The first test uses the server of `scripts/test-services` (`INTAKE_TEST_S3`
//! and its bucket and key); the second starts a SeaweedFS of its own on other
//! loopback ports (the binary in `INTAKE_TEST_S3_WEED`), so that restarting it
//! disturbs no other test. Without them (or without `INTAKE_TEST_KAFKA`) the
//! tests are skipped, except under CI, where they fail.

mod common;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use common::{Intake, World, free_port, kafka_brokers, start_sim};
use intake_blob::{BlobStore, S3BlobStore, S3Credentials, S3Options, content_ref};
use intake_zendesk_sim::{SimConfig, SimHandle};
use secrecy::SecretString;
use serde_json::{Value, json};

/// An S3 endpoint, bucket and key, for the processes and for the test itself.
#[derive(Clone)]
struct Bucket {
    endpoint: String,
    bucket: String,
    key_id: String,
    secret: String,
    prefix: String,
}

impl Bucket {
    fn store(&self) -> S3BlobStore {
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
    async fn wait_writable(&self, timeout: Duration) {
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

fn required_env(name: &str) -> Option<String> {
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
fn shared_bucket() -> Option<Bucket> {
    Some(Bucket {
        endpoint: required_env("INTAKE_TEST_S3")?,
        bucket: required_env("INTAKE_TEST_S3_BUCKET")?,
        key_id: required_env("INTAKE_TEST_S3_ACCESS_KEY_ID")?,
        secret: required_env("INTAKE_TEST_S3_SECRET_ACCESS_KEY")?,
        prefix: format!("e2e/{}", uuid::Uuid::new_v4().simple()),
    })
}

/// Gateway and router: one config file and one data directory each.
struct Pair {
    _dir: tempfile::TempDir,
    sim: SimHandle,
    chat_key: Vec<u8>,
    gateway_http: SocketAddr,
    gateway_config: PathBuf,
    gateway_dir: PathBuf,
    router_config: PathBuf,
    router_dir: PathBuf,
}

impl Pair {
    async fn new(brokers: &str, bucket: &Bucket) -> Pair {
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
        let mut paths = Vec::new();
        for (role, http) in [("gateway", gateway_http), ("router", router_http)] {
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
            gateway_config,
            gateway_dir,
            router_config,
            router_dir,
        }
    }

    async fn start(&self) -> (Intake, Intake) {
        let mut gateway = Intake::spawn(&self.gateway_config, "gateway", None);
        let mut router = Intake::spawn(&self.router_config, "router", None);
        wait_ready(self.gateway_http, &mut gateway).await;
        gateway
            .wait_output("intake started", Duration::from_secs(60))
            .await;
        router
            .wait_output("intake started", Duration::from_secs(60))
            .await;
        (gateway, router)
    }

    /// Posts a signed chat message; `Err` when no answer came in time.
    async fn post(&self, id: &str, body: &Value) -> Result<(u16, Value), reqwest::Error> {
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

    async fn tickets(&self) -> Vec<Value> {
        let body: Value = reqwest::get(format!("{}/admin/tickets", self.sim.base_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["tickets"].as_array().cloned().unwrap_or_default()
    }

    /// Waits (bounded) until the simulator holds at least `count` tickets.
    async fn wait_tickets(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let tickets = self.tickets().await;
            if tickets.len() >= count || Instant::now() > deadline {
                return tickets;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

async fn wait_ready(addr: SocketAddr, intake: &mut Intake) {
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
fn files_under(dir: &Path) -> Vec<PathBuf> {
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

fn chat_message(conversation: &str, text: &str, attachment: Option<&[u8]>) -> Value {
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

fn attachments_of(ticket: &Value) -> Vec<Value> {
    ticket["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["attachments"].as_array().cloned().unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attachment_crosses_from_gateway_to_router_through_s3() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let Some(bucket) = shared_bucket() else {
        return;
    };
    let pair = Pair::new(&brokers, &bucket).await;
    let (gateway, router) = pair.start().await;

    let file: Vec<u8> = (0..20_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let message = chat_message("conv-s3", "Чек не пришёл\nСм. вложение.", Some(&file));
    let (status, accepted) = pair.post("s3-msg-1", &message).await.expect("answer");
    assert_eq!(status, 202, "{accepted}\n{}", gateway.output());
    let event_id = accepted["event_id"].as_str().expect("event id").to_owned();

    let tickets = pair.wait_tickets(1, Duration::from_secs(90)).await;
    assert_eq!(
        tickets.len(),
        1,
        "{tickets:#?}\ngateway:\n{}\nrouter:\n{}",
        gateway.output(),
        router.output()
    );
    let ticket = &tickets[0];
    assert_eq!(ticket["external_id"].as_str(), Some(event_id.as_str()));
    assert_eq!(ticket["subject"], "Чек не пришёл");
    let attachments = attachments_of(ticket);
    assert_eq!(attachments.len(), 1, "{ticket:#?}");
    assert_eq!(attachments[0]["file_name"], "receipt.pdf");
    assert_eq!(attachments[0]["size"].as_u64(), Some(file.len() as u64));

    // The bytes went through the bucket, not through a shared directory.
    let store = bucket.store();
    assert!(store.exists(&content_ref(&file)).await.unwrap());
    assert_eq!(store.get(&content_ref(&file)).await.unwrap(), file);
    for dir in [&pair.gateway_dir, &pair.router_dir] {
        let local = files_under(&dir.join("blobs"));
        assert!(local.is_empty(), "blobs kept locally: {local:?}");
    }
}

/// A SeaweedFS of the test's own (`weed mini`), every listener on a free
/// loopback port, its data in a temp dir that survives restarts.
struct OwnS3 {
    weed: PathBuf,
    dir: tempfile::TempDir,
    /// s3, master, volume, filer, admin; each with a gRPC port.
    ports: Vec<(u16, u16)>,
    bucket: String,
    child: Option<Child>,
}

const OWN_KEY_ID: &str = "e2e-restart-key";
const OWN_SECRET: &str = "e2e-restart-secret";

impl OwnS3 {
    fn new(weed: PathBuf) -> OwnS3 {
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

    fn bucket(&self) -> Bucket {
        Bucket {
            endpoint: format!("http://127.0.0.1:{}", self.ports[0].0),
            bucket: self.bucket.clone(),
            key_id: OWN_KEY_ID.to_owned(),
            secret: OWN_SECRET.to_owned(),
            prefix: "blobs".to_owned(),
        }
    }

    fn start(&mut self) {
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
    async fn stop(&mut self) {
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

    fn log(&self) -> String {
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

/// Sends one message until the gateway accepts it (bounded in attempts and
/// time), retrying on 503 and on no answer, as a real sender does. Returns
/// the event id and how many 503s it got.
async fn send_until_accepted(pair: &Pair, id: &str, body: &Value) -> (String, u32) {
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut unavailable = 0;
    for _attempt in 0..600 {
        match pair.post(id, body).await {
            Ok((202, accepted)) => {
                let event_id = accepted["event_id"].as_str().expect("event id").to_owned();
                return (event_id, unavailable);
            }
            Ok((503, refused)) => {
                assert_eq!(refused["error"], "blob_unavailable", "{refused}");
                unavailable += 1;
            }
            Ok((status, other)) => panic!("{id}: unexpected {status}: {other}"),
            Err(_) => {} // no answer in time: retry like a sender would
        }
        assert!(Instant::now() < deadline, "{id} not accepted after 180 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{id} not accepted after 600 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_restart_in_a_run_of_200_messages_loses_nothing() {
    const MESSAGES: usize = 200;
    const STOP_AT: usize = 80;
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    let Some(weed) = required_env("INTAKE_TEST_S3_WEED") else {
        return;
    };
    let mut s3 = OwnS3::new(PathBuf::from(weed));
    s3.start();
    let bucket = s3.bucket();
    bucket.wait_writable(Duration::from_secs(120)).await;
    let pair = Pair::new(&brokers, &bucket).await;
    let (gateway, router) = pair.start().await;

    let mut event_ids: Vec<String> = Vec::new();
    let mut attachment_sizes: HashMap<String, u64> = HashMap::new();
    let mut refused_while_down = 0;
    for i in 0..MESSAGES {
        if i == STOP_AT {
            s3.stop().await;
            // Down: the gateway says it is not ready (bounded wait)...
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let ready = reqwest::get(format!("http://{}/readyz", pair.gateway_http))
                    .await
                    .unwrap();
                if ready.status().as_u16() == 503 {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "/readyz still {}",
                    ready.status()
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            // ...and a message is refused with 503 while nothing can be stored.
            let (status, body) = pair
                .post(
                    "probe-while-down",
                    &chat_message("conv-probe", "probe", None),
                )
                .await
                .expect("the gateway answers while s3 is down");
            assert_eq!(
                (status, body["error"].as_str()),
                (503, Some("blob_unavailable"))
            );
            refused_while_down += 1;
            s3.start();
        }
        // Every fourth message has an attachment, unique to it.
        let attachment: Option<Vec<u8>> =
            (i % 4 == 0).then(|| format!("receipt {i} {}", "x".repeat(i * 37)).into_bytes());
        let body = chat_message(
            &format!("conv-{i}"),
            &format!("message {i}\nrun of {MESSAGES}"),
            attachment.as_deref(),
        );
        let (event_id, refused) = send_until_accepted(&pair, &format!("run-{i}"), &body).await;
        refused_while_down += refused;
        if let Some(bytes) = attachment {
            attachment_sizes.insert(event_id.clone(), bytes.len() as u64);
        }
        event_ids.push(event_id);
    }
    assert!(refused_while_down >= 1);
    eprintln!("{MESSAGES} messages accepted, {refused_while_down} answered 503 while s3 was down");

    let tickets = pair.wait_tickets(MESSAGES, Duration::from_secs(240)).await;
    let mut seen = HashSet::new();
    for ticket in &tickets {
        let external = ticket["external_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(seen.insert(external.clone()), "two tickets for {external}");
    }
    let missing: Vec<&String> = event_ids.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(
        missing.is_empty() && tickets.len() == MESSAGES,
        "{} tickets for {MESSAGES} messages, missing {missing:?}\ngateway:\n{}\nrouter:\n{}\ns3:\n{}",
        tickets.len(),
        gateway.output(),
        router.output(),
        s3.log()
    );
    for ticket in &tickets {
        let external = ticket["external_id"].as_str().unwrap();
        let attachments = attachments_of(ticket);
        match attachment_sizes.get(external) {
            Some(size) => {
                assert_eq!(attachments.len(), 1, "{ticket:#?}");
                assert_eq!(attachments[0]["size"].as_u64(), Some(*size));
            }
            None => assert!(attachments.is_empty(), "{ticket:#?}"),
        }
    }
    // A little longer: a duplicate would show up now if it were coming.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pair.tickets().await.len(), MESSAGES);
    drop((gateway, router));
}
