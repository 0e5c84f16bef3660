//! `intake demo`: everything in one process on loopback, with a sample
//! configuration, the embedded bus and an in-process Zendesk simulator.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use intake_zendesk_sim::{SimConfig, Simulator};
use secrecy::ExposeSecret;

use crate::service::{Role, Service};

/// Command-line options of `intake demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Gateway address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Ops listener address: `/metrics`, `/healthz`, `/readyz` (port 0 picks a free port).
    pub ops_listen: SocketAddr,
    /// Simulator address (port 0 picks a free port).
    pub sim_listen: SocketAddr,
    /// Where to keep bus, state and blobs; a new temporary directory if `None`.
    pub data_dir: Option<PathBuf>,
}

pub async fn demo(options: DemoOptions) -> anyhow::Result<ExitCode> {
    let temp_dir;
    let data_dir: PathBuf = match &options.data_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.clone()
        }
        None => {
            temp_dir = tempfile::Builder::new().prefix("intake-demo-").tempdir()?;
            temp_dir.path().to_path_buf()
        }
    };

    let sim_config = SimConfig::default();
    let sim_listener = tokio::net::TcpListener::bind(options.sim_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} for the Zendesk simulator",
                options.sim_listen
            )
        })?;
    let zendesk_token_file = data_dir.join("zendesk-token");
    write_secret(&zendesk_token_file, sim_config.api_token.expose_secret())?;
    let agent_email = sim_config.agent_email.clone();
    let sim = Simulator::start(sim_config, sim_listener).await?;

    let key: [u8; 24] = rand::random();
    let chat_secret = format!("whsec_{}", BASE64.encode(key));
    let chat_secret_file = data_dir.join("chat-secret");
    write_secret(&chat_secret_file, &chat_secret)?;

    let config_text = demo_config(&DemoConfig {
        listen: options.listen,
        ops_listen: options.ops_listen,
        data_dir: &data_dir,
        zendesk_url: &sim.base_url,
        agent_email: &agent_email,
        zendesk_token_file: &zendesk_token_file,
        chat_secret_file: &chat_secret_file,
    })?;
    let config = intake_config::load_from(Some(&config_text), &[], &crate::channel_sections())
        .map_err(|errors| anyhow::anyhow!("the demo configuration is invalid:\n{errors}"))?;
    intake_telemetry::init_logging(config.log.format, &config.log.level)?;

    let shutdown = intake_telemetry::shutdown_signal();
    let service = Service::start(config, Role::All, shutdown.clone()).await?;
    let gateway = service
        .http_addr()
        .context("the demo gateway did not start its listener")?;
    let ops = service.ops_addr();

    println!("{}", banner(gateway, ops, &sim.base_url, &data_dir, &key));
    let outcome = service.wait().await;
    sim.shutdown().await;
    outcome?;
    println!("demo stopped");
    Ok(ExitCode::SUCCESS)
}

struct DemoConfig<'a> {
    listen: SocketAddr,
    ops_listen: SocketAddr,
    data_dir: &'a Path,
    zendesk_url: &'a str,
    agent_email: &'a str,
    zendesk_token_file: &'a Path,
    chat_secret_file: &'a Path,
}

/// The demo's configuration as TOML, so it goes through the same loader and
/// validation as an operator's file.
fn demo_config(demo: &DemoConfig<'_>) -> anyhow::Result<String> {
    let path = |p: &Path| toml::Value::String(p.display().to_string());
    let text = |s: &str| toml::Value::String(s.to_owned());
    let mut root = toml::map::Map::new();
    let mut section = |name: &str, entries: Vec<(&str, toml::Value)>| {
        let table: toml::map::Map<String, toml::Value> = entries
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        root.insert(name.to_owned(), toml::Value::Table(table));
    };
    section("http", vec![("listen", text(&demo.listen.to_string()))]);
    section("ops", vec![("listen", text(&demo.ops_listen.to_string()))]);
    section(
        "bus",
        vec![
            ("backend", text("embedded")),
            (
                "embedded",
                toml::Value::Table(
                    [("path".to_owned(), path(&demo.data_dir.join("bus.sqlite")))]
                        .into_iter()
                        .collect(),
                ),
            ),
        ],
    );
    section(
        "store",
        vec![
            ("backend", text("sqlite")),
            ("sqlite_path", path(&demo.data_dir.join("state.sqlite"))),
        ],
    );
    section("blob", vec![("dir", path(&demo.data_dir.join("blobs")))]);
    section(
        "zendesk",
        vec![
            ("base_url", text(demo.zendesk_url)),
            ("email", text(demo.agent_email)),
            ("api_token_file", path(demo.zendesk_token_file)),
            ("requests_per_minute", toml::Value::Integer(700)),
        ],
    );
    let chat: toml::map::Map<String, toml::Value> = [
        ("secret_file".to_owned(), path(demo.chat_secret_file)),
        ("tags".to_owned(), toml::Value::Array(vec![text("demo")])),
    ]
    .into_iter()
    .collect();
    section("channels", vec![("chat", toml::Value::Table(chat))]);
    Ok(toml::to_string(&toml::Value::Table(root))?)
}

fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    std::fs::write(path, secret).with_context(|| format!("cannot write {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

/// What the demo prints: where things are and a curl that signs at paste time
/// (Standard Webhooks: base64 HMAC-SHA256 of "id.timestamp.body").
fn banner(
    gateway: SocketAddr,
    ops: SocketAddr,
    sim_url: &str,
    data_dir: &Path,
    key: &[u8],
) -> String {
    let hex_key = hex::encode(key);
    format!(
        r#"
intake demo is running (embedded bus, router and a Zendesk simulator, all on loopback)

  gateway:        http://{gateway}
  metrics:        http://{ops}/metrics
  health:         http://{ops}/healthz
  tickets (Zendesk simulator): {sim_url}/
  data directory: {data_dir}

Send a signed chat message (paste into a shell; needs curl and openssl):

body='{{"conversation_id":"demo-1","author":{{"id":"visitor-1","name":"Alice Example","email":"alice@example.com"}},"text":"Hello! My order #1042 has not arrived yet."}}'
id="msg_$(openssl rand -hex 8)"; ts="$(date +%s)"
sig="$(printf '%s' "$id.$ts.$body" | openssl dgst -sha256 -mac HMAC -macopt hexkey:{hex_key} -binary | openssl base64 -A)"
curl -sS -X POST http://{gateway}/v1/chat/messages -H 'content-type: application/json' -H "webhook-id: $id" -H "webhook-timestamp: $ts" -H "webhook-signature: v1,$sig" --data "$body"; echo

Then open {sim_url}/ to see the ticket. Press Ctrl-C to stop.
"#,
        data_dir = data_dir.display(),
    )
}
