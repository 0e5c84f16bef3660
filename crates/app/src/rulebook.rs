//! Builds the router's rulebook from `[rulebook.*]` (issue 14).

use std::sync::Arc;

use intake_config::Config;
use intake_router::LivePolicies;
use intake_rulebook::Rulebook;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

type Tasks = JoinSet<(&'static str, anyhow::Result<()>)>;

/// The rulebook the router asks on each new ticket; None when every rule is off.
pub fn for_router(
    config: &Config,
    zendesk: &intake_zendesk::Client,
    calendars: &LivePolicies,
) -> Option<Rulebook> {
    intake_rulebook::events::describe_metrics();
    if !config.rulebook.any_enabled() {
        return None;
    }
    Some(Rulebook::new(
        config.rulebook.clone(),
        Arc::new(zendesk.clone()),
        calendars.clone(),
    ))
}

/// Spawns the refresh of the iCalendar absence calendar
/// (`[rulebook.original_agent.absence_ical]`, decision 56) when rule 4 is
/// on and has one: read at start and every `refresh_secs` until `shutdown`.
/// The rulebook shares the feed, so it sees each good read.
pub(crate) fn spawn_absence_feed(config: &Config, shutdown: &CancellationToken, tasks: &mut Tasks) {
    let rule4 = &config.rulebook.original_agent;
    let Some(feed) = rule4.absences.feed().filter(|_| rule4.enabled).cloned() else {
        return;
    };
    let client = intake_rulebook::feed_client(&feed);
    let shutdown = shutdown.clone();
    tasks.spawn(async move {
        feed.run(client, shutdown).await;
        ("absence calendar", Ok(()))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_text() -> String {
        let now = chrono::Utc::now();
        let stamp = |at: chrono::DateTime<chrono::Utc>| at.format("%Y%m%dT%H%M%SZ").to_string();
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:v@t\r\n\
             DTSTART:{}\r\nDTEND:{}\r\nSUMMARY:Vacation\r\nX-INTAKE-AGENT-ID:12\r\n\
             END:VEVENT\r\nEND:VCALENDAR\r\n",
            stamp(now - chrono::Duration::hours(1)),
            stamp(now + chrono::Duration::days(3))
        )
    }

    #[tokio::test]
    async fn the_absence_feed_is_read_by_a_spawned_task_into_the_rulebook_s_calendar() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let text = feed_text();
        let app = axum::Router::new().route(
            "/team.ics",
            axum::routing::get(move || {
                let text = text.clone();
                async move { text }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("url");
        std::fs::write(&url_file, format!("http://127.0.0.1:{port}/team.ics")).unwrap();
        let text = format!(
            "[rulebook.original_agent]\nenabled = true\n\
             [rulebook.original_agent.absence_ical]\nurl_file = {url_file:?}\n"
        );
        let config =
            intake_config::load_from(Some(&text), &[], &crate::channel_sections()).unwrap();
        // The rulebook's copy of the options shares the feed.
        let absences = config.rulebook.clone().original_agent.absences;
        assert!(absences.is_empty());
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        spawn_absence_feed(&config, &shutdown, &mut tasks);
        assert_eq!(tasks.len(), 1);
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while absences.covering(12, None, chrono::Utc::now()).is_none() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the feed was not read"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        shutdown.cancel();
        let (name, ended) = tasks.join_next().await.unwrap().unwrap();
        assert_eq!(name, "absence calendar");
        assert!(ended.is_ok());
    }

    #[test]
    fn no_feed_or_rule_4_off_no_task() {
        let off = "[rulebook.original_agent.absence_ical]\nfile = \"team.ics\"\n";
        for text in [None, Some(off)] {
            let config = intake_config::load_from(text, &[], &crate::channel_sections()).unwrap();
            let mut tasks = JoinSet::new();
            spawn_absence_feed(&config, &CancellationToken::new(), &mut tasks);
            assert!(tasks.is_empty());
        }
    }
}
