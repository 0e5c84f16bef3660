//! Hand-computed deadlines. Each row says why its answer is what it is.
//! Offsets in the instants: Moscow is always +03:00; Berlin is +01:00 (CET)
//! before 29 March 2026 02:00 and after 25 October 2026 03:00, +02:00
//! (CEST) between.

mod common;

use std::time::Duration;

use common::{at, calendar, moscow, working_time};
use intake_calendar::WorkingCalendar;

const MIN: u64 = 60;
const HOUR: u64 = 3600;

/// Monday to Friday 10-13 and 14-18 in Moscow (a lunch break).
const LUNCH: &str = r#"
[hours]
mon = ["10:00-13:00", "14:00-18:00"]
tue = ["10:00-13:00", "14:00-18:00"]
wed = ["10:00-13:00", "14:00-18:00"]
thu = ["10:00-13:00", "14:00-18:00"]
fri = ["10:00-13:00", "14:00-18:00"]
"#;

/// The seeds' calendar plus a working Saturday, 5 December 2026, with
/// Friday's hours.
const WORKING_SATURDAY: &str = r#"
[[days]]
date = "2026-12-05"
kind = "working"
like = "fri"
"#;

/// Berlin, round the clock every day.
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

fn berlin_sunday(hours: &str) -> String {
    format!(
        "time_zone = \"Europe/Berlin\"\nproduction_calendar = \"none\"\n[hours]\nmon = [\"10:00-18:00\"]\nsun = [\"{hours}\"]\n"
    )
}

struct Case {
    why: &'static str,
    calendar: &'static str,
    from: &'static str,
    work_secs: u64,
    due: &'static str,
}

const CASES: &[Case] = &[
    Case {
        why: "chat policy: Friday 17:57 leaves 3 working minutes, the other 2 are Monday 10:00-10:02 (4 Dec 2026 is an ordinary Friday)",
        calendar: "moscow",
        from: "2026-12-04T17:57:00+03:00",
        work_secs: 5 * MIN,
        due: "2026-12-07T10:02:00+03:00",
    },
    Case {
        why: "mail policy: 3 min Friday + 8 h Monday = 8 h 03 min; 3 h 57 min remain for Tuesday from 10:00",
        calendar: "moscow",
        from: "2026-12-04T17:57:00+03:00",
        work_secs: 12 * HOUR,
        due: "2026-12-08T13:57:00+03:00",
    },
    Case {
        why: "the last working minute ends exactly at closing: the deadline is the closing instant, not Monday's opening",
        calendar: "moscow",
        from: "2026-12-04T17:55:00+03:00",
        work_secs: 5 * MIN,
        due: "2026-12-04T18:00:00+03:00",
    },
    Case {
        why: "inside working hours: plain addition",
        calendar: "moscow",
        from: "2026-12-02T11:00:00+03:00",
        work_secs: 30 * MIN,
        due: "2026-12-02T11:30:00+03:00",
    },
    Case {
        why: "before opening: counting starts at 10:00",
        calendar: "moscow",
        from: "2026-12-02T08:00:00+03:00",
        work_secs: 5 * MIN,
        due: "2026-12-02T10:05:00+03:00",
    },
    Case {
        why: "after closing: the night is skipped, counting starts Thursday 10:00",
        calendar: "moscow",
        from: "2026-12-02T18:30:00+03:00",
        work_secs: 5 * MIN,
        due: "2026-12-03T10:05:00+03:00",
    },
    Case {
        why: "on Saturday: the weekend is skipped, 2 h from Monday 10:00",
        calendar: "moscow",
        from: "2026-12-05T12:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2026-12-07T12:00:00+03:00",
    },
    Case {
        why: "zero working time at the closing instant: that instant (it counts as inside)",
        calendar: "moscow",
        from: "2026-12-04T18:00:00+03:00",
        work_secs: 0,
        due: "2026-12-04T18:00:00+03:00",
    },
    Case {
        why: "New Year: 1 h on Wed 30 Dec; 31 Dec is a day off (decree 1466), 1-8 Jan holidays, 9-10 Jan weekend; 1 h on Mon 11 Jan",
        calendar: "moscow",
        from: "2026-12-30T17:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2027-01-11T11:00:00+03:00",
    },
    Case {
        why: "shortened Thu 30 Apr ends at 17:00 (30 min left); 1 May holiday, weekend; 30 min on Mon 4 May",
        calendar: "moscow",
        from: "2026-04-30T16:30:00+03:00",
        work_secs: HOUR,
        due: "2026-05-04T10:30:00+03:00",
    },
    Case {
        why: "8 March is a Sunday, so Mon 9 March is a day off: 1 h on Friday, 1 h on Tue 10 March",
        calendar: "moscow",
        from: "2026-03-06T17:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2026-03-10T11:00:00+03:00",
    },
    Case {
        why: "shortened Fri 8 May (until 17:00) gives 1 h; 9 May Sat, 10 Sun, 11 May day off; 1 h on Tue 12 May",
        calendar: "moscow",
        from: "2026-05-08T16:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2026-05-12T11:00:00+03:00",
    },
    Case {
        why: "holidays 1-8 Jan, Fri 9 Jan day off (moved from Sat 3 Jan), weekend: first work is Mon 12 Jan",
        calendar: "moscow",
        from: "2026-01-03T12:00:00+03:00",
        work_secs: HOUR,
        due: "2026-01-12T11:00:00+03:00",
    },
    Case {
        why: "shortened Tue 3 Nov: 10 min to 17:00; 4 Nov holiday; 10 min on Thu 5 Nov",
        calendar: "moscow",
        from: "2026-11-03T16:50:00+03:00",
        work_secs: 20 * MIN,
        due: "2026-11-05T10:10:00+03:00",
    },
    Case {
        why: "shortened Thu 11 Jun: 1 h to 17:00; 12 Jun holiday (Fri), weekend; 30 min on Mon 15 Jun",
        calendar: "moscow",
        from: "2026-06-11T16:00:00+03:00",
        work_secs: 90 * MIN,
        due: "2026-06-15T10:30:00+03:00",
    },
    Case {
        why: "a moved working Saturday with Friday's hours: 3 min Friday, 2 min Saturday from 10:00",
        calendar: "saturday",
        from: "2026-12-04T17:57:00+03:00",
        work_secs: 5 * MIN,
        due: "2026-12-05T10:02:00+03:00",
    },
    Case {
        why: "lunch break 13-14: 10 min before it, 10 min after",
        calendar: "lunch",
        from: "2026-12-02T12:50:00+03:00",
        work_secs: 20 * MIN,
        due: "2026-12-02T14:10:00+03:00",
    },
    Case {
        why: "Berlin, clocks forward: round-the-clock work, 3 h after Sat 23:00 CET is 01:00 UTC, shown as 03:00 CEST",
        calendar: "berlin_always",
        from: "2026-03-28T23:00:00+01:00",
        work_secs: 3 * HOUR,
        due: "2026-03-29T03:00:00+02:00",
    },
    Case {
        why: "Berlin, clocks back: 4 h after Sat 23:00 CEST is 01:00 UTC, the second 02:00 (CET)",
        calendar: "berlin_always",
        from: "2026-10-24T23:00:00+02:00",
        work_secs: 4 * HOUR,
        due: "2026-10-25T02:00:00+01:00",
    },
    Case {
        why: "Berlin Sunday 01:00-05:00 on 29 Mar: the hour 02-03 does not exist, 2 h after 01:00 CET is 04:00 CEST",
        calendar: "berlin_night",
        from: "2026-03-29T01:00:00+01:00",
        work_secs: 2 * HOUR,
        due: "2026-03-29T04:00:00+02:00",
    },
    Case {
        why: "Berlin Sunday 01:00-05:00 on 25 Oct: 02-03 happens twice, 2 h after 01:00 CEST is the second 02:00 (CET)",
        calendar: "berlin_night",
        from: "2026-10-25T01:00:00+02:00",
        work_secs: 2 * HOUR,
        due: "2026-10-25T02:00:00+01:00",
    },
    Case {
        why: "Berlin Sunday opening at 02:30 on 29 Mar: 02:30 does not exist, work starts when clocks jump (03:00 CEST); 1 h later is 04:00",
        calendar: "berlin_gap_start",
        from: "2026-03-29T00:00:00+01:00",
        work_secs: HOUR,
        due: "2026-03-29T04:00:00+02:00",
    },
    Case {
        why: "Berlin Sunday 02:30-06:00 on 25 Oct: opens at the first 02:30 (CEST), so the day holds 4 h 30 min and ends at 06:00 CET",
        calendar: "berlin_gap_start",
        from: "2026-10-25T00:00:00+02:00",
        work_secs: 4 * HOUR + 30 * MIN,
        due: "2026-10-25T06:00:00+01:00",
    },
    Case {
        why: "Berlin Sunday 02:10-02:50 lies wholly in the skipped hour on 29 Mar: no work that day, 30 min on Monday",
        calendar: "berlin_in_gap",
        from: "2026-03-29T00:00:00+01:00",
        work_secs: 30 * MIN,
        due: "2026-03-30T10:30:00+02:00",
    },
    Case {
        why: "Moscow keeps +03:00 when Berlin changes: 1 h Fri 27 Mar, 1 h Mon 30 Mar",
        calendar: "moscow",
        from: "2026-03-27T17:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2026-03-30T11:00:00+03:00",
    },
    Case {
        why: "2027 (derived entries): Fri 30 Apr shortened to 17:00 gives 1 h; 1 May Sat, Mon 3 May day off; 1 h on Tue 4 May",
        calendar: "moscow",
        from: "2027-04-30T16:00:00+03:00",
        work_secs: 2 * HOUR,
        due: "2027-05-04T11:00:00+03:00",
    },
    Case {
        why: "2027 (derived): Wed 3 Nov shortened to 17:00 gives 30 min; Thu 4 Nov holiday; 30 min on Fri 5 Nov",
        calendar: "moscow",
        from: "2027-11-03T16:30:00+03:00",
        work_secs: HOUR,
        due: "2027-11-05T10:30:00+03:00",
    },
];

fn named(name: &str) -> WorkingCalendar {
    match name {
        "moscow" => moscow(),
        "saturday" => calendar(WORKING_SATURDAY),
        "lunch" => calendar(LUNCH),
        "berlin_always" => calendar(BERLIN_ALWAYS),
        "berlin_night" => calendar(&berlin_sunday("01:00-05:00")),
        "berlin_gap_start" => calendar(&berlin_sunday("02:30-06:00")),
        "berlin_in_gap" => calendar(&berlin_sunday("02:10-02:50")),
        other => panic!("no calendar {other}"),
    }
}

#[test]
fn golden_deadlines() {
    assert!(CASES.len() >= 20);
    let mut failures = Vec::new();
    for case in CASES {
        let calendar = named(case.calendar);
        let from = at(case.from);
        let work = Duration::from_secs(case.work_secs);
        let due = calendar.deadline(from, work).expect("deadline");
        if due != at(case.due) {
            failures.push(format!(
                "{}: expected {}, got {} UTC",
                case.why, case.due, due
            ));
            continue;
        }
        assert!(calendar.is_within_hours(due), "{}", case.why);
        assert_eq!(
            calendar.working_time_between(from, due).unwrap(),
            work,
            "{}",
            case.why
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_seed_policies_give_the_issue_examples() {
    let config = working_time(&[], "");
    let friday = at("2026-12-04T17:57:00+03:00");
    let chat = config
        .sla
        .first_response_deadline("chat", None, friday)
        .unwrap();
    assert_eq!(chat.due_at, at("2026-12-07T10:02:00+03:00"));
    assert_eq!(chat.policy, "chat");
    let mail = config
        .sla
        .first_response_deadline("email", None, friday)
        .unwrap();
    assert_eq!(mail.due_at, at("2026-12-08T13:57:00+03:00"));
    assert_eq!(mail.policy, "email");
    let telegram = config
        .sla
        .first_response_deadline("telegram", None, friday)
        .unwrap();
    assert_eq!(telegram.due_at, at("2026-12-07T10:27:00+03:00"));
    assert_eq!(telegram.policy, "messengers");
    let slack = config
        .sla
        .first_response_deadline("slack", None, friday)
        .unwrap();
    assert_eq!(slack.due_at, at("2026-12-07T11:57:00+03:00"));
}

#[test]
fn opening_times_and_measuring() {
    let moscow = moscow();
    let closing = at("2026-12-04T18:00:00+03:00");
    assert!(!moscow.is_open(closing), "closed at the closing instant");
    assert!(moscow.is_within_hours(closing));
    assert!(moscow.is_open(at("2026-12-04T17:59:59+03:00")));
    assert_eq!(
        moscow.next_opening(closing).unwrap(),
        at("2026-12-07T10:00:00+03:00")
    );
    let open = at("2026-12-07T11:00:00+03:00");
    assert_eq!(moscow.next_opening(open).unwrap(), open);
    assert_eq!(
        moscow
            .working_time_between(
                at("2026-12-04T17:57:00+03:00"),
                at("2026-12-07T10:02:00+03:00")
            )
            .unwrap(),
        Duration::from_secs(5 * MIN)
    );
    // Over the New Year closure only 30 Dec and 11 Jan count.
    assert_eq!(
        moscow
            .working_time_between(
                at("2026-12-30T00:00:00+03:00"),
                at("2027-01-12T00:00:00+03:00")
            )
            .unwrap(),
        Duration::from_secs(16 * HOUR)
    );
    let night = named("berlin_night");
    let day = |date: &str| {
        night
            .working_time_between(
                at(&format!("{date}T00:00:00+00:00")),
                at(&format!("{date}T12:00:00+00:00")),
            )
            .unwrap()
    };
    // 01:00-05:00 holds 3 h when clocks go forward, 5 h when they go back.
    assert_eq!(day("2026-03-29"), Duration::from_secs(3 * HOUR));
    assert_eq!(
        night
            .working_time_between(
                at("2026-10-24T22:00:00+00:00"),
                at("2026-10-25T12:00:00+00:00")
            )
            .unwrap(),
        Duration::from_secs(5 * HOUR)
    );
    let gap = named("berlin_gap_start");
    assert_eq!(
        gap.next_opening(at("2026-03-29T00:00:00+01:00")).unwrap(),
        at("2026-03-29T03:00:00+02:00")
    );
    assert_eq!(
        gap.next_opening(at("2026-10-25T00:00:00+02:00")).unwrap(),
        at("2026-10-25T02:30:00+02:00")
    );
}
