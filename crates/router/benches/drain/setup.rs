//! What the drain benchmark shares with the two-router benchmark of the
//! root package (`benches/two_routers_drain.rs`) besides the load: the
//! account limit, the simulator both run against and the knobs read from
//! the environment.

use std::time::Duration;

use intake_zendesk_sim::{SimConfig, UserCreateLimits};

/// The account's limit in the simulator, and the client's budget.
pub const LIMIT_PER_MINUTE: u32 = 700;
/// Update Ticket's own limit, with `INTAKE_BENCH_ENDPOINT_LIMITS=1`.
pub const UPDATE_TICKET_PER_MINUTE: u32 = 100;
/// User creation's own limit (one a second), with `INTAKE_BENCH_ENDPOINT_LIMITS=1`.
pub const USER_CREATES_PER_MINUTE: u32 = 60;

/// Whether the run is under Zendesk's endpoint limits as well
/// (`INTAKE_BENCH_ENDPOINT_LIMITS=1`): the simulator enforces Update Ticket
/// at 100/min and user creation at one a second and five a minute per user,
/// and intake paces under them. Off (the default), the account's limit
/// alone: what the "calls per minute ÷ the limit" measures.
pub fn endpoint_limits_on() -> bool {
    env_number("INTAKE_BENCH_ENDPOINT_LIMITS", 0) != 0
}

/// The limits of this run, for the figures.
pub fn limits() -> crate::figures::Limits {
    let on = endpoint_limits_on();
    crate::figures::Limits {
        account: LIMIT_PER_MINUTE,
        update_ticket: on.then_some(UPDATE_TICKET_PER_MINUTE),
        user_creates: on.then_some(USER_CREATES_PER_MINUTE),
    }
}

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

/// The simulator: the account limit (and the endpoints' with
/// [`endpoint_limits_on`]), no search lag, 100–400 ms per call.
pub fn sim_config() -> SimConfig {
    let on = endpoint_limits_on();
    SimConfig {
        requests_per_minute: Some(LIMIT_PER_MINUTE),
        update_ticket_per_minute: on.then_some(UPDATE_TICKET_PER_MINUTE),
        user_create_limits: on.then(UserCreateLimits::default),
        search_lag: Duration::ZERO,
        response_delay: Some((Duration::from_millis(100), Duration::from_millis(400))),
        ..SimConfig::default()
    }
}

/// The endpoint limits of this run, for the first line it prints.
pub fn describe_endpoint_limits() -> String {
    if endpoint_limits_on() {
        format!(
            ", Update Ticket {UPDATE_TICKET_PER_MINUTE}/min, user creation {USER_CREATES_PER_MINUTE}/min"
        )
    } else {
        " (endpoint limits off)".to_owned()
    }
}
