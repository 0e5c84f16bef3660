#![forbid(unsafe_code)]
//! Working-time calendars and SLA first-response policies.
//!
//! Pure computation and parsing, no I/O: a [`WorkingCalendar`] has a time
//! zone, working hours per weekday (several intervals a day) and per-date
//! rules (holidays, moved days off, shortened pre-holiday days, moved working
//! days); day rules come from a days file in intake's TOML format
//! ([`parse_days_file`], the bundled Russian production calendar in
//! [`bundled`]), an iCalendar document ([`parse_ical`]) or the config.
//! Operations: [`WorkingCalendar::deadline`],
//! [`WorkingCalendar::working_time_between`],
//! [`WorkingCalendar::next_opening`], [`WorkingCalendar::is_open`]; the
//! daylight-saving rules are in the docs of `ops.rs` and `docs/calendar.md`.
//!
//! [`SlaPolicies`] maps (channel, priority, received at) to a deadline and
//! a policy name. [`config`] holds the `[calendars.*]` and `[sla]` config
//! sections and their validation (file contents are passed in, so this
//! crate still reads nothing itself).

pub mod bundled;
mod calendar;
pub mod config;
mod days;
mod error;
mod hours;
mod ical;
mod ops;
#[cfg(feature = "refresh")]
pub mod refresh;
mod sla;

pub use calendar::{DayRule, Layer, NoWorkingHours, WorkingCalendar};
pub use days::{DaysFile, RawDay, days_to_rules, parse_date, parse_days_file, parse_weekday};
pub use error::{CalendarError, DaysError, DaysProblem, HoursError, SlaError};
pub use hours::{DayHours, Interval, TimeOfDay};
pub use ical::{IcalDays, parse_ical};
pub use ops::Span;
pub use sla::{Calendars, Deadline, Priority, SlaPolicies, SlaPolicy, seeds_policies};

/// The calendar every policy uses unless it names another; always present
/// (Europe/Moscow, Monday to Friday 10:00–18:00, the bundled Russian
/// production calendar) unless `[calendars.default]` changes it.
pub const DEFAULT_CALENDAR: &str = "default";
