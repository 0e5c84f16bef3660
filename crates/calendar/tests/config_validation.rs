//! `[calendars.*]` and `[sla.policies.*]` validation: every problem with its
//! key path, all at once; policies laid over the seeds' defaults.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use common::{CHANNELS, at};
use intake_calendar::Priority;
use intake_calendar::config::{ConfigProblem, RawCalendar, RawSla, WorkingTimeConfig, validate};

/// Parses `[calendars]` and `[sla]` from one TOML text; files come from `files`.
fn check(text: &str, files: &[(&str, &str)]) -> (WorkingTimeConfig, Vec<ConfigProblem>) {
    #[derive(serde::Deserialize)]
    struct Sections {
        #[serde(default)]
        calendars: BTreeMap<String, RawCalendar>,
        #[serde(default)]
        sla: RawSla,
    }
    let sections: Sections = toml::from_str(text).unwrap_or_else(|e| panic!("{e}"));
    let files: BTreeMap<String, String> = files
        .iter()
        .map(|(p, t)| ((*p).to_owned(), (*t).to_owned()))
        .collect();
    let read = move |path: &Path| {
        files
            .get(path.to_str().unwrap())
            .cloned()
            .ok_or_else(|| "No such file or directory".to_owned())
    };
    validate(sections.calendars, sections.sla, CHANNELS, &read)
}

fn keys(problems: &[ConfigProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn every_problem_is_reported_at_once_with_its_key() {
    let text = r#"
[calendars.support]
time_zone = "Europe/Moskva"
[calendars.support.hours]
mon = ["10:00-13:00", "12:00-18:00"]
tue = ["18:00-10:00"]
wed = ["10-18"]
[[calendars.support.days]]
date = "2026-02-30"
kind = "holiday"
[[calendars.support.days]]
date = "2026-03-01"
kind = "vacation"

[calendars.berlin]
time_zone = "Europe/Berlin"
holidays_file = "de.toml"
ical_url = "ftp://example.com/holidays.ics"

[sla.policies.chat]
calendar = "suport"
[sla.policies.vip]
channels = ["email", "fax"]
priorities = ["urgent", "asap"]
first_response_working_minutes = 0
"#;
    let de = "source = \"test\"\n[[day]]\ndate = \"2026-10-03\"\nkind = \"holiday\"\n[[day]]\ndate = \"03.10.2026\"\nkind = \"holiday\"\n";
    let (_, problems) = check(text, &[("de.toml", de)]);
    let mut got = keys(&problems);
    got.sort();
    assert_eq!(
        got,
        [
            "calendars.berlin.holidays_file",
            "calendars.berlin.ical_url",
            "calendars.support.days[0].date",
            "calendars.support.days[1].kind",
            "calendars.support.hours.mon[1]",
            "calendars.support.hours.tue[0]",
            "calendars.support.hours.wed[0]",
            "calendars.support.time_zone",
            "sla.policies.chat.calendar",
            "sla.policies.vip.channels[1]",
            "sla.policies.vip.first_response_working_minutes",
            "sla.policies.vip.priorities[1]",
        ],
        "{problems:#?}"
    );
    let message = |key: &str| &problems.iter().find(|p| p.key == key).unwrap().message;
    assert!(message("calendars.support.time_zone").contains("unknown time zone \"Europe/Moskva\""));
    assert!(message("calendars.support.hours.mon[1]").contains("overlaps 10:00-13:00"));
    assert!(message("calendars.support.hours.tue[0]").contains("ends before it starts"));
    assert!(message("calendars.support.days[0].date").contains("not a date on the calendar"));
    assert!(message("calendars.berlin.holidays_file").starts_with("day[1].date:"));
    assert!(
        message("sla.policies.chat.calendar")
            .contains("unknown calendar \"suport\" (known: berlin, default, support)")
    );
}

#[test]
fn unreadable_files_and_calendars_without_hours_are_reported() {
    let text = r#"
[calendars.night]
ical_file = "missing.ics"
[calendars.night.hours]
[calendars.broken]
ical_file = "broken.ics"
"#;
    let (_, problems) = check(
        text,
        &[("broken.ics", "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n")],
    );
    let mut got = keys(&problems);
    got.sort();
    assert_eq!(
        got,
        [
            "calendars.broken.ical_file",
            "calendars.night.hours",
            "calendars.night.ical_file"
        ],
        "{problems:#?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.message.contains("cannot read missing.ics"))
    );
}

#[test]
fn names_must_be_usable_as_keys_and_tags() {
    let (_, problems) = check(
        "[calendars.Support]\n[sla.policies.\"mail policy\"]\nchannels=[\"email\"]\nfirst_response_working_minutes=60\npriorities=[\"high\"]\n",
        &[],
    );
    let mut got = keys(&problems);
    got.sort();
    assert_eq!(got, ["calendars.Support", "sla.policies.mail policy"]);
}

#[test]
fn two_policies_for_the_same_channel_and_priority_are_refused() {
    let (_, problems) = check(
        "[sla.policies.mail]\nchannels=[\"email\"]\nfirst_response_working_minutes=60\n",
        &[],
    );
    assert_eq!(
        keys(&problems),
        ["sla.policies.mail.channels"],
        "{problems:#?}"
    );
    assert!(
        problems[0]
            .message
            .contains("already covered by policy \"email\"")
    );
}

#[test]
fn defaults_are_the_seeds_and_overrides_change_only_what_they_name() {
    let (config, problems) = check("", &[]);
    assert!(problems.is_empty());
    let names: Vec<&str> = config
        .sla
        .policies()
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names, ["chat", "email", "messengers", "slack"]);
    let minutes = |config: &WorkingTimeConfig, name: &str| {
        config
            .sla
            .policies()
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.first_response.as_secs() / 60)
    };
    assert_eq!(minutes(&config, "email"), Some(720));
    assert_eq!(minutes(&config, "chat"), Some(5));
    assert_eq!(minutes(&config, "messengers"), Some(30));
    assert_eq!(minutes(&config, "slack"), Some(120));

    let text = r#"
[calendars.night]
time_zone = "Europe/Berlin"
production_calendar = "none"
[calendars.night.hours]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
[sla.policies.chat]
first_response_working_minutes = 10
[sla.policies.slack]
enabled = false
[sla.policies.email_urgent]
channels = ["email"]
priorities = ["urgent", "high"]
first_response_working_minutes = 60
calendar = "night"
"#;
    let (config, problems) = check(text, &[]);
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(minutes(&config, "chat"), Some(10));
    let chat = config
        .sla
        .policies()
        .iter()
        .find(|p| p.name == "chat")
        .unwrap();
    assert_eq!(
        chat.channels,
        ["chat"],
        "channels kept from the built-in policy"
    );
    assert_eq!(minutes(&config, "slack"), None);
    let friday = at("2026-12-04T17:57:00+03:00");
    let urgent = config
        .sla
        .first_response_deadline("email", Some(Priority::Urgent), friday)
        .unwrap();
    assert_eq!(urgent.policy, "email_urgent");
    assert_eq!(urgent.calendar, "night");
    // Saturday 00:00 Berlin is Friday 23:00 UTC... plus 60 minutes.
    assert_eq!(urgent.due_at, at("2026-12-05T01:00:00+01:00"));
    let normal = config
        .sla
        .first_response_deadline("email", Some(Priority::Normal), friday)
        .unwrap();
    assert_eq!(normal.policy, "email");
    assert!(
        config
            .sla
            .first_response_deadline("slack", None, friday)
            .is_err()
    );
    assert_eq!(
        config.sla.policy_for("email", None).unwrap().first_response,
        Duration::from_secs(720 * 60)
    );
}

#[test]
fn an_ical_url_becomes_a_feed() {
    let (config, problems) = check(
        "[calendars.support]\nical_url = \"https://holidays.example/ru.ics\"\nrefresh_secs = 600\n",
        &[],
    );
    assert!(problems.is_empty(), "{problems:#?}");
    assert_eq!(config.ical_feeds.len(), 1);
    assert_eq!(config.ical_feeds[0].calendar, "support");
    assert_eq!(config.ical_feeds[0].refresh, Duration::from_secs(600));
    let (_, problems) = check(
        "[calendars.support]\nical_url = \"https://h.example/x.ics\"\nrefresh_secs = 0\n",
        &[],
    );
    assert_eq!(keys(&problems), ["calendars.support.refresh_secs"]);
}
