use super::*;

fn options() -> IcalOptions {
    IcalOptions {
        location: IcalLocation::File("absences.ics".into()),
        refresh: Duration::from_secs(300),
        fetch_timeout: Duration::from_secs(30),
        max_bytes: default_max_bytes(),
        agent_property: default_agent_property(),
        substitute_property: default_substitute_property(),
        time_zone: chrono_tz::UTC,
    }
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn document(events: &[&str]) -> String {
    let mut text =
        String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//absences//EN\r\n");
    for event in events {
        text.push_str("BEGIN:VEVENT\r\n");
        for line in event.lines().map(str::trim).filter(|l| !l.is_empty()) {
            text.push_str(line);
            text.push_str("\r\n");
        }
        text.push_str("END:VEVENT\r\n");
    }
    text.push_str("END:VCALENDAR\r\n");
    text
}

fn now() -> DateTime<Utc> {
    at("2026-12-01T12:00:00Z")
}

#[test]
fn an_all_day_event_with_the_agent_property_and_a_substitute() {
    let text = document(&[r"
        UID:vac-12@test
        DTSTART;VALUE=DATE:20261207
        DTEND;VALUE=DATE:20261212
        SUMMARY:Out of office
        CATEGORIES:VACATION
        X-INTAKE-AGENT-ID:12
        X-INTAKE-SUBSTITUTE-ID:13
    "]);
    let berlin = IcalOptions {
        time_zone: chrono_tz::Europe::Berlin,
        ..options()
    };
    let found = parse_absences(&text, &berlin, now()).unwrap();
    assert_eq!(found.skipped, Vec::<String>::new());
    assert_eq!(
        found.absences,
        [IcalAbsence {
            agent: AgentRef::Id(12),
            absence: Absence {
                agent_id: 12,
                // All-day dates are in `time_zone`; DTEND is exclusive.
                from: at("2026-12-07T00:00:00+01:00"),
                to: at("2026-12-12T00:00:00+01:00"),
                reason: AbsenceReason::Vacation,
                substitute_id: Some(13),
            },
        }]
    );
}

#[test]
fn a_timed_event_with_tzid_names_the_agent_by_attendee_or_organizer() {
    let text = document(&[
        r"
        UID:lunch@test
        DTSTART;TZID=Europe/Moscow:20261202T130000
        DTEND;TZID=Europe/Moscow:20261202T140000
        SUMMARY:Lunch
        ORGANIZER:mailto:boss@example.test
        ATTENDEE;CN=Ann:MAILTO:Ann@Example.test
        ",
        r"
        UID:sick@test
        DTSTART:20261203T080000Z
        DURATION:P2D
        SUMMARY:Sick
        ORGANIZER;CN=Bob:mailto:bob@example.test
        ",
    ]);
    let found = parse_absences(&text, &options(), now()).unwrap();
    assert_eq!(found.absences.len(), 2, "{found:?}");
    let lunch = &found.absences[0];
    assert_eq!(lunch.agent, AgentRef::Email("ann@example.test".into()));
    assert_eq!(lunch.absence.from, at("2026-12-02T10:00:00Z"));
    assert_eq!(lunch.absence.to, at("2026-12-02T11:00:00Z"));
    assert_eq!(lunch.absence.reason, AbsenceReason::Lunch);
    let sick = &found.absences[1];
    assert_eq!(sick.agent, AgentRef::Email("bob@example.test".into()));
    assert_eq!(sick.absence.to, at("2026-12-05T08:00:00Z"));
    assert_eq!(sick.absence.reason, AbsenceReason::SickLeave);
    assert_eq!(sick.absence.substitute_id, None);
}

#[test]
fn recurring_events_are_expanded_without_their_exceptions() {
    // Every Monday and Wednesday lunch for three weeks, minus one Monday;
    // a weekly day off from a floating time, in the configured zone.
    let text = document(&[
        r"
        UID:weekly-lunch@test
        DTSTART;TZID=Europe/Berlin:20261207T120000
        DTEND;TZID=Europe/Berlin:20261207T130000
        RRULE:FREQ=WEEKLY;BYDAY=MO,WE;COUNT=6
        EXDATE;TZID=Europe/Berlin:20261214T120000
        CATEGORIES:LUNCH
        X-INTAKE-AGENT-ID:12
        ",
        r"
        UID:fridays@test
        DTSTART;VALUE=DATE:20261204
        RRULE:FREQ=WEEKLY;UNTIL=20261219T000000Z
        SUMMARY:Day off
        X-INTAKE-AGENT-ID:14
        ",
    ]);
    let moscow = IcalOptions {
        time_zone: chrono_tz::Europe::Moscow,
        ..options()
    };
    let found = parse_absences(&text, &moscow, now()).unwrap();
    let lunches: Vec<_> = found
        .absences
        .iter()
        .filter(|a| a.agent == AgentRef::Id(12))
        .map(|a| (a.absence.from, a.absence.to))
        .collect();
    let berlin = |day: u32| {
        (
            at(&format!("2026-12-{day:02}T12:00:00+01:00")),
            at(&format!("2026-12-{day:02}T13:00:00+01:00")),
        )
    };
    assert_eq!(
        lunches,
        [berlin(7), berlin(9), berlin(16), berlin(21), berlin(23)],
        "six occurrences minus the excluded 14th"
    );
    let fridays: Vec<_> = found
        .absences
        .iter()
        .filter(|a| a.agent == AgentRef::Id(14))
        .map(|a| (a.absence.from, a.absence.to, a.absence.reason))
        .collect();
    let friday = |day: u32| {
        (
            at(&format!("2026-12-{day:02}T00:00:00+03:00")),
            at(&format!("2026-12-{:02}T00:00:00+03:00", day + 1)),
            AbsenceReason::DayOff,
        )
    };
    assert_eq!(fridays, [friday(4), friday(11), friday(18)]);
}

#[test]
fn an_override_replaces_the_occurrence_it_names() {
    // Weekly lunch; on the 14th it moved an hour later.
    let text = document(&[
        r"
        UID:lunch@test
        DTSTART:20261207T120000Z
        DTEND:20261207T130000Z
        RRULE:FREQ=WEEKLY;COUNT=3
        SUMMARY:Lunch
        X-INTAKE-AGENT-ID:12
        ",
        r"
        UID:lunch@test
        RECURRENCE-ID:20261214T120000Z
        DTSTART:20261214T130000Z
        DTEND:20261214T140000Z
        SUMMARY:Lunch
        X-INTAKE-AGENT-ID:12
        ",
    ]);
    let found = parse_absences(&text, &options(), now()).unwrap();
    let mut starts: Vec<_> = found.absences.iter().map(|a| a.absence.from).collect();
    starts.sort();
    assert_eq!(
        starts,
        [
            at("2026-12-07T12:00:00Z"),
            at("2026-12-14T13:00:00Z"),
            at("2026-12-21T12:00:00Z")
        ]
    );
}

#[test]
fn recurrence_is_expanded_only_around_the_read() {
    // A daily event since 2020 without an end: only the window's days.
    let text = document(&[r"
        UID:daily@test
        DTSTART:20200101T120000Z
        DTEND:20200101T130000Z
        RRULE:FREQ=DAILY
        SUMMARY:Lunch
        X-INTAKE-AGENT-ID:12
    "]);
    let found = parse_absences(&text, &options(), now()).unwrap();
    let first = found.absences.first().unwrap().absence.from;
    let last = found.absences.last().unwrap().absence.from;
    assert!(first >= now() - chrono::Duration::days(32), "{first}");
    assert!(last <= now() + chrono::Duration::days(401), "{last}");
    assert!(found.absences.len() <= usize::from(MAX_OCCURRENCES));
    assert!(found.absences.len() > 400, "{}", found.absences.len());
}

#[test]
fn events_that_name_no_agent_or_cannot_be_read_are_skipped_with_the_reason() {
    let text = document(&[
        "UID:team@test\nDTSTART;VALUE=DATE:20261224\nSUMMARY:Team party",
        "UID:cancelled@test\nDTSTART;VALUE=DATE:20261224\nSTATUS:CANCELLED\nX-INTAKE-AGENT-ID:12",
        "UID:zone@test\nDTSTART;TZID=Mars/Olympus:20261224T100000\nDTEND;TZID=Mars/Olympus:20261224T110000\nX-INTAKE-AGENT-ID:12",
        "UID:backwards@test\nDTSTART:20261224T100000Z\nDTEND:20261224T090000Z\nX-INTAKE-AGENT-ID:12",
        "UID:id@test\nDTSTART;VALUE=DATE:20261224\nX-INTAKE-AGENT-ID:ann",
        "UID:self@test\nDTSTART;VALUE=DATE:20261224\nX-INTAKE-AGENT-ID:12\nX-INTAKE-SUBSTITUTE-ID:12",
        "UID:other@test\nDTSTART;VALUE=DATE:20261224\nSUMMARY:Conference\nX-INTAKE-AGENT-ID:15",
    ]);
    let found = parse_absences(&text, &options(), now()).unwrap();
    assert_eq!(found.skipped.len(), 5, "{:?}", found.skipped);
    for (skipped, reason) in found.skipped.iter().zip([
        "no agent",
        "cancelled event",
        "unknown TZID",
        "DTEND is not after DTSTART",
        "X-INTAKE-AGENT-ID is not a user id",
    ]) {
        assert!(skipped.starts_with(reason), "{skipped} / {reason}");
    }
    // An agent substituting for themselves is dropped; a conference is a
    // plain planned absence.
    assert_eq!(found.absences.len(), 1, "{:?}", found.absences);
    assert_eq!(found.absences[0].absence.agent_id, 15);
    assert_eq!(found.absences[0].absence.reason, AbsenceReason::Other);
    assert!(parse_absences("not a calendar", &options(), now()).is_err());
}

#[test]
fn configured_properties_are_read_and_the_url_is_never_shown_whole() {
    let text = document(&[
        "UID:p@test\nDTSTART;VALUE=DATE:20261224\nX-AGENT:21\nX-STANDIN:22\nCATEGORIES:WORK,SICK",
    ]);
    let custom = IcalOptions {
        agent_property: "X-AGENT".into(),
        substitute_property: "X-STANDIN".into(),
        ..options()
    };
    let found = parse_absences(&text, &custom, now()).unwrap();
    assert_eq!(found.absences[0].absence.agent_id, 21);
    assert_eq!(found.absences[0].absence.substitute_id, Some(22));
    assert_eq!(found.absences[0].absence.reason, AbsenceReason::SickLeave);

    let secret = IcalLocation::Url(
        "https://cal.example.test/private-s3cr3t/basic.ics?token=s3cr3t"
            .parse()
            .unwrap(),
    );
    let feed = AbsenceFeed::new(IcalOptions {
        location: secret.clone(),
        ..options()
    });
    for shown in [
        secret.redacted(),
        format!("{secret:?}"),
        format!("{feed:?}"),
    ] {
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(shown.contains("cal.example.test"), "{shown}");
    }
}

#[test]
fn durations_are_read_as_rfc_5545_says() {
    assert_eq!(iso8601_duration("P1D"), Some(chrono::Duration::days(1)));
    assert_eq!(iso8601_duration("P2W"), Some(chrono::Duration::days(14)));
    assert_eq!(
        iso8601_duration("PT1H30M"),
        Some(chrono::Duration::minutes(90))
    );
    assert_eq!(
        iso8601_duration("P1DT12H"),
        Some(chrono::Duration::hours(36))
    );
    assert_eq!(iso8601_duration("PT0S"), None);
    assert_eq!(iso8601_duration("1D"), None);
    assert_eq!(iso8601_duration("P1X"), None);
}
