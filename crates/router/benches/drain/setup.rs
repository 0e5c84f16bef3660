//! What the drain benchmark shares with the two-router benchmark of the
//! root package (`benches/two_routers_drain.rs`) besides the load: the
//! account limit, the simulator both run against and the knobs read from
//! the environment.

use std::time::Duration;

use intake_zendesk_sim::SimConfig;

/// The account's limit in the simulator, and the client's budget.
pub const LIMIT_PER_MINUTE: u32 = 700;

/// A number from the environment variable `name`, else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The load's size: `INTAKE_BENCH_CONTACTS` (default 1000) contacts and a
/// chat every `INTAKE_BENCH_CHAT_INTERVAL_MS` (default 250 ms).
pub fn contacts_and_chat_interval() -> (usize, Duration) {
    let contacts = env_number("INTAKE_BENCH_CONTACTS", 1000) as usize;
    let chat_every = Duration::from_millis(env_number("INTAKE_BENCH_CHAT_INTERVAL_MS", 250));
    (contacts, chat_every)
}

/// The simulator: the account limit, no search lag, 100–400 ms per call.
pub fn sim_config() -> SimConfig {
    SimConfig {
        requests_per_minute: Some(LIMIT_PER_MINUTE),
        search_lag: Duration::ZERO,
        response_delay: Some((Duration::from_millis(100), Duration::from_millis(400))),
        ..SimConfig::default()
    }
}
