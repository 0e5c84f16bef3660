//! The planned-absence calendar: a TOML file of absences, one per
//! `[[absence]]` table (agent, from, to, reason, optional substitute).
//!
//! ```toml
//! [[absence]]
//! agent_id = 12
//! from = "2026-12-07T00:00:00+03:00"
//! to = "2026-12-12T00:00:00+03:00"
//! reason = "vacation"
//! substitute_id = 13
//! ```
//! Times are RFC 3339 with an offset; `to` is when the agent is back.
//!
//! Beside (or instead of) the file, an iCalendar source
//! (`[rulebook.original_agent.absence_ical]`, `ical.rs`) adds the absences
//! of its last good read; its events may name the agent by e-mail, which
//! [`AbsenceCalendar::covering`] matches against the agent's Zendesk address.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::ical::{AbsenceFeed, AgentRef};

/// Why an agent is away, as the calendar says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AbsenceReason {
    Lunch,
    SickLeave,
    Vacation,
    DayOff,
    /// Any other planned absence (an iCalendar event whose categories and
    /// summary name none of the above).
    Other,
}

impl AbsenceReason {
    /// How an internal note says it.
    pub fn describe(self) -> &'static str {
        match self {
            AbsenceReason::Lunch => "at lunch",
            AbsenceReason::SickLeave => "on sick leave",
            AbsenceReason::Vacation => "on vacation",
            AbsenceReason::DayOff => "on a day off",
            AbsenceReason::Other => "away (planned absence)",
        }
    }
}

/// One planned absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Absence {
    /// The Zendesk user id of the absent agent.
    pub agent_id: u64,
    pub from: DateTime<Utc>,
    /// When the agent is back.
    pub to: DateTime<Utc>,
    pub reason: AbsenceReason,
    /// Who takes the agent's customers meanwhile (a Zendesk user id).
    pub substitute_id: Option<u64>,
}

/// Every planned absence: the file's, and the iCalendar source's as of its
/// last good read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbsenceCalendar {
    absences: Vec<Absence>,
    feed: Option<AbsenceFeed>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    /// The absences.
    #[serde(default)]
    absence: Vec<RawAbsence>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbsence {
    /// Zendesk user id of the agent.
    agent_id: u64,
    /// Start, RFC 3339.
    from: DateTime<chrono::FixedOffset>,
    /// End (back at work), RFC 3339.
    to: DateTime<chrono::FixedOffset>,
    /// lunch, sick_leave, vacation or day_off.
    reason: AbsenceReason,
    /// Zendesk user id of the substitute.
    #[serde(default)]
    substitute_id: Option<u64>,
}

impl AbsenceCalendar {
    /// A calendar of these absences.
    pub fn new(absences: Vec<Absence>) -> Self {
        Self {
            absences,
            feed: None,
        }
    }

    /// This calendar with the absences of an iCalendar source added.
    pub fn with_feed(mut self, feed: AbsenceFeed) -> Self {
        self.feed = Some(feed);
        self
    }

    /// The iCalendar source, to be refreshed by its task (`AbsenceFeed::run`).
    pub fn feed(&self) -> Option<&AbsenceFeed> {
        self.feed.as_ref()
    }

    /// Whether some absence names its agent by e-mail only (then
    /// [`AbsenceCalendar::covering`] needs the agent's address).
    pub fn names_agents_by_email(&self) -> bool {
        self.feed.as_ref().is_some_and(|feed| {
            feed.current()
                .iter()
                .any(|a| matches!(a.agent, AgentRef::Email(_)))
        })
    }

    /// Parses the file; every problem is reported with its place
    /// (`absence[2].to`), all at once.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let raw: RawFile = toml::from_str(text).map_err(|e| vec![e.message().to_owned()])?;
        let mut problems = Vec::new();
        let mut absences = Vec::with_capacity(raw.absence.len());
        for (index, entry) in raw.absence.into_iter().enumerate() {
            if entry.to <= entry.from {
                problems.push(format!("absence[{index}].to: must be after `from`"));
                continue;
            }
            if entry.substitute_id == Some(entry.agent_id) {
                problems.push(format!(
                    "absence[{index}].substitute_id: an agent cannot substitute for themselves"
                ));
                continue;
            }
            absences.push(Absence {
                agent_id: entry.agent_id,
                from: entry.from.with_timezone(&Utc),
                to: entry.to.with_timezone(&Utc),
                reason: entry.reason,
                substitute_id: entry.substitute_id,
            });
        }
        if problems.is_empty() {
            Ok(Self::new(absences))
        } else {
            Err(problems)
        }
    }

    /// The absence of the agent (`agent_id`, and `agent_email` for
    /// iCalendar events naming the agent by address) at `at`: the one
    /// ending last when several overlap, if any.
    pub fn covering(
        &self,
        agent_id: u64,
        agent_email: Option<&str>,
        at: DateTime<Utc>,
    ) -> Option<Absence> {
        let feed = self.feed.as_ref().map(AbsenceFeed::current);
        let from_feed = feed
            .iter()
            .flat_map(|all| all.iter())
            .filter(|a| match &a.agent {
                AgentRef::Id(id) => *id == agent_id,
                AgentRef::Email(email) => {
                    agent_email.is_some_and(|e| e.eq_ignore_ascii_case(email))
                }
            });
        self.absences
            .iter()
            .filter(|a| a.agent_id == agent_id)
            .chain(from_feed.map(|a| &a.absence))
            .filter(|a| a.from <= at && at < a.to)
            .max_by_key(|a| a.to)
            .map(|a| Absence {
                agent_id,
                ..a.clone()
            })
    }

    /// Absences known now (the file's and the source's last good read).
    pub fn len(&self) -> usize {
        self.absences.len() + self.feed.as_ref().map_or(0, |f| f.current().len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn absences_are_found_by_agent_and_time() {
        let text = r#"
            [[absence]]
            agent_id = 12
            from = "2026-12-07T00:00:00+03:00"
            to = "2026-12-12T00:00:00+03:00"
            reason = "vacation"
            substitute_id = 13

            [[absence]]
            agent_id = 12
            from = "2026-12-02T13:00:00+03:00"
            to = "2026-12-02T14:00:00+03:00"
            reason = "lunch"
        "#;
        let calendar = AbsenceCalendar::parse(text).unwrap();
        assert_eq!(calendar.len(), 2);
        let vacation = calendar
            .covering(12, None, at("2026-12-08T12:00:00+03:00"))
            .unwrap();
        assert_eq!(vacation.reason, AbsenceReason::Vacation);
        assert_eq!(vacation.substitute_id, Some(13));
        assert_eq!(vacation.to, at("2026-12-11T21:00:00Z"));
        let lunch = calendar
            .covering(12, None, at("2026-12-02T13:30:00+03:00"))
            .unwrap();
        assert_eq!(lunch.reason, AbsenceReason::Lunch);
        assert!(
            calendar
                .covering(12, None, at("2026-12-02T14:00:00+03:00"))
                .is_none(),
            "back at `to`"
        );
        assert!(
            calendar
                .covering(99, None, at("2026-12-08T12:00:00+03:00"))
                .is_none()
        );
    }

    #[test]
    fn bad_entries_are_all_reported_with_their_place() {
        let text = r#"
            [[absence]]
            agent_id = 1
            from = "2026-12-07T00:00:00Z"
            to = "2026-12-06T00:00:00Z"
            reason = "day_off"

            [[absence]]
            agent_id = 2
            from = "2026-12-07T00:00:00Z"
            to = "2026-12-08T00:00:00Z"
            reason = "day_off"
            substitute_id = 2
        "#;
        let problems = AbsenceCalendar::parse(text).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("absence[0].to"), "{problems:?}");
        assert!(
            problems[1].starts_with("absence[1].substitute_id"),
            "{problems:?}"
        );
        let unknown = AbsenceCalendar::parse(
            "[[absence]]\nagent_id = 1\nfrom = \"2026-12-07T00:00:00Z\"\nto = \"2026-12-08T00:00:00Z\"\nreason = \"holiday\"\n",
        )
        .unwrap_err();
        assert!(unknown[0].contains("holiday"), "{unknown:?}");
    }
}
