//! Typed errors of the calendar crate. None is retryable: the same input
//! gives the same error until someone changes the data or the config.

/// A working-hours item that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HoursError {
    #[error("{0:?} is not an interval HH:MM-HH:MM (24-hour clock, 24:00 allowed as the end)")]
    Syntax(String),
    #[error("interval {0} ends before it starts (or is empty)")]
    Inverted(String),
    #[error("interval {1} overlaps {0}")]
    Overlap(String, String),
}

/// A computation that cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// The answer lies outside the dates chrono can represent (a duration of
    /// millennia, or an instant at the end of time).
    #[error("the answer is beyond the representable dates")]
    OutOfRange,
}

impl CalendarError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// One problem in a day list (a days file, or `days` in the config), at a
/// path inside that list such as `day[3].date`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct DaysProblem {
    pub path: String,
    pub message: String,
}

/// Every problem of one days file or iCalendar document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
pub struct DaysError {
    pub problems: Vec<DaysProblem>,
}

impl DaysError {
    pub(crate) fn single(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            problems: vec![DaysProblem {
                path: path.into(),
                message: message.into(),
            }],
        }
    }

    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Why no first-response deadline could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    #[error("no SLA policy covers channel {channel:?}")]
    NoPolicy { channel: String },
    #[error("SLA policy {policy:?} names calendar {calendar:?}, which does not exist")]
    UnknownCalendar { policy: String, calendar: String },
    #[error(transparent)]
    Calendar(#[from] CalendarError),
}

impl SlaError {
    pub fn is_retryable(&self) -> bool {
        false
    }
}
