//! `intake zendesk-sim`: the local Zendesk simulator on its own.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use intake_zendesk_sim::{DEFAULT_REQUESTS_PER_MINUTE, RATE_WINDOW_SECS, SimConfig, Simulator};
use secrecy::ExposeSecret;

/// Command-line options of `intake zendesk-sim`.
#[derive(Debug, Clone)]
pub struct SimOptions {
    pub listen: SocketAddr,
    /// Account requests per sliding 60-second window; 0 means unlimited.
    pub requests_per_minute: u32,
    pub search_lag_secs: u64,
    pub state_file: Option<PathBuf>,
    /// Update Ticket requests per sliding 60 seconds; 0 means off.
    pub update_ticket_per_minute: u32,
    /// Whether Zendesk's user-creation limits are enforced.
    pub user_create_limits: bool,
}

impl SimOptions {
    /// The CLI's default rate limit: the same as `SimConfig::default()`.
    pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = DEFAULT_REQUESTS_PER_MINUTE;

    /// The simulator configuration these options describe.
    pub fn sim_config(&self) -> SimConfig {
        SimConfig {
            requests_per_minute: Some(self.requests_per_minute).filter(|rpm| *rpm > 0),
            search_lag: Duration::from_secs(self.search_lag_secs),
            state_file: self.state_file.clone(),
            update_ticket_per_minute: Some(self.update_ticket_per_minute).filter(|n| *n > 0),
            user_create_limits: self
                .user_create_limits
                .then(intake_zendesk_sim::UserCreateLimits::default),
            ..SimConfig::default()
        }
    }
}

/// The start-up banner's line about the account rate limit.
fn rate_limit_line(config: &SimConfig) -> String {
    match config.requests_per_minute {
        Some(limit) => format!(
            "{limit} requests per sliding {RATE_WINDOW_SECS} s window (--requests-per-minute 0 = unlimited)"
        ),
        None => "unlimited".to_owned(),
    }
}

/// The start-up banner's line about the endpoint limits.
fn endpoint_limits_line(config: &SimConfig) -> String {
    let updates = match config.update_ticket_per_minute {
        Some(limit) => format!("Update Ticket {limit}/min"),
        None => "Update Ticket off (--update-ticket-per-minute)".to_owned(),
    };
    let users = match config.user_create_limits {
        Some(limits) => format!(
            "user creation {}/s, {}/min per user",
            limits.per_second, limits.per_minute_per_user
        ),
        None => "user creation off (--user-create-limits)".to_owned(),
    };
    format!("{updates}; {users}")
}

pub async fn zendesk_sim(options: SimOptions) -> anyhow::Result<ExitCode> {
    intake_telemetry::init_logging(intake_telemetry::LogFormat::Human, "info")?;
    let config = options.sim_config();
    let rate_limit = rate_limit_line(&config);
    let endpoint_limits = endpoint_limits_line(&config);
    let search_lag_secs = config.search_lag.as_secs();
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
    println!("  rate limit:   {rate_limit}");
    println!("  endpoints:    {endpoint_limits}");
    println!("  search lag:   {search_lag_secs} s after each create or update");
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

#[cfg(test)]
mod tests {
    use super::*;

    fn options(requests_per_minute: u32) -> SimOptions {
        SimOptions {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            requests_per_minute,
            search_lag_secs: 5,
            state_file: None,
            update_ticket_per_minute: 0,
            user_create_limits: false,
        }
    }

    #[test]
    fn the_cli_default_limit_is_the_library_default() {
        assert_eq!(
            SimConfig::default().requests_per_minute,
            Some(SimOptions::DEFAULT_REQUESTS_PER_MINUTE)
        );
        let config = options(SimOptions::DEFAULT_REQUESTS_PER_MINUTE).sim_config();
        assert_eq!(config.requests_per_minute, Some(700));
        assert!(rate_limit_line(&config).starts_with("700 requests per sliding 60 s window"));
    }

    #[test]
    fn zero_means_unlimited() {
        let config = options(0).sim_config();
        assert_eq!(config.requests_per_minute, None);
        assert_eq!(rate_limit_line(&config), "unlimited");
        assert_eq!(options(3).sim_config().requests_per_minute, Some(3));
    }

    #[test]
    fn endpoint_limits_are_off_unless_asked_for() {
        let off = options(700).sim_config();
        assert_eq!(off.update_ticket_per_minute, None);
        assert_eq!(off.user_create_limits, None);
        assert!(endpoint_limits_line(&off).contains("Update Ticket off"));
        let on = SimOptions {
            update_ticket_per_minute: 100,
            user_create_limits: true,
            ..options(700)
        }
        .sim_config();
        assert_eq!(on.update_ticket_per_minute, Some(100));
        assert_eq!(
            on.user_create_limits,
            Some(intake_zendesk_sim::UserCreateLimits::default())
        );
        assert_eq!(
            endpoint_limits_line(&on),
            "Update Ticket 100/min; user creation 1/s, 5/min per user"
        );
    }
}
