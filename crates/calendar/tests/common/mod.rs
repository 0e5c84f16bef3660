//! Calendars shared by the calendar tests, built through the config path.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use intake_calendar::WorkingCalendar;
use intake_calendar::config::{RawCalendar, RawSla, WorkingTimeConfig, validate};

pub const CHANNELS: &[&str] = &["chat", "email", "telegram", "whatsapp", "slack"];

/// Validates `[calendars.<name>]` sections given as TOML text (one
/// `name = """toml"""` pair each); panics on problems.
pub fn working_time(calendars: &[(&str, &str)], sla: &str) -> WorkingTimeConfig {
    let mut raw = BTreeMap::new();
    for (name, text) in calendars {
        let calendar: RawCalendar = toml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        raw.insert((*name).to_owned(), calendar);
    }
    let sla: RawSla = toml::from_str(sla).unwrap_or_else(|e| panic!("sla: {e}"));
    let (config, problems) = validate(raw, sla, CHANNELS, &|path| {
        Err(format!("no files in this test ({})", path.display()))
    });
    assert!(problems.is_empty(), "{problems:?}");
    config
}

/// One calendar from TOML text.
pub fn calendar(text: &str) -> WorkingCalendar {
    let config = working_time(&[("t", text)], "");
    (**config.sla.calendars().get("t").expect("calendar t")).clone()
}

/// The seeds' calendar: Moscow, Mon-Fri 10-18, the bundled production calendar.
pub fn moscow() -> WorkingCalendar {
    calendar("")
}

/// RFC 3339 with offset, e.g. `2026-12-04T17:57:00+03:00`.
pub fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .with_timezone(&Utc)
}
