//! The bundled production calendar, days files and iCalendar documents.

mod common;

use chrono::{Datelike, NaiveDate, Weekday};
use common::moscow;
use intake_calendar::bundled::ru_production_days;
use intake_calendar::{DayRule, parse_days_file, parse_ical};

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

/// Working days and working hours of a year on the seeds' calendar.
fn year_totals(year: i32) -> (usize, u32) {
    let calendar = moscow();
    let mut days = 0;
    let mut minutes = 0;
    let mut day = NaiveDate::from_ymd_opt(year, 1, 1).unwrap();
    while day.year() == year {
        let hours = calendar.hours_on(day);
        if !hours.is_closed() {
            days += 1;
            for interval in hours.intervals() {
                minutes += (interval.end().secs_from_midnight()
                    - interval.start().secs_from_midnight())
                    / 60;
            }
        }
        day = day.succ_opt().unwrap();
    }
    (days, minutes / 60)
}

#[test]
fn the_2026_calendar_matches_the_decree() {
    let days = ru_production_days().expect("bundled data parses");
    assert!(days.source.contains("1466"));
    let rule = |d: &str| days.rules.get(&date(d)).cloned();
    for holiday in [
        "2026-01-01",
        "2026-01-07",
        "2026-01-08",
        "2026-02-23",
        "2026-03-08",
        "2026-05-01",
        "2026-05-09",
        "2026-06-12",
        "2026-11-04",
    ] {
        assert_eq!(rule(holiday), Some(DayRule::Holiday), "{holiday}");
    }
    // Decree 1466: 3 Jan -> 9 Jan, 4 Jan -> 31 Dec; art. 112: 8 Mar -> 9 Mar, 9 May -> 11 May.
    for day_off in ["2026-01-09", "2026-03-09", "2026-05-11", "2026-12-31"] {
        assert_eq!(rule(day_off), Some(DayRule::DayOff), "{day_off}");
    }
    for shortened in ["2026-04-30", "2026-05-08", "2026-06-11", "2026-11-03"] {
        assert_eq!(
            rule(shortened),
            Some(DayRule::Shortened { by_minutes: 60 }),
            "{shortened}"
        );
    }
    // Published totals for 2026 (five-day week): 247 working days; with four
    // shortened days, 247 * 8 - 4 = 1972 hours.
    assert_eq!(year_totals(2026), (247, 1972));
    assert!(
        days.derived.iter().all(|d| d.year() == 2027),
        "no 2026 entry is derived"
    );
}

#[test]
fn the_2027_calendar_is_derived_and_says_so() {
    let days = ru_production_days().unwrap();
    let derived: Vec<String> = days.derived.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        derived,
        [
            "2027-02-22",
            "2027-04-30",
            "2027-05-03",
            "2027-05-10",
            "2027-06-11",
            "2027-06-14",
            "2027-11-03",
            "2027-12-31"
        ]
    );
    for day_off in ["2027-05-03", "2027-05-10", "2027-06-14"] {
        assert_eq!(date(day_off).weekday(), Weekday::Mon, "{day_off}");
    }
    // 261 weekdays less 12 weekday holidays and days off; the two January
    // days the decree will move are not in the data.
    assert_eq!(year_totals(2027).0, 249);
}

#[test]
fn a_days_file_lays_its_rules() {
    let file = parse_days_file(
        r#"
source = "team"
[[day]]
date = "2026-12-05"
kind = "working"
like = "fri"
shortened_by_minutes = 30
[[day]]
date = "2026-12-24"
kind = "hours"
hours = ["10:00-12:00", "13:00-15:00"]
"#,
    )
    .unwrap();
    assert_eq!(
        file.rules[&date("2026-12-05")],
        DayRule::Working {
            like: Some(Weekday::Fri),
            shortened_by_minutes: 30
        }
    );
    let DayRule::Hours(hours) = &file.rules[&date("2026-12-24")] else {
        panic!("hours expected");
    };
    assert_eq!(hours.to_string(), "10:00-12:00, 13:00-15:00");
}

const FEED: &str = "BEGIN:VCALENDAR\r\n\
VERSION:2.0\r\n\
PRODID:-//test//holidays//EN\r\n\
BEGIN:VEVENT\r\n\
UID:ny@test\r\n\
DTSTART;VALUE=DATE:20270101\r\n\
DTEND;VALUE=DATE:20270109\r\n\
SUMMARY:Новогодние каникулы\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:short@test\r\n\
DTSTART;VALUE=DATE:20270222\r\n\
SUMMARY:Сокращённый рабочий день\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:sat@test\r\n\
DTSTART;VALUE=DATE:20270220\r\n\
CATEGORIES:WORKING\r\n\
SUMMARY:Moved working day\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:off@test\r\n\
DTSTART;VALUE=DATE:20270222\r\n\
DURATION:P1D\r\n\
CATEGORIES:Company,DAY-OFF\r\n\
SUMMARY:Team day\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:meeting@test\r\n\
DTSTART:20270301T100000Z\r\n\
DTEND:20270301T110000Z\r\n\
SUMMARY:Meeting\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:yearly@test\r\n\
DTSTART;VALUE=DATE:20270312\r\n\
RRULE:FREQ=YEARLY\r\n\
SUMMARY:Yearly\r\n\
END:VEVENT\r\n\
BEGIN:VEVENT\r\n\
UID:cancelled@test\r\n\
DTSTART;VALUE=DATE:20270313\r\n\
STATUS:CANCELLED\r\n\
SUMMARY:Cancelled\r\n\
END:VEVENT\r\n\
END:VCALENDAR\r\n";

#[test]
fn an_icalendar_feed_follows_the_convention() {
    let days = parse_ical(FEED).unwrap();
    let rule = |d: &str| days.rules.get(&date(d)).cloned();
    // DTEND is exclusive: 1-8 January.
    assert_eq!(rule("2027-01-01"), Some(DayRule::Holiday));
    assert_eq!(rule("2027-01-08"), Some(DayRule::Holiday));
    assert_eq!(rule("2027-01-09"), None);
    // CATEGORIES wins; a later event for the same date replaces an earlier one.
    assert_eq!(
        rule("2027-02-20"),
        Some(DayRule::Working {
            like: None,
            shortened_by_minutes: 0
        })
    );
    assert_eq!(rule("2027-02-22"), Some(DayRule::DayOff));
    // Timed, recurring and cancelled events are skipped and reported.
    assert_eq!(rule("2027-03-01"), None);
    assert_eq!(rule("2027-03-12"), None);
    assert_eq!(rule("2027-03-13"), None);
    assert_eq!(days.skipped.len(), 3, "{:?}", days.skipped);
    assert!(
        days.skipped
            .iter()
            .any(|s| s.contains("recurring") && s.contains("yearly@test"))
    );
}

#[test]
fn summaries_decide_without_categories() {
    let one = |summary: &str| {
        let text = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;VALUE=DATE:20270222\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        );
        parse_ical(&text).unwrap().rules[&date("2027-02-22")].clone()
    };
    assert_eq!(
        one("Предпраздничный день"),
        DayRule::Shortened { by_minutes: 60 }
    );
    assert_eq!(one("Нерабочий день"), DayRule::Holiday);
    assert_eq!(
        one("Рабочий день (перенос)"),
        DayRule::Working {
            like: None,
            shortened_by_minutes: 0
        }
    );
    assert_eq!(one("День защитника Отечества"), DayRule::Holiday);
}

#[test]
fn broken_icalendar_is_an_error() {
    assert!(parse_ical("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n").is_err());
    assert!(parse_ical("not a calendar at all").is_err());
}
