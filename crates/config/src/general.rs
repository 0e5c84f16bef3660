//! `[log]` and `[service]`, and helpers shared by the sections.

use std::time::Duration;

use intake_telemetry::LogFormat;
use serde::Deserialize;

use crate::secret::Ctx;

// ---------------------------------------------------------------- [log]

/// `[log]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLog {
    /// `human` (readable lines) or `json` (one JSON object per line).
    #[serde(default = "default_log_format")]
    format: RawLogFormat,
    /// Filter in `tracing` EnvFilter syntax, e.g. `info,intake_router=debug`.
    #[serde(default = "default_log_level")]
    level: String,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum RawLogFormat {
    Human,
    Json,
}

impl TryFrom<String> for RawLogFormat {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(&value, &[("human", Self::Human), ("json", Self::Json)])
    }
}

fn default_log_format() -> RawLogFormat {
    RawLogFormat::Human
}
fn default_log_level() -> String {
    "info".to_owned()
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: default_log_format(),
            level: default_log_level(),
        }
    }
}

/// Logging settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A valid EnvFilter directive.
    pub level: String,
}

impl RawLog {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> LogConfig {
        if let Err(error) = intake_telemetry::validate_log_filter(&self.level) {
            ctx.problem("log.level", error.to_string());
        }
        let format = match self.format {
            RawLogFormat::Human => LogFormat::Human,
            RawLogFormat::Json => LogFormat::Json,
        };
        LogConfig {
            format,
            level: self.level,
        }
    }
}

// ---------------------------------------------------------------- [service]

/// `[service]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawService {
    /// Seconds to finish in-flight work after SIGTERM/SIGINT before aborting it.
    #[serde(default = "default_shutdown_deadline_secs")]
    shutdown_deadline_secs: u64,
}

fn default_shutdown_deadline_secs() -> u64 {
    15
}

impl Default for RawService {
    fn default() -> Self {
        Self {
            shutdown_deadline_secs: default_shutdown_deadline_secs(),
        }
    }
}

/// Process-wide service settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceConfig {
    /// How long draining may take after the shutdown signal.
    pub shutdown_deadline: Duration,
}

impl RawService {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> ServiceConfig {
        if self.shutdown_deadline_secs == 0 {
            ctx.problem("service.shutdown_deadline_secs", "must be at least 1");
        }
        ServiceConfig {
            shutdown_deadline: Duration::from_secs(self.shutdown_deadline_secs),
        }
    }
}

// ---------------------------------------------------------------- helpers

/// A byte or count limit that must be at least 1 and fit in memory sizes.
pub(crate) fn positive_usize(ctx: &mut Ctx<'_>, key: &str, value: u64) -> usize {
    if value == 0 {
        ctx.problem(key, "must be at least 1");
        return 1;
    }
    match usize::try_from(value) {
        Ok(value) => value,
        Err(_) => {
            ctx.problem(key, "is too large for this machine");
            usize::MAX
        }
    }
}

/// Parses one of a fixed set of words (case-insensitive), for config enums
/// deserialised with `#[serde(try_from = "String")]`: the message lists the
/// choices, which serde's default enum error does not.
pub(crate) fn parse_choice<T: Copy>(value: &str, choices: &[(&str, T)]) -> Result<T, String> {
    let wanted = value.trim();
    choices
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
        .map(|(_, choice)| *choice)
        .ok_or_else(|| {
            let names: Vec<String> = choices
                .iter()
                .map(|(name, _)| format!("{name:?}"))
                .collect();
            format!("{value:?} is not one of {}", names.join(", "))
        })
}

/// A non-empty string, trimmed.
pub(crate) fn non_empty(ctx: &mut Ctx<'_>, key: &str, value: String) -> String {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        ctx.problem(key, "must not be empty");
    }
    trimmed.to_owned()
}
