//! `[rulebook.*]`: the support team's rules applied when the router creates
//! a ticket (issue 14). `[rulebook.original_agent]` is rule 4: a new request
//! goes to the agent of the customer's open or recently solved ticket
//! unless that agent is away and the request cannot wait.
//! `[[rulebook.departments]]` (rule 6) is in `rulebook_departments.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use intake_rulebook::{
    AbsenceCalendar, AbsenceFeed, IcalLocation, IcalOptions, OriginalAgentOptions, Prefer,
    RulebookOptions,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::general::parse_choice;
use crate::secret::{Ctx, SecretRef};

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
    absence_ical: Option<RawAbsenceIcal>,
    /// Each agent's working-hours calendar: Zendesk user id → a
    /// `[calendars.<name>]` name (or `default`).
    #[serde(default)]
    agent_calendars: BTreeMap<String, String>,
}

/// `[rulebook.original_agent.absence_ical]` as written: exactly one of
/// `url_env`, `url_file` (the URL is a secret: it often carries a token) and
/// `file`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAbsenceIcal {
    /// Environment variable holding the calendar's URL (https; http only to
    /// a loopback address).
    #[serde(default)]
    url_env: Option<String>,
    /// File holding the calendar's URL.
    #[serde(default)]
    url_file: Option<PathBuf>,
    /// An `.ics` file instead of a URL.
    #[serde(default)]
    file: Option<PathBuf>,
    /// Seconds between reads; a failed read keeps the last good copy.
    #[serde(default = "intake_rulebook::ical::default_refresh_secs")]
    refresh_secs: u64,
    /// Seconds one read may take.
    #[serde(default = "intake_rulebook::ical::default_fetch_timeout_secs")]
    fetch_timeout_secs: u64,
    /// Largest document accepted, in bytes.
    #[serde(default = "intake_rulebook::ical::default_max_bytes")]
    max_bytes: usize,
    /// Event property holding the agent's Zendesk user id; without it the
    /// first ATTENDEE, else the ORGANIZER (mailto) is matched by e-mail.
    #[serde(default = "intake_rulebook::ical::default_agent_property")]
    agent_property: String,
    /// Event property holding the substitute's Zendesk user id.
    #[serde(default = "intake_rulebook::ical::default_substitute_property")]
    substitute_property: String,
    /// IANA time zone of all-day dates and floating times.
    #[serde(default = "default_ical_time_zone")]
    time_zone: String,
}

fn default_ical_time_zone() -> String {
    "UTC".to_owned()
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

impl RawAbsenceIcal {
    fn validate(&self, ctx: &mut Ctx<'_>, key: &str) -> Option<IcalOptions> {
        let given = [
            self.url_env.is_some(),
            self.url_file.is_some(),
            self.file.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            ctx.problem(key, "give exactly one of url_env, url_file and file");
            return None;
        }
        let mut ok = true;
        for (name, value) in [
            ("refresh_secs", self.refresh_secs),
            ("fetch_timeout_secs", self.fetch_timeout_secs),
            ("max_bytes", self.max_bytes as u64),
        ] {
            if value == 0 {
                ctx.problem(format!("{key}.{name}"), "must be at least 1");
                ok = false;
            }
        }
        let time_zone = match self.time_zone.trim().parse::<chrono_tz::Tz>() {
            Ok(zone) => Some(zone),
            Err(_) => {
                ctx.problem(
                    format!("{key}.time_zone"),
                    "must be an IANA time zone name (e.g. Europe/Berlin)",
                );
                None
            }
        };
        let property = |ctx: &mut Ctx<'_>, name: &str, value: &str| {
            let value = value.trim().to_ascii_uppercase();
            let valid =
                !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
            if !valid {
                ctx.problem(
                    format!("{key}.{name}"),
                    "must be an iCalendar property name (letters, digits, `-`)",
                );
            }
            valid.then_some(value)
        };
        let agent_property = property(ctx, "agent_property", &self.agent_property);
        let substitute_property = property(ctx, "substitute_property", &self.substitute_property);
        let location = match &self.file {
            Some(path) => Some(IcalLocation::File(path.clone())),
            None => {
                let url_key = format!("{key}.url");
                let given = if self.url_env.is_some() {
                    format!("{url_key}_env")
                } else {
                    format!("{url_key}_file")
                };
                let secret = SecretRef::new(&self.url_env, &self.url_file).resolve(ctx, &url_key);
                secret.and_then(|url| ical_url(ctx, &given, url.expose_secret()))
            }
        };
        Some(IcalOptions {
            location: location?,
            refresh: Duration::from_secs(self.refresh_secs),
            fetch_timeout: Duration::from_secs(self.fetch_timeout_secs),
            max_bytes: self.max_bytes,
            agent_property: agent_property?,
            substitute_property: substitute_property?,
            time_zone: time_zone?,
        })
        .filter(|_| ok)
    }
}

/// An https URL, or http to a loopback address; problems never show the
/// URL (it may carry a token).
fn ical_url(ctx: &mut Ctx<'_>, key: &str, text: &str) -> Option<IcalLocation> {
    let Ok(url) = url::Url::parse(text.trim()) else {
        ctx.problem(key, "is not a URL");
        return None;
    };
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match url.scheme() {
        "https" if url.host().is_some() => Some(IcalLocation::Url(url)),
        "http" if loopback => Some(IcalLocation::Url(url)),
        "http" => {
            ctx.problem(key, "must be https (http only to a loopback address)");
            None
        }
        _ => {
            ctx.problem(key, "must be an https URL");
            None
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

    #[test]
    fn an_ical_absence_source_parses_with_its_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let url_file = dir.path().join("absence-url");
        std::fs::write(
            &url_file,
            "https://cal.example.test/private-s3cr3t/basic.ics\n",
        )
        .unwrap();
        let text = format!(
            "[rulebook.original_agent]\nenabled = true\n\
             [rulebook.original_agent.absence_ical]\nurl_file = {url_file:?}\n"
        );
        let config = crate::load_from(Some(&text), &[], &[]).unwrap();
        let feed = config.rulebook.original_agent.absences.feed().unwrap();
        let options = feed.options();
        assert_eq!(options.refresh.as_secs(), 300);
        assert_eq!(options.fetch_timeout.as_secs(), 30);
        assert_eq!(options.max_bytes, 5 * 1024 * 1024);
        assert_eq!(options.agent_property, "X-INTAKE-AGENT-ID");
        assert_eq!(options.substitute_property, "X-INTAKE-SUBSTITUTE-ID");
        assert_eq!(options.time_zone, chrono_tz::UTC);
        match &options.location {
            intake_rulebook::IcalLocation::Url(url) => {
                assert_eq!(url.path(), "/private-s3cr3t/basic.ics");
            }
            other => panic!("{other:?}"),
        }
        assert!(!format!("{config:?}").contains("s3cr3t"), "never in Debug");

        let file = "[rulebook.original_agent.absence_ical]\nfile = \"team.ics\"\nrefresh_secs = 60\n\
             agent_property = \"x-agent\"\ntime_zone = \"Europe/Moscow\"\n";
        let config = crate::load_from(Some(file), &[], &[]).unwrap();
        let options = config
            .rulebook
            .original_agent
            .absences
            .feed()
            .unwrap()
            .options();
        assert_eq!(options.agent_property, "X-AGENT");
        assert_eq!(options.time_zone, chrono_tz::Europe::Moscow);
        assert_eq!(options.refresh.as_secs(), 60);
    }

    #[test]
    fn ical_source_problems_have_their_key_path_and_never_the_url() {
        const KEY: &str = "rulebook.original_agent.absence_ical";
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, url: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, url).unwrap();
            path
        };
        let plain = write("plain", "http://cal.example.test/s3cr3t.ics");
        let text = format!(
            "[rulebook.original_agent.absence_ical]\nurl_file = {plain:?}\nrefresh_secs = 0\n\
             max_bytes = 0\ntime_zone = \"Mars/Olympus\"\nagent_property = \"X AGENT\"\n"
        );
        let errors = crate::load_from(Some(&text), &[], &[]).unwrap_err();
        for key in [
            format!("{KEY}.url_file"),
            format!("{KEY}.refresh_secs"),
            format!("{KEY}.max_bytes"),
            format!("{KEY}.time_zone"),
            format!("{KEY}.agent_property"),
        ] {
            assert!(errors.for_key(&key).is_some(), "{key}: {errors}");
        }
        assert!(!errors.to_string().contains("s3cr3t"), "{errors}");
        // http to a loopback address is allowed (tests); an ftp URL is not.
        let loopback = write("loopback", "http://127.0.0.1:8080/team.ics");
        let text = format!("[rulebook.original_agent.absence_ical]\nurl_file = {loopback:?}\n");
        assert!(crate::load_from(Some(&text), &[], &[]).is_ok());
        let ftp = write("ftp", "ftp://cal.example.test/team.ics");
        let text = format!("[rulebook.original_agent.absence_ical]\nurl_file = {ftp:?}\n");
        let errors = crate::load_from(Some(&text), &[], &[]).unwrap_err();
        assert!(
            errors.for_key(&format!("{KEY}.url_file")).is_some(),
            "{errors}"
        );
        // Exactly one source.
        let both = format!(
            "[rulebook.original_agent.absence_ical]\nurl_file = {ftp:?}\nfile = \"team.ics\"\n"
        );
        let errors = crate::load_from(Some(&both), &[], &[]).unwrap_err();
        assert!(errors.for_key(KEY).is_some(), "{errors}");
    }
}
