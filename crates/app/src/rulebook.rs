//! Builds the router's rulebook from `[rulebook.*]` (issue 14).

use std::sync::Arc;

use intake_config::Config;
use intake_router::LivePolicies;
use intake_rulebook::Rulebook;

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
