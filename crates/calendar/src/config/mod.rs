//! `[calendars.<name>]` and `[sla.policies.<name>]` as written in intake's
//! config, and their validation into [`WorkingTimeConfig`].
//!
//! The config crate deserialises these raw structs as part of its own file,
//! reads the files they name (the closure passed to [`validate`]) and reports
//! the problems returned here with every other problem of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use crate::DEFAULT_CALENDAR;

mod policies;

use crate::bundled;
use crate::calendar::{Layer, WorkingCalendar};
use crate::days::{RawDay, days_to_rules, parse_days_file};
use crate::error::DaysError;
use crate::hours::DayHours;
use crate::ical::parse_ical;
use crate::sla::{Calendars, SlaPolicies};
pub use policies::{RawPolicy, RawSla};

/// `[calendars.<name>]` as written. Every key has a default, so an empty
/// section is the seeds' calendar.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCalendar {
    /// IANA time zone of the hours and dates (`Europe/Moscow`).
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Working hours per weekday; a weekday left out of a written table is
    /// closed.
    #[serde(default = "default_hours")]
    pub hours: RawWeek,
    /// Bundled production calendar laid under every other day source:
    /// `"ru"` (Russia 2026–2027) or `"none"`.
    #[serde(default = "default_production_calendar")]
    pub production_calendar: String,
    /// A days file in intake's TOML format (see `docs/calendar.md`).
    #[serde(default)]
    pub holidays_file: Option<PathBuf>,
    /// An iCalendar file whose all-day events are holidays (see the
    /// convention in `docs/calendar.md`).
    #[serde(default)]
    pub ical_file: Option<PathBuf>,
    /// An iCalendar URL (http or https), fetched at start and every
    /// `refresh_secs`; the last good copy is kept when a fetch fails.
    #[serde(default)]
    pub ical_url: Option<String>,
    /// Seconds between fetches of `ical_url`.
    #[serde(default = "default_refresh_secs")]
    pub refresh_secs: u64,
    /// Extra days written inline; they win over every other source.
    #[serde(default)]
    pub days: Vec<RawDay>,
}

impl Default for RawCalendar {
    fn default() -> Self {
        Self {
            time_zone: default_time_zone(),
            hours: default_hours(),
            production_calendar: default_production_calendar(),
            holidays_file: None,
            ical_file: None,
            ical_url: None,
            refresh_secs: default_refresh_secs(),
            days: Vec::new(),
        }
    }
}

/// `[calendars.<name>.hours]`: intervals `"HH:MM-HH:MM"` per weekday.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWeek {
    /// Monday.
    #[serde(default)]
    pub mon: Vec<String>,
    /// Tuesday.
    #[serde(default)]
    pub tue: Vec<String>,
    /// Wednesday.
    #[serde(default)]
    pub wed: Vec<String>,
    /// Thursday.
    #[serde(default)]
    pub thu: Vec<String>,
    /// Friday.
    #[serde(default)]
    pub fri: Vec<String>,
    /// Saturday.
    #[serde(default)]
    pub sat: Vec<String>,
    /// Sunday.
    #[serde(default)]
    pub sun: Vec<String>,
}

pub fn default_time_zone() -> String {
    "Europe/Moscow".to_owned()
}
pub fn default_hours() -> RawWeek {
    let office = || vec!["10:00-18:00".to_owned()];
    RawWeek {
        mon: office(),
        tue: office(),
        wed: office(),
        thu: office(),
        fri: office(),
        sat: Vec::new(),
        sun: Vec::new(),
    }
}
pub fn default_production_calendar() -> String {
    bundled::RU.to_owned()
}
pub fn default_refresh_secs() -> u64 {
    3600
}

/// An iCalendar URL to fetch for one calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IcalFeed {
    pub calendar: String,
    pub url: url::Url,
    pub refresh: Duration,
}

/// Calendars and SLA policies, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingTimeConfig {
    /// The policies with every calendar they can name.
    pub sla: SlaPolicies,
    /// iCalendar URLs to refresh (the calendars start without those days).
    pub ical_feeds: Vec<IcalFeed>,
}

/// One problem, at a key path such as `calendars.support.hours.mon[1]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub key: String,
    pub message: String,
}

/// Validates both sections. `read_file` returns a file's text (or why it
/// cannot be read); `known_channels` are the channel names policies may
/// name. Returns usable values even with problems (bad parts fall back to
/// their defaults), and every problem.
pub fn validate(
    calendars: BTreeMap<String, RawCalendar>,
    sla: RawSla,
    known_channels: &[&str],
    read_file: &dyn Fn(&Path) -> Result<String, String>,
) -> (WorkingTimeConfig, Vec<ConfigProblem>) {
    let mut problems = Problems::default();
    let mut raw_calendars = calendars;
    raw_calendars
        .entry(DEFAULT_CALENDAR.to_owned())
        .or_default();
    let mut built = Calendars::default();
    let mut ical_feeds = Vec::new();
    for (name, raw) in raw_calendars {
        let key = format!("calendars.{name}");
        check_name(&mut problems, &key, &name);
        let (calendar, feed) = build_calendar(&mut problems, &key, &name, raw, read_file);
        built.insert(calendar);
        ical_feeds.extend(feed);
    }
    let policies = policies::build_policies(&mut problems, sla, known_channels, &built);
    let config = WorkingTimeConfig {
        sla: SlaPolicies::new(policies, built),
        ical_feeds,
    };
    (config, problems.list)
}

#[derive(Default)]
pub(crate) struct Problems {
    list: Vec<ConfigProblem>,
}

impl Problems {
    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.list.push(ConfigProblem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// A day list's problems under `key` (`day[3].date` → `key: day[3].date: …`
    /// for files, `key.days[3].date` for inline days).
    fn days(&mut self, key: &str, error: DaysError, inline: bool) {
        for problem in error.problems {
            if inline {
                self.push(format!("{key}.{}", problem.path), problem.message);
            } else {
                self.push(key, format!("{}: {}", problem.path, problem.message));
            }
        }
    }
}

pub(crate) fn check_name(problems: &mut Problems, key: &str, name: &str) {
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        problems.push(
            key,
            format!("{name:?} is not a valid name (lower-case letters, digits and _)"),
        );
    }
}

fn build_calendar(
    problems: &mut Problems,
    key: &str,
    name: &str,
    raw: RawCalendar,
    read_file: &dyn Fn(&Path) -> Result<String, String>,
) -> (WorkingCalendar, Option<IcalFeed>) {
    let time_zone = raw.time_zone.trim().parse::<Tz>().unwrap_or_else(|_| {
        problems.push(
            format!("{key}.time_zone"),
            format!(
                "unknown time zone {:?} (an IANA name such as Europe/Moscow)",
                raw.time_zone
            ),
        );
        chrono_tz::Europe::Moscow
    });
    let reported = problems.list.len();
    let week = build_week(problems, &format!("{key}.hours"), &raw.hours);
    let hours_were_bad = problems.list.len() > reported;
    let mut calendar = WorkingCalendar::new(name, time_zone, week).unwrap_or_else(|_| {
        // Bad items fall back to closed days; say so only when it is not a
        // consequence of a problem already reported.
        if !hours_were_bad {
            problems.push(format!("{key}.hours"), "no weekday has working hours");
        }
        WorkingCalendar::seeds_default(name)
    });
    match raw.production_calendar.trim() {
        "none" => {}
        bundled::RU => match bundled::ru_production_days() {
            Ok(days) => calendar.set_layer(Layer::Bundled, days.rules),
            Err(error) => problems.push(
                format!("{key}.production_calendar"),
                format!("the bundled calendar is broken: {error}"),
            ),
        },
        other => problems.push(
            format!("{key}.production_calendar"),
            format!("unknown production calendar {other:?} (known: ru, none)"),
        ),
    }
    if let Some(path) = &raw.holidays_file {
        let file_key = format!("{key}.holidays_file");
        match read_file(path).map(|text| parse_days_file(&text)) {
            Err(error) => problems.push(
                &file_key,
                format!("cannot read {}: {error}", path.display()),
            ),
            Ok(Err(error)) => problems.days(&file_key, error, false),
            Ok(Ok(days)) => calendar.set_layer(Layer::File, days.rules),
        }
    }
    if let Some(path) = &raw.ical_file {
        let file_key = format!("{key}.ical_file");
        match read_file(path).map(|text| parse_ical(&text)) {
            Err(error) => problems.push(
                &file_key,
                format!("cannot read {}: {error}", path.display()),
            ),
            Ok(Err(error)) => problems.days(&file_key, error, false),
            Ok(Ok(days)) => calendar.set_layer(Layer::Ical, days.rules),
        }
    }
    let feed = raw.ical_url.as_deref().and_then(|url| {
        ical_feed(
            problems,
            key,
            name,
            url,
            raw.refresh_secs,
            raw.ical_file.is_some(),
        )
    });
    match days_to_rules(&raw.days, "days") {
        Ok(rules) => calendar.set_layer(Layer::Inline, rules),
        Err(error) => problems.days(key, error, true),
    }
    (calendar, feed)
}

fn ical_feed(
    problems: &mut Problems,
    key: &str,
    name: &str,
    url: &str,
    refresh_secs: u64,
    has_file: bool,
) -> Option<IcalFeed> {
    if has_file {
        problems.push(
            format!("{key}.ical_url"),
            "conflicts with ical_file: give one iCalendar source",
        );
        return None;
    }
    if refresh_secs == 0 {
        problems.push(format!("{key}.refresh_secs"), "must be at least 1");
        return None;
    }
    match url::Url::parse(url.trim()) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(IcalFeed {
                calendar: name.to_owned(),
                url,
                refresh: Duration::from_secs(refresh_secs),
            })
        }
        _ => {
            problems.push(format!("{key}.ical_url"), "must be an http or https URL");
            None
        }
    }
}

fn build_week(problems: &mut Problems, key: &str, raw: &RawWeek) -> [DayHours; 7] {
    let days: [(&str, &Vec<String>); 7] = [
        ("mon", &raw.mon),
        ("tue", &raw.tue),
        ("wed", &raw.wed),
        ("thu", &raw.thu),
        ("fri", &raw.fri),
        ("sat", &raw.sat),
        ("sun", &raw.sun),
    ];
    days.map(|(day, items)| {
        DayHours::parse_list(items).unwrap_or_else(|errors| {
            for (index, error) in errors {
                problems.push(format!("{key}.{day}[{index}]"), error.to_string());
            }
            DayHours::closed()
        })
    })
}
