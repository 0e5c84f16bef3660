//! The planned-absence calendar from an iCalendar (RFC 5545) document
//! (`[rulebook.original_agent.absence_ical]`, decision 56): a team calendar
//! at a URL or in an `.ics` file, read at start and again every
//! `refresh_secs`. A read that fails (unreachable, a non-2xx status, too
//! large, too slow, not iCalendar) keeps the last good copy, and is logged
//! and counted (`intake_rulebook_absence_refreshes_total{outcome}`). The
//! URL may carry a token (in its query or path), so logs, errors and
//! `Debug` show only its scheme and host.
//!
//! # Which events are absences
//! Every `VEVENT` that names an agent and is not `STATUS:CANCELLED`:
//! - **Agent**: the property `agent_property` (default `X-INTAKE-AGENT-ID`)
//!   holding the agent's Zendesk user id; else the first `ATTENDEE`, else
//!   the `ORGANIZER`, as a `mailto:` address that is matched (case
//!   insensitively) against the agent's Zendesk e-mail. An event without
//!   either is skipped (a team event: nobody is away).
//! - **Time**: `DTSTART` up to `DTEND` (the agent is back at `DTEND`; else
//!   `DURATION`; else one day for an all-day event). All-day dates
//!   (`VALUE=DATE`) and floating times are in `time_zone` (default UTC);
//!   `TZID` names an IANA zone; `Z` is UTC.
//! - **Reason**: `CATEGORIES`, else the `SUMMARY`, by keyword
//!   (case-insensitive): `lunch`; `sick`; `vacation`, `holiday`, `leave`
//!   → vacation; `day off`, `day-off`, `off` → day off; anything else is a
//!   plain planned absence ("away").
//! - **Substitute**: the property `substitute_property` (default
//!   `X-INTAKE-SUBSTITUTE-ID`), a Zendesk user id.
//! - **Recurring events** (`RRULE`, `RDATE`, minus `EXDATE`) are expanded
//!   with the `rrule` crate (the `icalendar` crate parses but does not
//!   expand) for occurrences from [`EXPAND_PAST`] before the read to
//!   [`EXPAND_AHEAD`] after it, at most [`MAX_OCCURRENCES`] per event; the
//!   next refresh moves the window on. An override (same `UID`, with
//!   `RECURRENCE-ID`) replaces the occurrence it names.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use icalendar::{Calendar, CalendarComponent, Component, Event};

use crate::absence::{Absence, AbsenceReason};
#[cfg(test)]
use crate::ical_time::iso8601_duration;
use crate::ical_time::{end_of, instant, is_recurring, occurrences};

/// Occurrences of a recurring event are made from this long before a read…
pub const EXPAND_PAST: Duration = Duration::from_secs(31 * 24 * 3600);
/// …to this long after it.
pub const EXPAND_AHEAD: Duration = Duration::from_secs(400 * 24 * 3600);
/// Occurrences made at most per recurring event.
pub const MAX_OCCURRENCES: u16 = 1000;
/// Longest absence accepted (a feed bug spanning years is not an absence).
const MAX_ABSENCE: Duration = Duration::from_secs(366 * 24 * 3600);

/// Where the document is.
#[derive(Clone, PartialEq, Eq)]
pub enum IcalLocation {
    /// https (http only to a loopback address, for tests).
    Url(url::Url),
    File(PathBuf),
}

impl IcalLocation {
    /// What logs and errors show: the file, or the URL's scheme and host
    /// only (its path and query may hold a token).
    pub fn redacted(&self) -> String {
        match self {
            IcalLocation::File(path) => path.display().to_string(),
            IcalLocation::Url(url) => format!(
                "{}://{}/…",
                url.scheme(),
                url.host_str().unwrap_or("(no host)")
            ),
        }
    }
}

impl std::fmt::Debug for IcalLocation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `[rulebook.original_agent.absence_ical]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcalOptions {
    pub location: IcalLocation,
    /// Time between reads.
    pub refresh: Duration,
    /// Longest a read may take.
    pub fetch_timeout: Duration,
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
    /// Property holding the agent's Zendesk user id (upper case).
    pub agent_property: String,
    /// Property holding the substitute's Zendesk user id (upper case).
    pub substitute_property: String,
    /// Zone of all-day dates and floating times.
    pub time_zone: chrono_tz::Tz,
}

/// 5 minutes.
pub fn default_refresh_secs() -> u64 {
    300
}
pub fn default_fetch_timeout_secs() -> u64 {
    30
}
/// 5 MiB.
pub fn default_max_bytes() -> usize {
    5 * 1024 * 1024
}
pub fn default_agent_property() -> String {
    "X-INTAKE-AGENT-ID".to_owned()
}
pub fn default_substitute_property() -> String {
    "X-INTAKE-SUBSTITUTE-ID".to_owned()
}

/// Who an iCalendar absence belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentRef {
    /// A Zendesk user id (`agent_property`).
    Id(u64),
    /// A lower-case e-mail address (`ATTENDEE`/`ORGANIZER`).
    Email(String),
}

/// One absence read from the document (`absence.agent_id` is 0 for an
/// e-mail reference).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcalAbsence {
    pub agent: AgentRef,
    pub absence: Absence,
}

/// What one document contributed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IcalAbsences {
    pub absences: Vec<IcalAbsence>,
    /// Events not used, with the reason and the event's UID or summary.
    pub skipped: Vec<String>,
}

/// Parses `text`; occurrences of recurring events are made around `now`.
pub fn parse_absences(
    text: &str,
    options: &IcalOptions,
    now: DateTime<Utc>,
) -> Result<IcalAbsences, String> {
    let calendar = Calendar::from_str(text).map_err(|error| format!("not iCalendar: {error}"))?;
    let mut out = IcalAbsences::default();
    let events: Vec<&Event> = calendar
        .components
        .iter()
        .filter_map(|component| match component {
            CalendarComponent::Event(event) => Some(event),
            _ => None,
        })
        .collect();
    // Occurrences moved or changed by an override (an event with the same
    // UID and a RECURRENCE-ID): the override stands for them.
    let mut overridden: Vec<(&str, DateTime<Utc>)> = Vec::new();
    for event in &events {
        if let (Some(uid), Some(id)) = (event.get_uid(), event.get_recurrence_id())
            && let Ok(at) = instant(&id, options.time_zone)
        {
            overridden.push((uid, at));
        }
    }
    for event in events {
        let label = event
            .get_uid()
            .or_else(|| event.get_summary())
            .unwrap_or("(no uid)")
            .to_owned();
        let replaced: Vec<DateTime<Utc>> = match event.get_uid() {
            Some(uid) if event.get_recurrence_id().is_none() => overridden
                .iter()
                .filter(|(u, _)| *u == uid)
                .map(|(_, at)| *at)
                .collect(),
            _ => Vec::new(),
        };
        match absences_of(event, options, now, &replaced) {
            Ok(found) => out.absences.extend(found),
            Err(reason) => out.skipped.push(format!("{reason}: {label}")),
        }
    }
    Ok(out)
}

/// The absences of one event (several for a recurring one), or why none.
fn absences_of(
    event: &Event,
    options: &IcalOptions,
    now: DateTime<Utc>,
    replaced: &[DateTime<Utc>],
) -> Result<Vec<IcalAbsence>, String> {
    if event
        .property_value("STATUS")
        .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
    {
        return Err("cancelled event".into());
    }
    let agent = agent_of(event, options)?;
    let substitute_id = match event.property_value(&options.substitute_property) {
        None => None,
        Some(value) => Some(
            value
                .trim()
                .parse::<u64>()
                .map_err(|_| format!("{} is not a user id", options.substitute_property))?,
        ),
    };
    let start = event.get_start().ok_or("no DTSTART")?;
    let from = instant(&start, options.time_zone)?;
    let to = end_of(event, &start, from, options.time_zone)?;
    if to <= from {
        return Err("DTEND is not after DTSTART".into());
    }
    if (to - from).to_std().unwrap_or_default() > MAX_ABSENCE {
        return Err("longer than a year".into());
    }
    let length = to - from;
    let reason = reason_of(event);
    let mut starts = if is_recurring(event) {
        occurrences(event, &start, options.time_zone, now)?
    } else {
        vec![from]
    };
    starts.retain(|at| !replaced.contains(at));
    Ok(starts
        .into_iter()
        .map(|from| IcalAbsence {
            agent: agent.clone(),
            absence: Absence {
                agent_id: match agent {
                    AgentRef::Id(id) => id,
                    AgentRef::Email(_) => 0,
                },
                from,
                to: from + length,
                reason,
                substitute_id,
            },
        })
        .filter(|a| a.absence.substitute_id != Some(a.absence.agent_id))
        .collect())
}

fn agent_of(event: &Event, options: &IcalOptions) -> Result<AgentRef, String> {
    if let Some(value) = event.property_value(&options.agent_property) {
        return value
            .trim()
            .parse::<u64>()
            .map(AgentRef::Id)
            .map_err(|_| format!("{} is not a user id", options.agent_property));
    }
    let attendee = event
        .multi_properties()
        .get("ATTENDEE")
        .and_then(|all| all.first())
        .map(|p| p.value().to_owned());
    let organizer = event.property_value("ORGANIZER").map(str::to_owned);
    attendee
        .into_iter()
        .chain(organizer)
        .find_map(|value| mailto(&value))
        .map(AgentRef::Email)
        .ok_or_else(|| {
            format!(
                "no agent ({}, ATTENDEE or ORGANIZER mailto)",
                options.agent_property
            )
        })
}

/// The address of a `mailto:` value, lower case.
fn mailto(value: &str) -> Option<String> {
    let value = value.trim();
    let address = value
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("mailto:"))
        .map(|_| &value[7..])?;
    (address.contains('@') && !address.contains(char::is_whitespace))
        .then(|| address.to_ascii_lowercase())
}

fn reason_of(event: &Event) -> AbsenceReason {
    let categories = event
        .multi_properties()
        .get("CATEGORIES")
        .map(|all| all.iter().map(|p| p.value().to_owned()).collect::<Vec<_>>())
        .unwrap_or_default();
    let categories = event
        .property_value("CATEGORIES")
        .map(str::to_owned)
        .into_iter()
        .chain(categories)
        .collect::<Vec<_>>()
        .join(",");
    reason_in(&categories)
        .or_else(|| reason_in(event.get_summary().unwrap_or_default()))
        .unwrap_or(AbsenceReason::Other)
}

fn reason_in(text: &str) -> Option<AbsenceReason> {
    let text = text.to_lowercase().replace(['-', '_'], " ");
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if has(&["lunch"]) {
        Some(AbsenceReason::Lunch)
    } else if has(&["sick"]) {
        Some(AbsenceReason::SickLeave)
    } else if has(&["vacation", "holiday", "leave"]) {
        Some(AbsenceReason::Vacation)
    } else if has(&["day off", "off"]) {
        Some(AbsenceReason::DayOff)
    } else {
        None
    }
}

/// The absences of the iCalendar source as of its last good read, shared
/// by the rulebook and the refresh task.
#[derive(Clone)]
pub struct AbsenceFeed {
    options: Arc<IcalOptions>,
    current: Arc<RwLock<Arc<Vec<IcalAbsence>>>>,
}

impl std::fmt::Debug for AbsenceFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AbsenceFeed")
            .field("options", &self.options)
            .field("absences", &self.current().len())
            .finish()
    }
}

impl PartialEq for AbsenceFeed {
    /// Two feeds are equal when they read the same source the same way.
    fn eq(&self, other: &Self) -> bool {
        self.options == other.options
    }
}

impl Eq for AbsenceFeed {}

impl AbsenceFeed {
    /// A feed with no absences until its first good read.
    pub fn new(options: IcalOptions) -> Self {
        Self {
            options: Arc::new(options),
            current: Arc::default(),
        }
    }

    pub fn options(&self) -> &IcalOptions {
        &self.options
    }

    /// The absences of the last good read.
    pub fn current(&self) -> Arc<Vec<IcalAbsence>> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the absences (a good read).
    pub(crate) fn replace(&self, absences: Vec<IcalAbsence>) {
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(absences);
    }
}

#[cfg(test)]
#[path = "ical_tests.rs"]
mod tests;
