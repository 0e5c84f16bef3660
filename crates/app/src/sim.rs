//! `intake zendesk-sim`: the local Zendesk simulator on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use intake_zendesk_sim::{SimConfig, Simulator};
use secrecy::ExposeSecret;

/// Command-line options of `intake zendesk-sim`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    pub requests_per_minute: Option<u32>,
    pub search_lag_secs: u64,
    pub state_file: Option<PathBuf>,
}

pub async fn zendesk_sim(options: SimOptions) -> anyhow::Result<ExitCode> {
    intake_telemetry::init_logging(intake_telemetry::LogFormat::Human, "info")?;
    let config = SimConfig {
        requests_per_minute: options.requests_per_minute,
        search_lag: Duration::from_secs(options.search_lag_secs),
        state_file: options.state_file,
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let credentials = format!(
        "{}/token:{}",
        config.agent_email,
        config.api_token.expose_secret()
    );
    let handle = Simulator::start(config, listener).await?;
    println!("Zendesk simulator listening on {}", handle.base_url);
    println!("  API base URL: {}/api/v2", handle.base_url);
    println!("  credentials:  {credentials}  (HTTP Basic)");
    println!("  tickets page: {}/", handle.base_url);
    println!(
        "  admin API:    {}/admin/tickets (see docs/zendesk-simulator.md)",
        handle.base_url
    );
    println!("press Ctrl-C to stop");
    intake_telemetry::shutdown_signal().cancelled().await;
    handle.shutdown().await;
    Ok(ExitCode::SUCCESS)
}
