//! Logging through `tracing`, to stderr (stdout stays free for command output).

use std::sync::OnceLock;

use tracing_subscriber::EnvFilter;

use crate::TelemetryError;

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Readable lines for a terminal.
    #[default]
    Human,
    /// One JSON object per line, for log collectors.
    Json,
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Checks an EnvFilter directive (`info`, `warn,intake_router=debug`, …).
pub fn validate_log_filter(filter: &str) -> Result<(), TelemetryError> {
    parse_filter(filter).map(|_| ())
}

fn parse_filter(filter: &str) -> Result<EnvFilter, TelemetryError> {
    let invalid = |reason: String| TelemetryError::InvalidLogFilter {
        filter: filter.to_owned(),
        reason,
    };
    if filter.trim().is_empty() {
        return Err(invalid("empty (use e.g. \"info\")".to_owned()));
    }
    EnvFilter::builder()
        .parse(filter)
        .map_err(|error| invalid(error.to_string()))
}

/// Installs the global `tracing` subscriber.
///
/// Safe to call more than once (tests do): the filter is always checked, but
/// only the first successful call in a process installs a subscriber; later
/// calls, or a subscriber installed by someone else, leave things as they are.
pub fn init_logging(format: LogFormat, level: &str) -> Result<(), TelemetryError> {
    let filter = parse_filter(level)?;
    INSTALLED.get_or_init(|| {
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        // An error here means another global subscriber exists: keep it.
        let _ = match format {
            LogFormat::Human => builder.try_init(),
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .try_init(),
        };
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_checked() {
        for good in ["info", "warn,intake_router=debug", "off", "intake=trace"] {
            assert!(validate_log_filter(good).is_ok(), "{good}");
        }
        for bad in ["", "  ", "info,intake=notalevel", "[{"] {
            let error = validate_log_filter(bad).unwrap_err();
            assert!(!error.is_retryable());
            assert!(error.to_string().contains("invalid log filter"), "{error}");
        }
    }

    #[test]
    fn init_is_idempotent_and_still_checks_the_filter() {
        assert_eq!(init_logging(LogFormat::Json, "info"), Ok(()));
        assert_eq!(init_logging(LogFormat::Human, "debug"), Ok(()));
        assert!(init_logging(LogFormat::Human, "info,x=nope").is_err());
        tracing::info!(check = true, "logging works after repeated init");
    }
}
