//! Simulator configuration.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use crate::endpoint_limits::UserCreateLimits;

/// Zendesk's per-file attachment limit as the simulator takes it (50 MiB, unconfirmed).
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// The account rate limit `SimConfig::default()` and `intake zendesk-sim` use (requests
/// per sliding 60-second window).
pub const DEFAULT_REQUESTS_PER_MINUTE: u32 = 700;

/// How the simulated Zendesk account behaves.
///
/// Build it with struct update syntax: `SimConfig { search_lag: Duration::ZERO, ..Default::default() }`.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Account subdomain, used in `Location` headers and `url` fields.
    pub subdomain: String,
    /// E-mail of the seeded admin agent that API tokens and OAuth act as.
    pub agent_email: String,
    /// The account's API token (valid with the e-mail of any agent).
    pub api_token: SecretString,
    /// A bearer token accepted as the seeded agent; `None` disables OAuth.
    pub oauth_token: Option<SecretString>,
    /// Account requests per sliding 60-second window on the sim clock; `None` means unlimited.
    pub requests_per_minute: Option<u32>,
    /// Updates one user may make to one ticket per 10 sim-minutes.
    pub ticket_updates_per_10_min: u32,
    /// Time on the sim clock before a new or updated ticket or user shows up in search.
    pub search_lag: Duration,
    /// When set, the state is loaded from this JSON file at start and written on every change.
    pub state_file: Option<PathBuf>,
    /// Largest accepted upload in bytes; larger bodies get 413 `AttachmentTooLarge`.
    pub max_upload_bytes: u64,
    /// Seed of the RNG that decides rate-based faults.
    pub fault_seed: u64,
    /// Every API request takes a time drawn uniformly from this range (real
    /// time, seeded RNG) before it is handled, as Zendesk's own processing
    /// does; `None`: answered at once. For load tests of callers.
    pub response_delay: Option<(Duration, Duration)>,
    /// Update Ticket requests per sliding 60 seconds across the account
    /// (Zendesk: 100, 300 with High Volume); `None` (the default): only the
    /// account limit, so other tests may update faster.
    pub update_ticket_per_minute: Option<u32>,
    /// User-creation limits (Zendesk: [`UserCreateLimits::default`]); `None`
    /// (the default): off, so other tests may make users faster.
    pub user_create_limits: Option<UserCreateLimits>,
}

fn default_subdomain() -> String {
    "intake-sim".to_owned()
}

fn default_agent_email() -> String {
    "agent@intake-sim.test".to_owned()
}

fn default_api_token() -> SecretString {
    SecretString::from("sim-token")
}

fn default_requests_per_minute() -> Option<u32> {
    Some(DEFAULT_REQUESTS_PER_MINUTE)
}

fn default_ticket_updates_per_10_min() -> u32 {
    30
}

fn default_search_lag() -> Duration {
    Duration::from_secs(5)
}

fn default_fault_seed() -> u64 {
    0x5EED
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            subdomain: default_subdomain(),
            agent_email: default_agent_email(),
            api_token: default_api_token(),
            oauth_token: None,
            requests_per_minute: default_requests_per_minute(),
            ticket_updates_per_10_min: default_ticket_updates_per_10_min(),
            search_lag: default_search_lag(),
            state_file: None,
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            fault_seed: default_fault_seed(),
            response_delay: None,
            update_ticket_per_minute: None,
            user_create_limits: None,
        }
    }
}

impl SimConfig {
    /// `https://{subdomain}.zendesk.com`, the base of every `url` the simulator returns.
    pub fn public_base(&self) -> String {
        format!("https://{}.zendesk.com", self.subdomain)
    }
}
