//! `[calendars.*]` and `[sla]` in the config: check-config's view. Their
//! problems come with key paths, together with every other problem.

mod common;

use std::time::Duration;

use chrono::DateTime;
use common::env;
use common::load_for;
use common::load_from;
use intake_config::Needs;

const BROKEN: &str = r#"
[zendesk]
requests_per_minute = 0

[calendars.support]
time_zone = "Mars/Olympus_Mons"
holidays_file = "HOLIDAYS"

[calendars.support.hours]
mon = ["10:00-14:00", "13:00-18:00"]
tue = ["18:00-10:00"]
fri = ["10:00-18:00"]

[[calendars.support.days]]
date = "2026-04-31"
kind = "holiday"

[sla.policies.chat]
calendar = "suport"

[sla.policies.vip]
channels = ["email"]
priorities = ["urgent"]
first_response_working_minutes = 60
calendar = "nowhere"
"#;

#[test]
fn check_config_reports_calendar_problems_with_key_paths_and_everything_else() {
    let dir = tempfile::tempdir().unwrap();
    let holidays = dir.path().join("holidays.toml");
    std::fs::write(
        &holidays,
        "source = \"team\"\n[[day]]\ndate = \"2026-13-01\"\nkind = \"holiday\"\n",
    )
    .unwrap();
    let text = BROKEN.replace("HOLIDAYS", &holidays.display().to_string());
    let file = dir.path().join("intake.toml");
    std::fs::write(&file, text).unwrap();

    let errors = load_for(Some(&file), Needs::default()).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    for (key, says) in [
        ("zendesk.requests_per_minute", ""),
        (
            "calendars.support.time_zone",
            "unknown time zone \"Mars/Olympus_Mons\"",
        ),
        ("calendars.support.hours.mon[1]", "overlaps 10:00-14:00"),
        ("calendars.support.hours.tue[0]", "ends before it starts"),
        (
            "calendars.support.days[0].date",
            "\"2026-04-31\" is not a date on the calendar",
        ),
        (
            "calendars.support.holidays_file",
            "day[0].date: \"2026-13-01\"",
        ),
        ("sla.policies.chat.calendar", "unknown calendar \"suport\""),
        ("sla.policies.vip.calendar", "unknown calendar \"nowhere\""),
    ] {
        let problem = errors
            .for_key(key)
            .unwrap_or_else(|| panic!("{key} not reported; got {keys:?}"));
        assert!(problem.message.contains(says), "{problem}");
    }
    assert_eq!(errors.problems.len(), 8, "{errors}");
}

#[test]
fn unknown_keys_in_the_new_sections_are_refused() {
    let errors = load_from(
        Some(
            "[calendars.support]\ntimezone = \"Europe/Moscow\"\n[sla.policies.chat]\nminutes = 5\n",
        ),
        &[],
    )
    .unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        ["calendars.support.timezone", "sla.policies.chat.minutes"],
        "{errors}"
    );
}

#[test]
fn no_section_gives_the_seeds_calendar_and_policies() {
    let config = load_from(None, &[]).unwrap();
    let friday = DateTime::parse_from_rfc3339("2026-12-04T17:57:00+03:00")
        .unwrap()
        .to_utc();
    let chat = config
        .working_time
        .sla
        .first_response_deadline("chat", None, friday)
        .unwrap();
    assert_eq!(chat.due_at.to_rfc3339(), "2026-12-07T07:02:00+00:00");
    assert!(config.working_time.ical_feeds.is_empty());
}

#[test]
fn the_environment_overrides_hours_and_policies() {
    let config = load_from(
        None,
        &env(&[
            (
                "INTAKE__CALENDARS__DEFAULT__HOURS__MON",
                "09:00-13:00,14:00-19:00",
            ),
            (
                "INTAKE__SLA__POLICIES__CHAT__FIRST_RESPONSE_WORKING_MINUTES",
                "10",
            ),
            ("INTAKE__SLA__POLICIES__VIP__CHANNELS", "email,chat"),
            ("INTAKE__SLA__POLICIES__VIP__PRIORITIES", "urgent"),
            (
                "INTAKE__SLA__POLICIES__VIP__FIRST_RESPONSE_WORKING_MINUTES",
                "15",
            ),
        ]),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let sla = &config.working_time.sla;
    let calendar = sla.calendars().get("default").unwrap();
    assert_eq!(
        calendar.weekday_hours(chrono::Weekday::Mon).to_string(),
        "09:00-13:00, 14:00-19:00"
    );
    assert_eq!(
        sla.policy_for("chat", None).unwrap().first_response,
        Duration::from_secs(600)
    );
    let vip = sla
        .policy_for("chat", Some(intake_calendar::Priority::Urgent))
        .unwrap();
    assert_eq!(vip.name, "vip");
    assert_eq!(vip.first_response, Duration::from_secs(900));
}

const EXAMPLE: &str = include_str!("../../../config/intake.example.toml");

#[test]
fn the_example_documents_every_key_of_the_new_sections() {
    let probe = "[calendars.x]\nx=1\n[calendars.x.hours]\nx=1\n[[calendars.x.days]]\nx=1\n\
                 [sla]\nx=1\n[sla.policies.x]\nx=1\n";
    let errors = load_from(Some(probe), &[]).unwrap_err();
    let unknown: Vec<_> = errors
        .problems
        .iter()
        .filter(|p| p.message.starts_with("unknown key"))
        .collect();
    assert_eq!(unknown.len(), 5, "one unknown key per section: {errors}");
    for problem in unknown {
        let expected = problem.message.split_once("expected ").unwrap().1;
        for key in expected.split('`').skip(1).step_by(2) {
            assert!(
                EXAMPLE.contains(&format!("{key} = "))
                    || EXAMPLE.contains(&format!(".{key}."))
                    || EXAMPLE.contains(&format!(".{key}]")),
                "{}: {key} is not in the example",
                problem.key
            );
        }
    }
    // That the example's policies load is checked with every registered
    // channel in crates/app/tests/example_config.rs.
}
