//! `[sla.policies.<name>]`: laid over the seeds' policies, checked against
//! the known channels and calendars.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::{Problems, check_name};
use crate::DEFAULT_CALENDAR;
use crate::sla::{Calendars, Priority, SlaPolicy, seeds_policies};

/// `[sla]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSla {
    /// Policies by name, laid over the built-in `email`, `chat`,
    /// `messengers` and `slack`: a built-in name changes only the keys given.
    #[serde(default)]
    pub policies: BTreeMap<String, RawPolicy>,
}

/// `[sla.policies.<name>]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPolicy {
    /// False switches the policy off (built-in ones too).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Channels it covers; required for a new policy.
    #[serde(default)]
    pub channels: Option<Vec<String>>,
    /// Zendesk priorities it covers; empty or left out: any.
    #[serde(default)]
    pub priorities: Option<Vec<String>>,
    /// First-response target in working minutes; required for a new policy.
    #[serde(default)]
    pub first_response_working_minutes: Option<u64>,
    /// Calendar the minutes are counted on; default `default`.
    #[serde(default)]
    pub calendar: Option<String>,
}

pub(super) fn build_policies(
    problems: &mut Problems,
    raw: RawSla,
    known_channels: &[&str],
    calendars: &Calendars,
) -> Vec<SlaPolicy> {
    let mut policies: BTreeMap<String, Option<SlaPolicy>> = seeds_policies()
        .into_iter()
        .map(|policy| (policy.name.clone(), Some(policy)))
        .collect();
    for (name, raw) in raw.policies {
        let key = format!("sla.policies.{name}");
        check_name(problems, &key, &name);
        let base = policies.get(&name).cloned().flatten();
        let policy = merge_policy(problems, &key, &name, base, raw, known_channels, calendars);
        policies.insert(name, policy);
    }
    let policies: Vec<SlaPolicy> = policies.into_values().flatten().collect();
    report_ambiguous(problems, &policies);
    policies
}

fn merge_policy(
    problems: &mut Problems,
    key: &str,
    name: &str,
    base: Option<SlaPolicy>,
    raw: RawPolicy,
    known_channels: &[&str],
    calendars: &Calendars,
) -> Option<SlaPolicy> {
    if raw.enabled == Some(false) {
        return None;
    }
    let channels = match (raw.channels, &base) {
        (Some(channels), _) => channels,
        (None, Some(base)) => base.channels.clone(),
        (None, None) => Vec::new(),
    };
    if channels.is_empty() {
        problems.push(format!("{key}.channels"), "name at least one channel");
    }
    for (index, channel) in channels.iter().enumerate() {
        if !known_channels.contains(&channel.as_str()) {
            problems.push(
                format!("{key}.channels[{index}]"),
                format!(
                    "unknown channel {channel:?} (known: {})",
                    known_channels.join(", ")
                ),
            );
        }
    }
    let mut priorities = base
        .as_ref()
        .map(|b| b.priorities.clone())
        .unwrap_or_default();
    if let Some(raw_priorities) = raw.priorities {
        priorities.clear();
        for (index, text) in raw_priorities.iter().enumerate() {
            match text.parse::<Priority>() {
                Ok(priority) => priorities.push(priority),
                Err(message) => problems.push(format!("{key}.priorities[{index}]"), message),
            }
        }
    }
    let minutes = raw
        .first_response_working_minutes
        .or(base.as_ref().map(|b| b.first_response.as_secs() / 60));
    let first_response = match minutes {
        Some(0) => {
            problems.push(
                format!("{key}.first_response_working_minutes"),
                "must be at least 1",
            );
            None
        }
        Some(minutes) => Some(Duration::from_secs(minutes.saturating_mul(60))),
        None => {
            problems.push(
                format!("{key}.first_response_working_minutes"),
                "required for a policy that is not built in",
            );
            None
        }
    }?;
    let calendar = raw
        .calendar
        .or(base.map(|b| b.calendar))
        .unwrap_or_else(|| DEFAULT_CALENDAR.to_owned());
    if calendars.get(&calendar).is_none() {
        let known: Vec<&str> = calendars.names().collect();
        problems.push(
            format!("{key}.calendar"),
            format!(
                "unknown calendar {calendar:?} (known: {})",
                known.join(", ")
            ),
        );
    }
    Some(SlaPolicy {
        name: name.to_owned(),
        channels,
        priorities,
        first_response,
        calendar,
    })
}

/// Two policies covering the same channel and priority equally specifically
/// would make the choice depend on their order: refused.
fn report_ambiguous(problems: &mut Problems, policies: &[SlaPolicy]) {
    for (index, policy) in policies.iter().enumerate() {
        for earlier in &policies[..index] {
            let shared_channel = policy
                .channels
                .iter()
                .find(|c| earlier.channels.contains(c));
            let priorities_clash =
                match (policy.priorities.is_empty(), earlier.priorities.is_empty()) {
                    (true, true) => true,
                    (false, false) => policy
                        .priorities
                        .iter()
                        .any(|p| earlier.priorities.contains(p)),
                    _ => false,
                };
            if let (Some(channel), true) = (shared_channel, priorities_clash) {
                problems.push(
                    format!("sla.policies.{}.channels", policy.name),
                    format!(
                        "channel {channel:?} is already covered by policy {:?} for the same priorities",
                        earlier.name
                    ),
                );
            }
        }
    }
}
