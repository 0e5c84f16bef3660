//! Property tests: for calendars that cover nights, weekends, holidays, a
//! moved working Saturday, shortened pre-holiday days, Europe/Berlin across
//! both daylight-saving changes and Europe/Moscow, with start instants
//! around those dates and anywhere in 2026-2027.

mod common;

use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, LocalResult, TimeDelta, TimeZone, Timelike, Utc};
use common::{at, calendar, moscow};
use intake_calendar::WorkingCalendar;
use proptest::prelude::*;

/// Moscow with a working Saturday (5 Dec 2026), an extra holiday and an
/// extra shortened day, on top of the bundled production calendar.
const MOSCOW_SPECIAL: &str = r#"
[hours]
mon = ["10:00-13:00", "14:00-18:00"]
tue = ["10:00-13:00", "14:00-18:00"]
wed = ["10:00-13:00", "14:00-18:00"]
thu = ["10:00-13:00", "14:00-18:00"]
fri = ["10:00-13:00", "14:00-18:00"]
[[days]]
date = "2026-12-05"
kind = "working"
[[days]]
date = "2026-12-03"
kind = "shortened"
shortened_by_minutes = 90
[[days]]
date = "2026-12-07"
kind = "holiday"
"#;

/// Berlin with night hours across both clock changes (01:00-04:00 is hit
/// by the skipped and the repeated hour) and an ending inside each.
const BERLIN_NIGHTS: &str = r#"
time_zone = "Europe/Berlin"
production_calendar = "none"
[hours]
mon = ["09:00-17:00"]
tue = ["09:00-17:00"]
wed = ["09:00-17:00"]
thu = ["09:00-17:00"]
fri = ["09:00-17:00"]
sat = ["01:00-04:00", "20:00-24:00"]
sun = ["00:00-02:30", "02:45-04:00", "22:00-23:00"]
"#;

/// Berlin round the clock (consecutive days touch at midnight).
const BERLIN_ALWAYS: &str = r#"
time_zone = "Europe/Berlin"
production_calendar = "none"
[hours]
mon = ["00:00-24:00"]
tue = ["00:00-24:00"]
wed = ["00:00-24:00"]
thu = ["00:00-24:00"]
fri = ["00:00-24:00"]
sat = ["00:00-24:00"]
sun = ["00:00-24:00"]
"#;

static CALENDARS: LazyLock<Vec<WorkingCalendar>> = LazyLock::new(|| {
    vec![
        moscow(),
        calendar(MOSCOW_SPECIAL),
        calendar(BERLIN_NIGHTS),
        calendar(BERLIN_ALWAYS),
    ]
});

/// Instants near which things happen: the DST changes, a weekend, the New
/// Year closure, shortened days, the working Saturday, late Friday.
const ANCHORS: &[&str] = &[
    "2026-03-29T01:00:00+00:00",
    "2026-10-25T01:00:00+00:00",
    "2027-03-28T01:00:00+00:00",
    "2027-10-31T01:00:00+00:00",
    "2026-12-04T14:57:00+00:00",
    "2026-12-30T14:00:00+00:00",
    "2026-04-30T13:00:00+00:00",
    "2026-05-08T13:00:00+00:00",
    "2026-03-06T14:00:00+00:00",
    "2027-04-30T13:00:00+00:00",
];

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    let year_start = at("2026-01-01T00:00:00+00:00");
    let near_anchor = (0..ANCHORS.len(), -3 * 86_400i64..3 * 86_400)
        .prop_map(|(index, offset)| at(ANCHORS[index]) + TimeDelta::seconds(offset));
    // The hours right around a clock change or a closing time.
    let close_to_anchor = (0..ANCHORS.len(), -4 * 3600i64..4 * 3600)
        .prop_map(|(index, offset)| at(ANCHORS[index]) + TimeDelta::seconds(offset));
    let anywhere =
        (0..2 * 365 * 86_400i64).prop_map(move |offset| year_start + TimeDelta::seconds(offset));
    prop_oneof![2 => near_anchor, 2 => close_to_anchor, 1 => anywhere]
}

/// Working durations up to 100 hours, in whole seconds.
fn work() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0..3600u64).prop_map(Duration::from_secs),
        (0..100 * 3600u64).prop_map(Duration::from_secs),
    ]
}

fn calendar_index() -> impl Strategy<Value = usize> {
    0..4usize
}

/// Open by reading the local wall clock directly: the day's hours contain
/// the time shown. Only for instants whose local time is not ambiguous,
/// where the crate's first-occurrence rule and a wall clock agree.
fn naive_open(calendar: &WorkingCalendar, at: DateTime<Utc>) -> Option<bool> {
    let local = at.with_timezone(&calendar.time_zone());
    let zone = calendar.time_zone();
    if !matches!(
        zone.from_local_datetime(&local.naive_local()),
        LocalResult::Single(_)
    ) {
        return None;
    }
    let secs = local.num_seconds_from_midnight();
    let hours = calendar.hours_on(local.date_naive());
    Some(hours.intervals().iter().any(|interval| {
        interval.start().secs_from_midnight() <= secs && secs < interval.end().secs_from_midnight()
    }))
}

/// Instants within three hours of a Berlin clock change (2026 and 2027).
fn near_berlin_change() -> impl Strategy<Value = DateTime<Utc>> {
    (0..4usize, -3 * 3600i64..3 * 3600)
        .prop_map(|(index, offset)| at(ANCHORS[index]) + TimeDelta::seconds(offset))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn adding_then_measuring_round_trips(c in calendar_index(), from in instant(), work in work()) {
        let calendar = &CALENDARS[c];
        let due = calendar.deadline(from, work).unwrap();
        prop_assert!(due >= from);
        prop_assert_eq!(calendar.working_time_between(from, due).unwrap(), work);
    }

    #[test]
    fn deadlines_fall_inside_working_hours(c in calendar_index(), from in instant(), work in work()) {
        let calendar = &CALENDARS[c];
        let due = calendar.deadline(from, work).unwrap();
        prop_assert!(calendar.is_within_hours(due), "deadline {} outside hours", due);
        if work >= Duration::from_secs(1) {
            // The last working second was really worked: no closed stretch
            // sits between it and the deadline.
            prop_assert!(calendar.is_open(due - TimeDelta::seconds(1)), "deadline {} after a closed stretch", due);
        }
    }

    #[test]
    fn deadlines_add_up_and_grow_with_the_duration(
        c in calendar_index(), from in instant(), first in work(), second in work()
    ) {
        let calendar = &CALENDARS[c];
        let whole = calendar.deadline(from, first + second).unwrap();
        let part = calendar.deadline(from, first).unwrap();
        prop_assert!(part <= whole);
        if !first.is_zero() && !second.is_zero() {
            prop_assert_eq!(calendar.deadline(part, second).unwrap(), whole);
        }
    }

    #[test]
    fn next_opening_is_open_and_nothing_is_worked_before_it(c in calendar_index(), from in instant()) {
        let calendar = &CALENDARS[c];
        let opening = calendar.next_opening(from).unwrap();
        prop_assert!(opening >= from);
        prop_assert!(calendar.is_open(opening));
        prop_assert_eq!(calendar.working_time_between(from, opening).unwrap(), Duration::ZERO);
        prop_assert_eq!(calendar.is_open(from), opening == from);
    }

    #[test]
    fn berlin_hours_agree_with_the_wall_clock_around_the_changes(at in near_berlin_change(), work in work()) {
        for calendar in &CALENDARS[2..] {
            if let Some(expected) = naive_open(calendar, at) {
                prop_assert_eq!(calendar.is_open(at), expected, "at {}", at);
            }
            let due = calendar.deadline(at, work).unwrap();
            prop_assert_eq!(calendar.working_time_between(at, due).unwrap(), work);
        }
    }

    #[test]
    fn is_open_agrees_with_the_wall_clock(c in calendar_index(), at in instant()) {
        let calendar = &CALENDARS[c];
        if let Some(expected) = naive_open(calendar, at) {
            prop_assert_eq!(calendar.is_open(at), expected, "at {}", at);
        }
    }
}
