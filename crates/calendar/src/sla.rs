//! SLA first-response policies: per channel (and optionally per Zendesk
//! priority) a target in working time on a named calendar.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::calendar::WorkingCalendar;
use crate::error::SlaError;

/// Zendesk's ticket priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Urgent,
    High,
    Normal,
    Low,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Urgent, Self::High, Self::Normal, Self::Low];

    /// Zendesk's `ticket.priority` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Urgent => "urgent",
            Self::High => "high",
            Self::Normal => "normal",
            Self::Low => "low",
        }
    }
}

impl FromStr for Priority {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        Self::ALL
            .into_iter()
            .find(|priority| priority.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| format!("{text:?} is not a priority (urgent, high, normal, low)"))
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One first-response target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicy {
    /// Its name (also used as a Zendesk tag: lower-case letters, digits, `_`, `-`).
    pub name: String,
    /// Channels it covers (`email`, `chat`, …).
    pub channels: Vec<String>,
    /// Priorities it covers; empty: any priority. A policy naming the
    /// ticket's priority wins over one that names none.
    pub priorities: Vec<Priority>,
    /// The target, in working time.
    pub first_response: Duration,
    /// The calendar the working time is counted on.
    pub calendar: String,
}

impl SlaPolicy {
    fn covers(&self, channel: &str, priority: Option<Priority>) -> bool {
        self.channels.iter().any(|c| c == channel)
            && (self.priorities.is_empty()
                || priority.is_some_and(|p| self.priorities.contains(&p)))
    }
}

/// The seeds' targets: mail 12 working hours, chat 5 working minutes,
/// Telegram and WhatsApp 30 working minutes, Slack 2 working hours, all on
/// the calendar `default`.
pub fn seeds_policies() -> Vec<SlaPolicy> {
    let policy = |name: &str, channels: &[&str], minutes: u64| SlaPolicy {
        name: name.to_owned(),
        channels: channels.iter().map(|c| (*c).to_owned()).collect(),
        priorities: Vec::new(),
        first_response: Duration::from_secs(minutes * 60),
        calendar: crate::DEFAULT_CALENDAR.to_owned(),
    };
    vec![
        policy("email", &["email"], 12 * 60),
        policy("chat", &["chat"], 5),
        policy("messengers", &["telegram", "whatsapp"], 30),
        policy("slack", &["slack"], 2 * 60),
    ]
}

/// Named calendars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendars {
    by_name: BTreeMap<String, Arc<WorkingCalendar>>,
}

impl Calendars {
    pub fn insert(&mut self, calendar: WorkingCalendar) {
        self.by_name
            .insert(calendar.name().to_owned(), Arc::new(calendar));
    }

    pub fn get(&self, name: &str) -> Option<&Arc<WorkingCalendar>> {
        self.by_name.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<WorkingCalendar>> {
        self.by_name.values()
    }
}

/// A first-response deadline and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deadline {
    /// When the first answer is due (may be a closing instant, see `ops.rs`).
    pub due_at: DateTime<Utc>,
    /// The policy that set it.
    pub policy: String,
    /// The calendar it was counted on.
    pub calendar: String,
}

/// Policies with the calendars they name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlaPolicies {
    policies: Vec<SlaPolicy>,
    calendars: Calendars,
}

impl SlaPolicies {
    /// Policies are tried in order; put priority-specific ones first or
    /// not, [`SlaPolicies::policy_for`] prefers them anyway.
    pub fn new(policies: Vec<SlaPolicy>, calendars: Calendars) -> Self {
        Self {
            policies,
            calendars,
        }
    }

    pub fn policies(&self) -> &[SlaPolicy] {
        &self.policies
    }

    pub fn calendars(&self) -> &Calendars {
        &self.calendars
    }

    /// The calendar set with one calendar replaced (an iCalendar refresh).
    pub fn replace_calendar(&mut self, calendar: WorkingCalendar) {
        self.calendars.insert(calendar);
    }

    /// The policy for a ticket on `channel` with `priority`: one naming
    /// that priority if any, else one naming no priority.
    pub fn policy_for(&self, channel: &str, priority: Option<Priority>) -> Option<&SlaPolicy> {
        let covering = || {
            self.policies
                .iter()
                .filter(move |policy| policy.covers(channel, priority))
        };
        covering()
            .find(|policy| !policy.priorities.is_empty())
            .or_else(|| covering().next())
    }

    /// (channel, priority, received at) → the first-response deadline and
    /// the policy's name.
    pub fn first_response_deadline(
        &self,
        channel: &str,
        priority: Option<Priority>,
        received_at: DateTime<Utc>,
    ) -> Result<Deadline, SlaError> {
        let policy = self
            .policy_for(channel, priority)
            .ok_or_else(|| SlaError::NoPolicy {
                channel: channel.to_owned(),
            })?;
        let calendar =
            self.calendars
                .get(&policy.calendar)
                .ok_or_else(|| SlaError::UnknownCalendar {
                    policy: policy.name.clone(),
                    calendar: policy.calendar.clone(),
                })?;
        let due_at = calendar.deadline(received_at, policy.first_response)?;
        Ok(Deadline {
            due_at,
            policy: policy.name.clone(),
            calendar: policy.calendar.clone(),
        })
    }
}
