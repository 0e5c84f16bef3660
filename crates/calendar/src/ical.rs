//! Day rules from an iCalendar (RFC 5545) document, such as a holiday feed.
//!
//! Convention (documented in `docs/calendar.md`):
//! - Only all-day `VEVENT`s count (`DTSTART;VALUE=DATE:20260101`). They
//!   cover `DTSTART` up to, not including, `DTEND` (one day without
//!   `DTEND`; a `DURATION` of whole days is honoured). Timed events and
//!   other components are skipped and counted in [`IcalDays::skipped`].
//! - The kind comes from `CATEGORIES` (any of its values, case-insensitive):
//!   `SHORTENED` (a shortened day, 60 minutes off the end or
//!   `X-INTAKE-SHORTENED-MINUTES`), `WORKING` (a moved working day),
//!   `DAY-OFF`/`DAY_OFF`, `HOLIDAY`. Without one of those, the `SUMMARY`
//!   decides: it mentions "сокращ", "предпраздн" or "shortened" → shortened;
//!   "нерабоч" (non-working) → holiday; "рабочий день" or "working day" →
//!   working; anything else is a holiday.
//! - Recurring events (`RRULE`/`RDATE`) are skipped and counted: a holiday
//!   feed lists each date, and expanding rules is not worth the risk of
//!   silently closing every future year.
//! - An event with `STATUS:CANCELLED` is skipped.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{Days, NaiveDate};
use icalendar::{Calendar, CalendarComponent, Component, DatePerhapsTime, EventLike};

use crate::calendar::DayRule;
use crate::error::DaysError;

/// Longest all-day event accepted, in days (a feed bug spanning years
/// should not close the team for years).
const MAX_EVENT_DAYS: u64 = 366;

/// What an iCalendar document contributed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IcalDays {
    pub rules: BTreeMap<NaiveDate, DayRule>,
    /// Components that were not used, with the reason (`"timed event"`,
    /// `"recurring event"`, …) and the event's UID or summary.
    pub skipped: Vec<String>,
}

/// Parses the document; a syntax error is a [`DaysError`] at path `(ical)`.
pub fn parse_ical(text: &str) -> Result<IcalDays, DaysError> {
    let calendar = Calendar::from_str(text)
        .map_err(|error| DaysError::single("(ical)", format!("not iCalendar: {error}")))?;
    let mut days = IcalDays::default();
    for component in &calendar.components {
        let CalendarComponent::Event(event) = component else {
            continue;
        };
        let label = event
            .get_uid()
            .or_else(|| event.get_summary())
            .unwrap_or("(no uid)")
            .to_owned();
        let mut skip = |reason: &str| days.skipped.push(format!("{reason}: {label}"));
        if event
            .property_value("STATUS")
            .is_some_and(|s| s.eq_ignore_ascii_case("CANCELLED"))
        {
            skip("cancelled event");
            continue;
        }
        if event.property_value("RRULE").is_some() || event.property_value("RDATE").is_some() {
            skip("recurring event");
            continue;
        }
        let Some(DatePerhapsTime::Date(start)) = event.get_start() else {
            skip("timed event or no DTSTART");
            continue;
        };
        let length = match event_days(event, start) {
            Ok(length) => length,
            Err(reason) => {
                skip(reason);
                continue;
            }
        };
        let rule = rule_of(event);
        for offset in 0..length {
            if let Some(date) = start.checked_add_days(Days::new(offset)) {
                days.rules.insert(date, rule.clone());
            }
        }
    }
    Ok(days)
}

/// Number of days the all-day event covers.
fn event_days(event: &icalendar::Event, start: NaiveDate) -> Result<u64, &'static str> {
    let length = match event.get_end() {
        Some(DatePerhapsTime::Date(end)) => {
            let days = (end - start).num_days();
            if days <= 0 {
                return Err("DTEND not after DTSTART");
            }
            days as u64
        }
        Some(DatePerhapsTime::DateTime(_)) => return Err("DTEND is a date-time"),
        None => match event.property_value("DURATION") {
            Some(duration) => whole_days(duration).ok_or("DURATION is not whole days")?,
            None => 1,
        },
    };
    if length > MAX_EVENT_DAYS {
        return Err("event longer than a year");
    }
    Ok(length)
}

/// `P1D`, `P2W` (RFC 5545 dur-day / dur-week).
fn whole_days(duration: &str) -> Option<u64> {
    let rest = duration.trim().strip_prefix('P')?;
    if let Some(weeks) = rest.strip_suffix('W') {
        return weeks.parse::<u64>().ok().map(|w| w * 7);
    }
    rest.strip_suffix('D')?
        .parse()
        .ok()
        .filter(|days| *days > 0)
}

fn rule_of(event: &icalendar::Event) -> DayRule {
    let shortened = || DayRule::Shortened {
        by_minutes: event
            .property_value("X-INTAKE-SHORTENED-MINUTES")
            .and_then(|minutes| minutes.trim().parse().ok())
            .filter(|minutes| *minutes > 0)
            .unwrap_or(60),
    };
    let working = || DayRule::Working {
        like: None,
        shortened_by_minutes: 0,
    };
    for category in event.get_categories().unwrap_or_default() {
        match category.trim().to_ascii_uppercase().as_str() {
            "SHORTENED" => return shortened(),
            "WORKING" => return working(),
            "DAY-OFF" | "DAY_OFF" => return DayRule::DayOff,
            "HOLIDAY" => return DayRule::Holiday,
            _ => {}
        }
    }
    let summary = event.get_summary().unwrap_or_default().to_lowercase();
    if ["сокращ", "предпраздн", "shortened"]
        .iter()
        .any(|word| summary.contains(word))
    {
        return shortened();
    }
    if summary.contains("нерабоч") {
        return DayRule::Holiday;
    }
    if summary.contains("рабочий день") || summary.contains("working day") {
        return working();
    }
    DayRule::Holiday
}
