//! `[rulebook.*]`: the support team's rules applied when the router creates
//! a ticket (issue 14). `[rulebook.original_agent]` is rule 4: a new request
//! goes to the agent of the customer's open or recently solved ticket
//! unless that agent is away and the request cannot wait.
//! `[[rulebook.departments]]` (rule 6) is in `rulebook_departments.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use intake_rulebook::{
    AbsenceCalendar, AbsenceFeed, OriginalAgentOptions, Prefer, RulebookOptions,
};
use serde::Deserialize;

use crate::general::parse_choice;
use crate::secret::Ctx;

/// `[rulebook]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRulebook {
    /// Rule 4: the original agent.
    #[serde(default)]
    original_agent: RawOriginalAgent,
    /// Rule 6: requests for other departments, in order (first match wins).
    #[serde(default)]
    departments: Vec<crate::rulebook_departments::RawDepartment>,
}

/// `[rulebook.original_agent]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOriginalAgent {
    /// Apply rule 4 to every new ticket and follow-up.
    #[serde(default)]
    enabled: bool,
    /// A solved or closed ticket updated this many hours before the request
    /// still names its agent (open tickets always do).
    #[serde(default = "default_recent_window_hours")]
    recent_window_hours: u64,
    /// Which side wins when they disagree: `calendar` (the absence calendar
    /// and working hours) or `zendesk` (the agent's live status).
    #[serde(default = "default_prefer")]
    prefer: String,
    /// Zendesk agent statuses (unified status names) that mean at work.
    #[serde(default = "default_available_statuses")]
    available_statuses: Vec<String>,
    /// Typical minutes an agent stays in each other status (built-in or
    /// custom, e.g. `lunch = 60`), counted from when it was set: the
    /// expected return. A status not listed has an unknown return.
    #[serde(default)]
    status_away_mins: BTreeMap<String, u64>,
    /// The planned-absence calendar (TOML, `[[absence]]` tables).
    #[serde(default)]
    absence_file: Option<PathBuf>,
    /// The planned-absence calendar as iCalendar, at a URL or in an `.ics`
    /// file, read again every `refresh_secs` (besides `absence_file`).
    #[serde(default)]
    absence_ical: Option<crate::rulebook_absence_ical::RawAbsenceIcal>,
    /// Each agent's working-hours calendar: Zendesk user id → a
    /// `[calendars.<name>]` name (or `default`).
    #[serde(default)]
    agent_calendars: BTreeMap<String, String>,
}

fn default_recent_window_hours() -> u64 {
    7 * 24
}
fn default_prefer() -> String {
    "calendar".to_owned()
}
fn default_available_statuses() -> Vec<String> {
    vec!["online".to_owned()]
}

impl Default for RawOriginalAgent {
    fn default() -> Self {
        Self {
            enabled: false,
            recent_window_hours: default_recent_window_hours(),
            prefer: default_prefer(),
            available_statuses: default_available_statuses(),
            status_away_mins: BTreeMap::new(),
            absence_file: None,
            absence_ical: None,
            agent_calendars: BTreeMap::new(),
        }
    }
}

/// `[rulebook]`, validated.
pub type RulebookConfig = RulebookOptions;

impl RawRulebook {
    /// Validates against the known calendar names; relative paths are read
    /// from the working directory, like every other path in the config.
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>, calendars: &[&str]) -> RulebookConfig {
        RulebookOptions {
            original_agent: self.original_agent.validate(ctx, calendars),
            departments: crate::rulebook_departments::validate(ctx, self.departments),
        }
    }
}

impl RawOriginalAgent {
    fn validate(self, ctx: &mut Ctx<'_>, calendars: &[&str]) -> OriginalAgentOptions {
        const KEY: &str = "rulebook.original_agent";
        if self.recent_window_hours == 0 {
            ctx.problem(format!("{KEY}.recent_window_hours"), "must be at least 1");
        }
        let choices = [("calendar", Prefer::Calendar), ("zendesk", Prefer::Zendesk)];
        let prefer = parse_choice(&self.prefer, &choices).unwrap_or_else(|message| {
            ctx.problem(format!("{KEY}.prefer"), message);
            Prefer::default()
        });
        let available_statuses: Vec<String> = self
            .available_statuses
            .iter()
            .map(|s| s.trim().to_lowercase())
            .collect();
        if available_statuses.iter().any(String::is_empty) {
            ctx.problem(
                format!("{KEY}.available_statuses"),
                "must not hold an empty status",
            );
        }
        let mut status_away = BTreeMap::new();
        for (status, mins) in self.status_away_mins {
            let status = status.trim().to_lowercase();
            if available_statuses.contains(&status) {
                ctx.problem(
                    format!("{KEY}.status_away_mins.{status}"),
                    "is also in available_statuses",
                );
            }
            status_away.insert(status, Duration::from_secs(mins * 60));
        }
        let mut agent_calendars = BTreeMap::new();
        for (agent, calendar) in self.agent_calendars {
            let key = format!("{KEY}.agent_calendars.{agent}");
            match agent.trim().parse::<u64>() {
                Ok(id) if calendars.contains(&calendar.as_str()) => {
                    agent_calendars.insert(id, calendar);
                }
                Ok(_) => ctx.problem(
                    key,
                    format!(
                        "unknown calendar {calendar:?} (known: {})",
                        calendars.join(", ")
                    ),
                ),
                Err(_) => ctx.problem(key, "the key must be a Zendesk user id"),
            }
        }
        let mut absences = match &self.absence_file {
            None => AbsenceCalendar::default(),
            Some(path) => read_absences(ctx, &format!("{KEY}.absence_file"), path),
        };
        if let Some(raw) = &self.absence_ical
            && let Some(options) = raw.validate(ctx, &format!("{KEY}.absence_ical"))
        {
            absences = absences.with_feed(AbsenceFeed::new(options));
        }
        OriginalAgentOptions {
            enabled: self.enabled,
            recent_window: Duration::from_secs(self.recent_window_hours * 3600),
            prefer,
            available_statuses,
            status_away,
            absences,
            agent_calendars,
        }
    }
}

fn read_absences(ctx: &mut Ctx<'_>, key: &str, path: &std::path::Path) -> AbsenceCalendar {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => {
            ctx.problem(key, format!("cannot read {}: {error}", path.display()));
            return AbsenceCalendar::default();
        }
    };
    AbsenceCalendar::parse(&text).unwrap_or_else(|problems| {
        for problem in problems {
            ctx.problem(key, format!("{}: {problem}", path.display()));
        }
        AbsenceCalendar::default()
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    #[test]
    fn off_by_default_with_documented_defaults() {
        let config = crate::load_from(None, &[], &[]).unwrap();
        let rule4 = &config.rulebook.original_agent;
        assert!(!rule4.enabled);
        assert_eq!(rule4.recent_window.as_secs(), 7 * 24 * 3600);
        assert_eq!(rule4.prefer, intake_rulebook::Prefer::Calendar);
        assert_eq!(rule4.available_statuses, ["online"]);
    }

    #[test]
    fn a_full_section_parses_with_its_absence_file() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[[absence]]\nagent_id = 12\nfrom = \"2026-12-07T00:00:00Z\"\nto = \"2026-12-08T00:00:00Z\"\nreason = \"day_off\"\nsubstitute_id = 13"
        )
        .unwrap();
        let text = format!(
            "[rulebook.original_agent]\nenabled = true\nrecent_window_hours = 48\nprefer = \"zendesk\"\n\
             available_statuses = [\"Online\", \"transfers_only\"]\nabsence_file = {:?}\n\
             [rulebook.original_agent.status_away_mins]\nLunch = 60\n\
             [rulebook.original_agent.agent_calendars]\n\"12\" = \"default\"\n",
            file.path()
        );
        let config = crate::load_from(Some(&text), &[], &[]).unwrap();
        let rule4 = &config.rulebook.original_agent;
        assert!(rule4.enabled);
        assert_eq!(rule4.prefer, intake_rulebook::Prefer::Zendesk);
        assert_eq!(rule4.available_statuses, ["online", "transfers_only"]);
        assert_eq!(rule4.status_away["lunch"].as_secs(), 3600);
        assert_eq!(rule4.agent_calendars[&12], "default");
        assert_eq!(rule4.absences.len(), 1);
    }

    #[test]
    fn every_problem_is_reported_with_its_key_path() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(
            file,
            "[[absence]]\nagent_id = 12\nfrom = \"2026-12-08T00:00:00Z\"\nto = \"2026-12-07T00:00:00Z\"\nreason = \"day_off\""
        )
        .unwrap();
        let text = format!(
            "[rulebook.original_agent]\nrecent_window_hours = 0\nprefer = \"coin\"\nabsence_file = {:?}\n\
             [rulebook.original_agent.agent_calendars]\nann = \"default\"\n\"7\" = \"mars\"\n",
            file.path()
        );
        let errors = crate::load_from(Some(&text), &[], &[]).unwrap_err();
        for key in [
            "rulebook.original_agent.recent_window_hours",
            "rulebook.original_agent.prefer",
            "rulebook.original_agent.absence_file",
            "rulebook.original_agent.agent_calendars.ann",
            "rulebook.original_agent.agent_calendars.7",
        ] {
            assert!(errors.for_key(key).is_some(), "{key}: {errors}");
        }
        let absence = errors
            .for_key("rulebook.original_agent.absence_file")
            .unwrap();
        assert!(
            absence.message.contains("absence[0].to"),
            "{}",
            absence.message
        );
        let unknown = crate::load_from(
            Some("[rulebook.original_agent]\nsubstitute = 1\n"),
            &[],
            &[],
        )
        .unwrap_err();
        assert!(unknown.to_string().contains("substitute"), "{unknown}");
    }
}
