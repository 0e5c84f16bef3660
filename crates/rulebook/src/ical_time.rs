//! Times of the iCalendar absence source (`ical.rs`): `DTSTART`/`DTEND`
//! values in their zones, `DURATION`, and the occurrences of a recurring
//! event (expanded with the `rrule` crate).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use icalendar::{CalendarDateTime, Component, DatePerhapsTime, Event};

use crate::ical::{EXPAND_AHEAD, EXPAND_PAST, MAX_OCCURRENCES};

/// The instant of a `DTSTART`/`DTEND` value.
pub(crate) fn instant(
    value: &DatePerhapsTime,
    zone: chrono_tz::Tz,
) -> Result<DateTime<Utc>, String> {
    match value {
        DatePerhapsTime::Date(date) => local(zone, midnight(*date)),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(at)) => Ok(*at),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(at)) => local(zone, *at),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            let zone = tzid
                .parse::<chrono_tz::Tz>()
                .map_err(|_| format!("unknown TZID {tzid:?}"))?;
            local(zone, *date_time)
        }
    }
}

pub(crate) fn midnight(date: NaiveDate) -> NaiveDateTime {
    date.and_hms_opt(0, 0, 0).unwrap_or_default()
}

/// A local time in `zone` (the earlier of two in a fold; a time in a gap
/// is moved past it, as calendar programs do).
pub(crate) fn local(zone: chrono_tz::Tz, at: NaiveDateTime) -> Result<DateTime<Utc>, String> {
    zone.from_local_datetime(&at)
        .earliest()
        .or_else(|| {
            zone.from_local_datetime(&(at + chrono::Duration::hours(1)))
                .earliest()
        })
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{at} does not exist in {zone}"))
}

/// When the absence ends: `DTEND`, else `DURATION`, else a day (all-day) or
/// nothing (an instant: refused by the caller).
pub(crate) fn end_of(
    event: &Event,
    start: &DatePerhapsTime,
    from: DateTime<Utc>,
    zone: chrono_tz::Tz,
) -> Result<DateTime<Utc>, String> {
    if let Some(end) = event.get_end() {
        return instant(&end, zone);
    }
    if let Some(duration) = event.property_value("DURATION") {
        let parsed = iso8601_duration(duration).ok_or("unreadable DURATION")?;
        return Ok(from + parsed);
    }
    match start {
        DatePerhapsTime::Date(date) => {
            let next = date.succ_opt().ok_or("date out of range")?;
            instant(&DatePerhapsTime::Date(next), zone)
        }
        DatePerhapsTime::DateTime(_) => Err("no DTEND or DURATION".into()),
    }
}

/// An RFC 5545 `DURATION` (`P1D`, `PT1H30M`, `P2W`); never negative.
pub(crate) fn iso8601_duration(text: &str) -> Option<chrono::Duration> {
    let text = text.trim().strip_prefix('+').unwrap_or(text.trim());
    let rest = text.strip_prefix('P')?;
    let (date, time) = rest.split_once('T').unwrap_or((rest, ""));
    let mut total = chrono::Duration::zero();
    let mut add = |part: &str, units: &[(char, i64)]| -> Option<()> {
        let mut number = String::new();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let seconds = units.iter().find(|(u, _)| *u == c)?.1;
            total += chrono::Duration::seconds(number.parse::<i64>().ok()? * seconds);
            number.clear();
        }
        number.is_empty().then_some(())
    };
    add(date, &[('W', 7 * 86_400), ('D', 86_400)])?;
    add(time, &[('H', 3600), ('M', 60), ('S', 1)])?;
    (total > chrono::Duration::zero()).then_some(total)
}

pub(crate) fn is_recurring(event: &Event) -> bool {
    event.property_value("RRULE").is_some() || event.property_value("RDATE").is_some()
}

/// The starts of a recurring event's occurrences within the expansion
/// window around `now`.
pub(crate) fn occurrences(
    event: &Event,
    start: &DatePerhapsTime,
    zone: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> Result<Vec<DateTime<Utc>>, String> {
    // The set in RFC 5545 text, with DTSTART always in a named zone (the
    // rrule crate reads floating and all-day starts in the machine's zone).
    let (zone_name, local_start) = match start {
        DatePerhapsTime::Date(date) => (zone.name().to_owned(), midnight(*date)),
        DatePerhapsTime::DateTime(CalendarDateTime::Floating(at)) => (zone.name().to_owned(), *at),
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(at)) => ("UTC".to_owned(), at.naive_utc()),
        DatePerhapsTime::DateTime(CalendarDateTime::WithTimezone { date_time, tzid }) => {
            (tzid.clone(), *date_time)
        }
    };
    let format = |at: NaiveDateTime| at.format("%Y%m%dT%H%M%S").to_string();
    let mut text = format!("DTSTART;TZID={zone_name}:{}", format(local_start));
    let lists = event.multi_properties();
    let values = |name: &str| {
        event
            .property_value(name)
            .map(str::to_owned)
            .into_iter()
            .chain(
                lists
                    .get(name)
                    .into_iter()
                    .flatten()
                    .map(|p| p.value().to_owned()),
            )
            .collect::<Vec<_>>()
    };
    for rule in values("RRULE") {
        text.push_str(&format!("\nRRULE:{rule}"));
    }
    // RDATE/EXDATE values in the start's zone (`TZID` on them is rare).
    for (name, list) in [("RDATE", values("RDATE")), ("EXDATE", values("EXDATE"))] {
        for value in list.iter().flat_map(|v| v.split(',')) {
            let local = parse_local(value.trim()).ok_or_else(|| format!("unreadable {name}"))?;
            text.push_str(&format!("\n{name};TZID={zone_name}:{}", format(local)));
        }
    }
    let set: rrule::RRuleSet = text
        .parse()
        .map_err(|error: rrule::RRuleError| format!("unreadable recurrence: {error}"))?;
    let past = chrono::Duration::from_std(EXPAND_PAST).unwrap_or_default();
    let ahead = chrono::Duration::from_std(EXPAND_AHEAD).unwrap_or_default();
    let after = (now - past).with_timezone(&rrule::Tz::UTC);
    let before = (now + ahead).with_timezone(&rrule::Tz::UTC);
    let found = set.after(after).before(before).all(MAX_OCCURRENCES);
    Ok(found
        .dates
        .into_iter()
        .map(|at| at.with_timezone(&Utc))
        .collect())
}

/// A DATE (`20261207`) or DATE-TIME (`20261207T120000`, a `Z` dropped) value.
pub(crate) fn parse_local(value: &str) -> Option<NaiveDateTime> {
    let value = value.trim_end_matches('Z');
    NaiveDateTime::parse_from_str(value, "%Y%m%dT%H%M%S")
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y%m%d")
                .ok()
                .map(midnight)
        })
}
