#![forbid(unsafe_code)]
//! The support team's rulebook, applied when the router creates a ticket
//! (issue 14): rule 6, requests for another department (`department.rs`,
//! the Slack notice in `slack.rs`), tried first; then rule 4, the original
//! agent (`agent.rs`, with the pure parts in `original.rs` and
//! `presence.rs` and the absence calendar in `absence.rs`).
//!
//! The router asks [`Rulebook::decide`] for a new ticket's group, assignee,
//! extra tags and internal note; the rulebook reads Zendesk through
//! [`AgentDirectory`] and changes nothing itself. Every decision that
//! changes where a ticket goes leaves a tag and a note saying which rule
//! decided what and why; [`Decision::explain`] says the same for
//! `intake route-explain`.

mod absence;
mod agent;
mod department;
mod directory;
pub mod events;
pub mod ical;
mod ical_fetch;
mod ical_time;
mod original;
mod presence;
mod slack;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use intake_calendar::refresh::LivePolicies;
use intake_event::TicketEvent;

pub use absence::{Absence, AbsenceCalendar, AbsenceReason};
pub use department::{DepartmentHit, DepartmentRule, first_match};
pub use directory::AgentDirectory;
pub use events::{RefreshOutcome, Rule4Outcome};
pub use ical::{AbsenceFeed, IcalLocation, IcalOptions};
pub use ical_fetch::feed_client;
pub use original::{Earlier, can_wait, earlier_ticket};
pub use presence::{Prefer, Presence, Report, Signal, Source, combine, when};
pub use slack::{NoticeError, SlackTarget};

/// Tag of a ticket rule 4 gave to the original agent.
pub const TAG_ORIGINAL_AGENT: &str = "intake_rule_original_agent";
/// Tag of a ticket rule 4 gave to the original agent's substitute.
pub const TAG_SUBSTITUTE: &str = "intake_rule_original_agent_substitute";
/// Tag of a ticket whose original agent rule 4 skipped (routed as usual).
pub const TAG_SKIPPED: &str = "intake_rule_original_agent_skipped";
/// Tag of a ticket rule 6 passed to a department (with
/// `intake_department_<name>`).
pub const TAG_DEPARTMENT: &str = "intake_rule_department";
/// Prefix of the tag naming the department.
pub const DEPARTMENT_TAG_PREFIX: &str = "intake_department_";

/// Why a read of the rulebook failed.
#[derive(Debug, thiserror::Error)]
pub enum RulebookError {
    #[error("zendesk: {0}")]
    Zendesk(#[from] intake_zendesk::Error),
}

impl RulebookError {
    pub fn is_retryable(&self) -> bool {
        match self {
            RulebookError::Zendesk(e) => e.is_retryable(),
        }
    }
}

/// Rule 4 (the original agent), validated.
#[derive(Debug, Clone, PartialEq)]
pub struct OriginalAgentOptions {
    pub enabled: bool,
    /// A solved or closed ticket updated this long before the request still
    /// names its agent.
    pub recent_window: Duration,
    /// Which side wins when Zendesk and the calendars disagree.
    pub prefer: Prefer,
    /// Zendesk statuses that mean at work (lower case).
    pub available_statuses: Vec<String>,
    /// Typical length of the other statuses (lower case), from when the
    /// status was set: the expected return. A status not listed: unknown.
    pub status_away: BTreeMap<String, Duration>,
    /// Planned absences.
    pub absences: AbsenceCalendar,
    /// Working-hours calendar (a `[calendars.*]` name) of each agent by id.
    pub agent_calendars: BTreeMap<u64, String>,
}

impl Default for OriginalAgentOptions {
    fn default() -> Self {
        Self {
            enabled: false,
            recent_window: Duration::from_secs(7 * 24 * 3600),
            prefer: Prefer::default(),
            available_statuses: vec!["online".to_owned()],
            status_away: BTreeMap::new(),
            absences: AbsenceCalendar::default(),
            agent_calendars: BTreeMap::new(),
        }
    }
}

/// Every rule's options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RulebookOptions {
    pub original_agent: OriginalAgentOptions,
    /// Rule 6, in order: the first match wins.
    pub departments: Vec<DepartmentRule>,
}

impl RulebookOptions {
    /// Whether any rule is on.
    pub fn any_enabled(&self) -> bool {
        self.original_agent.enabled || !self.departments.is_empty()
    }
}

/// What the router knows about a new ticket when it asks.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub event: &'a TicketEvent,
    /// The Zendesk requester (None: not resolved, as in `route-explain --offline`).
    pub requester_id: Option<u64>,
    /// The channel's group (usual routing).
    pub channel_group_id: Option<u64>,
    /// The ticket's first-answer deadline (SLA policy), if it has one.
    pub deadline: Option<DateTime<Utc>>,
}

/// One rule's verdict, for `route-explain` and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    /// The rule (`original_agent`).
    pub rule: &'static str,
    /// Whether it changed the ticket.
    pub fired: bool,
    /// What it found and why it decided so.
    pub lines: Vec<String>,
}

/// What the rulebook wants on a new ticket.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    /// Rule 6 matched: the ticket is the department's (group, Slack notice,
    /// the customer told it was passed on).
    pub department: Option<DepartmentHit>,
    /// The group, when a rule sets one (else the channel's).
    pub group_id: Option<u64>,
    pub assignee_id: Option<u64>,
    pub tags: Vec<String>,
    /// The internal note (private comment) saying which rule decided what.
    pub note: Option<String>,
    pub explain: Vec<Explained>,
}

/// The rulebook: options, the directory it reads, the calendars.
#[derive(Clone)]
pub struct Rulebook {
    options: Arc<RulebookOptions>,
    directory: Arc<dyn AgentDirectory>,
    calendars: LivePolicies,
    http: reqwest::Client,
}

impl std::fmt::Debug for Rulebook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rulebook")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Rulebook {
    /// A rulebook reading `directory`, with the working-hours calendars of
    /// `calendars` (the router's live SLA policies).
    pub fn new(
        options: RulebookOptions,
        directory: Arc<dyn AgentDirectory>,
        calendars: LivePolicies,
    ) -> Self {
        Self {
            options: Arc::new(options),
            directory,
            calendars,
            http: reqwest::Client::new(),
        }
    }

    pub fn options(&self) -> &RulebookOptions {
        &self.options
    }

    /// Decides a new ticket. Never fails: a read that fails is logged,
    /// counted and named in the explanation, and the rule goes on without it.
    pub async fn decide(&self, request: &Request<'_>) -> Decision {
        let mut decision = Decision::default();
        if let Some(hit) = first_match(&self.options.departments, request.event) {
            decision.group_id = Some(hit.rule.group_id);
            decision.tags = vec![
                TAG_DEPARTMENT.to_owned(),
                format!("{DEPARTMENT_TAG_PREFIX}{}", hit.rule.name),
            ];
            decision.note = Some(format!(
                "Rulebook, rule 6 (not for support): passed to the {} department \
                 (group {}) because of the {}; rule {} of {} in [[rulebook.departments]]. \
                 The customer is told it was passed on.",
                hit.rule.name,
                hit.rule.group_id,
                hit.why,
                hit.index + 1,
                self.options.departments.len()
            ));
            decision.explain.push(Explained {
                rule: "department",
                fired: true,
                lines: vec![format!(
                    "{} (rule {}): {} → group {}, Slack {}",
                    hit.rule.name,
                    hit.index + 1,
                    hit.why,
                    hit.rule.group_id,
                    hit.rule.slack.as_ref().map_or("none", SlackTarget::kind)
                )],
            });
            decision.explain.push(Explained {
                rule: "original_agent",
                fired: false,
                lines: vec!["not asked: the request is for another department".into()],
            });
            decision.department = Some(hit);
            return decision;
        }
        decision.explain.push(Explained {
            rule: "department",
            fired: false,
            lines: vec![format!(
                "none of {} department rule(s) matches",
                self.options.departments.len()
            )],
        });
        let rule4 = self.original_agent(request).await;
        events::OriginalAgentDecided {
            channel: &request.event.channel,
            event_id: &request.event.event_id.to_string(),
            outcome: rule4.outcome,
            agent_id: rule4.assignee_id,
        }
        .emit();
        decision.assignee_id = rule4.assignee_id;
        decision.tags.extend(rule4.tag.map(str::to_owned));
        decision.note = rule4.note;
        decision.explain.push(Explained {
            rule: "original_agent",
            fired: rule4.outcome != Rule4Outcome::None,
            lines: rule4.lines,
        });
        decision
    }

    /// Tells the department of `hit` in Slack about the ticket (topic and
    /// contact details); logged and counted either way.
    pub async fn notify_department(
        &self,
        hit: &DepartmentHit,
        event: &TicketEvent,
        ticket_id: u64,
    ) -> Result<(), NoticeError> {
        let Some(target) = &hit.rule.slack else {
            return Ok(());
        };
        let text = department_notice(hit, event, ticket_id);
        let result = slack::post(&self.http, target, &text).await;
        events::DepartmentNotified {
            department: &hit.rule.name,
            event_id: &event.event_id.to_string(),
            ticket_id,
            error: result.as_ref().err(),
        }
        .emit();
        result
    }
}

/// The Slack text: department, ticket, channel, topic, contact details.
pub fn department_notice(hit: &DepartmentHit, event: &TicketEvent, ticket_id: u64) -> String {
    let topic = event
        .subject
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| event.text.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("(no text)");
    let topic: String = topic.chars().take(200).collect();
    let contact = &event.contact;
    let mut details: Vec<String> = Vec::new();
    details.extend(contact.name.clone());
    details.extend(contact.email.clone());
    details.extend(contact.phone.clone());
    details.push(contact.key.clone());
    if !contact.verified {
        details.push("(contact details not verified by the channel)".to_owned());
    }
    format!(
        "New request for {department}: Zendesk ticket #{ticket_id} (via {channel}).\n\
         Topic: {topic}\nContact: {contact}\nMatched: {why}",
        department = hit.rule.name,
        channel = event.channel,
        contact = details.join(" · "),
        why = hit.why,
    )
}
