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
