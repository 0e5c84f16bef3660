//! `intake parked list`: the conversations the router has parked (a
//! per-ticket limit hold, a ticket lock, repeated retryable failures), why,
//! and when each may go on, read from the state store.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;
use intake_store::ParkedLane;

/// What `intake parked` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParkedAction {
    /// One line per parked lane of this configuration's consumer group.
    List,
}

/// Runs `intake parked <action>` against the configured state store.
pub async fn parked(config_path: Option<&Path>, action: ParkedAction) -> anyhow::Result<ExitCode> {
    let config = match crate::load_config(config_path, intake_config::Needs::default()) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    intake_telemetry::init_logging(config.log.format, "warn")?;
    let store = crate::service::open_store(&config).await?;
    match action {
        ParkedAction::List => {
            let group = &config.router.consumer_group;
            let lanes = store.parked_lanes(Some(group)).await?;
            if lanes.is_empty() {
                eprintln!("no parked conversations (consumer group {group})");
            }
            for lane in &lanes {
                println!("{}", line(lane, Utc::now()));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `<lane>  <channel>  <reason>  attempts=N  resumes <time> (in Ns|now)  event <id>  <last error>`.
fn line(lane: &ParkedLane, now: chrono::DateTime<Utc>) -> String {
    let wait = (lane.resume_at - now).num_seconds();
    let when = if wait > 0 {
        format!("in {wait}s")
    } else {
        "now".to_owned()
    };
    format!(
        "{}\t{}\t{}\tattempts={}\tresumes {} ({when})\tevent {}\t{}",
        lane.lane,
        lane.channel,
        lane.reason,
        lane.attempts,
        lane.resume_at
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        lane.event_id,
        lane.last_error,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_names_lane_reason_resume_time_and_error() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let lane = ParkedLane {
            consumer_group: "intake-router".to_owned(),
            lane: "thread:chat:t-1".to_owned(),
            channel: "chat".to_owned(),
            event_id: uuid::Uuid::nil(),
            reason: "ticket_limit".to_owned(),
            attempts: 0,
            first_failure_at: now,
            resume_at: now + chrono::Duration::seconds(90),
            last_error: "update_ticket: held".to_owned(),
            history: Vec::new(),
        };
        let text = line(&lane, now);
        assert_eq!(
            text,
            "thread:chat:t-1\tchat\tticket_limit\tattempts=0\tresumes 2026-12-01T10:01:30Z (in 90s)\t\
             event 00000000-0000-0000-0000-000000000000\tupdate_ticket: held"
        );
        assert!(line(&lane, now + chrono::Duration::minutes(2)).contains("(now)"));
    }
}
