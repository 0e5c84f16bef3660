//! Working-time arithmetic on a [`WorkingCalendar`].
//!
//! Every day's local intervals are turned into UTC instants with one rule,
//! which also settles daylight-saving changes:
//!
//! **A local wall-clock time `t` on date `d` stands for the first instant at
//! which the clock in the calendar's zone shows `t` on `d`, or a later time.**
//!
//! - An ambiguous time (the hour repeated when clocks go back, e.g. 02:30 on
//!   25 October 2026 in Europe/Berlin) is its *first* occurrence (02:30 CEST).
//!   An interval spanning the change therefore lasts an hour longer than its
//!   wall-clock length (00:00-06:00 that day is 7 working hours).
//! - A time that does not exist (skipped when clocks go forward, e.g. 02:30
//!   on 29 March 2026 in Europe/Berlin) is the instant the clocks jump
//!   (03:00 CEST). An interval spanning the change lasts an hour less, and
//!   one lying wholly inside the gap has no working time at all.
//! - `24:00` is 00:00 of the next day by the same rule.
//!
//! The mapping never goes backwards, so intervals stay ordered and disjoint
//! in UTC.
//!
//! Open and closed: [`WorkingCalendar::is_open`] is true on `[start, end)`
//! of an interval (open at 10:00, closed at 18:00). A deadline is the
//! instant the last working second is used up, so a deadline may be a
//! closing instant (Friday 18:00), never the next opening after it;
//! [`WorkingCalendar::is_within_hours`] (`[start, end]`) holds for every
//! deadline.

use std::time::Duration;

use chrono::{
    DateTime, Days, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeDelta, TimeZone, Utc,
};

use crate::calendar::WorkingCalendar;
use crate::error::CalendarError;
use crate::hours::DAY_SECS;

/// Upper bound of days walked in one computation (about 400 years), so a
/// duration of millennia ends with an error instead of running for long.
const MAX_DAYS_WALKED: u32 = 146_100;

/// Longest clock jump searched for when a local time does not exist
/// (Samoa skipped a whole day in 2011).
const MAX_GAP_MINUTES: i64 = 48 * 60;

/// One working interval as UTC instants, `start < end`.
pub type Span = (DateTime<Utc>, DateTime<Utc>);

impl WorkingCalendar {
    /// The working intervals of `date` as UTC instants (empty when closed;
    /// an interval lost entirely in a clock jump is left out).
    pub fn spans_on(&self, date: NaiveDate) -> Vec<Span> {
        self.hours_on(date)
            .intervals()
            .iter()
            .filter_map(|interval| {
                let start = self.boundary(date, interval.start().secs_from_midnight())?;
                let end = self.boundary(date, interval.end().secs_from_midnight())?;
                (start < end).then_some((start, end))
            })
            .collect()
    }

    /// Is the team at work at `at`? (`[start, end)` of a working interval.)
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.spans_around(at)
            .any(|(start, end)| start <= at && at < end)
    }

    /// Is `at` inside working hours, closing instants included
    /// (`[start, end]`)? Every deadline satisfies this.
    pub fn is_within_hours(&self, at: DateTime<Utc>) -> bool {
        self.spans_around(at)
            .any(|(start, end)| start <= at && at <= end)
    }

    /// The first instant at or after `from` at which the calendar is open:
    /// `from` itself when open, else the next opening.
    pub fn next_opening(&self, from: DateTime<Utc>) -> Result<DateTime<Utc>, CalendarError> {
        for span in self.spans_from(from) {
            let (start, end) = span?;
            if end > from {
                return Ok(start.max(from));
            }
        }
        Err(CalendarError::OutOfRange)
    }

    /// The deadline `work` of working time after `from`: the instant the
    /// last of it is used up (see the module docs for closing instants).
    /// With zero `work`: `from` when within hours, else the next opening.
    pub fn deadline(
        &self,
        from: DateTime<Utc>,
        work: Duration,
    ) -> Result<DateTime<Utc>, CalendarError> {
        let mut left = TimeDelta::from_std(work).map_err(|_| CalendarError::OutOfRange)?;
        if left.is_zero() {
            if self.is_within_hours(from) {
                return Ok(from);
            }
            return self.next_opening(from);
        }
        for span in self.spans_from(from) {
            let (start, end) = span?;
            if end <= from {
                continue;
            }
            let start = start.max(from);
            let available = end - start;
            if left <= available {
                return Ok(start + left);
            }
            left -= available;
        }
        Err(CalendarError::OutOfRange)
    }

    /// Working time in `[from, to)`; zero when `to <= from`.
    pub fn working_time_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Duration, CalendarError> {
        let mut total = TimeDelta::zero();
        if to <= from {
            return Ok(Duration::ZERO);
        }
        for span in self.spans_from(from) {
            let (start, end) = span?;
            if start >= to {
                break;
            }
            let start = start.max(from);
            let end = end.min(to);
            if end > start {
                total += end - start;
            }
        }
        total.to_std().map_err(|_| CalendarError::OutOfRange)
    }

    /// The local date of an instant in the calendar's zone.
    pub fn local_date(&self, at: DateTime<Utc>) -> NaiveDate {
        at.with_timezone(&self.time_zone()).date_naive()
    }

    /// Spans of the days around `at` (enough to decide whether `at` is in one).
    fn spans_around(&self, at: DateTime<Utc>) -> impl Iterator<Item = Span> + '_ {
        let date = self.local_date(at);
        [date.pred_opt(), Some(date), date.succ_opt()]
            .into_iter()
            .flatten()
            .flat_map(|date| self.spans_on(date))
    }

    /// Spans in order from the day before `from`'s local date onwards (a
    /// repeated evening hour can show the previous date, so one day back
    /// covers every span that could still contain `from`). Ends with an
    /// error when dates run out or after [`MAX_DAYS_WALKED`] days.
    fn spans_from(
        &self,
        from: DateTime<Utc>,
    ) -> impl Iterator<Item = Result<Span, CalendarError>> + '_ {
        let first = self.local_date(from).pred_opt();
        let days = (0..MAX_DAYS_WALKED).scan(first, |next, _| {
            let date = (*next)?;
            *next = date.succ_opt();
            Some(date)
        });
        let exhausted = std::iter::once(Err(CalendarError::OutOfRange));
        days.flat_map(|date| self.spans_on(date).into_iter().map(Ok))
            .chain(exhausted)
    }

    /// The instant standing for local time `secs` after midnight of `date`
    /// (the rule in the module docs). `None` only at the end of time.
    fn boundary(&self, date: NaiveDate, secs: u32) -> Option<DateTime<Utc>> {
        let (date, secs) = if secs >= DAY_SECS {
            (date.checked_add_days(Days::new(1))?, 0)
        } else {
            (date, secs)
        };
        let local = date.and_time(NaiveTime::from_num_seconds_from_midnight_opt(secs, 0)?);
        match self.time_zone().from_local_datetime(&local) {
            LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
            LocalResult::Ambiguous(first, second) => Some(first.min(second).with_timezone(&Utc)),
            LocalResult::None => self.end_of_gap(local),
        }
    }

    /// For a local time skipped by a clock jump: the instant of the jump,
    /// i.e. the earliest instant of the first valid local time after it.
    fn end_of_gap(&self, skipped: NaiveDateTime) -> Option<DateTime<Utc>> {
        let earliest =
            |local: NaiveDateTime| self.time_zone().from_local_datetime(&local).earliest();
        let mut minute = skipped;
        for _ in 0..MAX_GAP_MINUTES {
            minute = minute.checked_add_signed(TimeDelta::minutes(1))?;
            if earliest(minute).is_some() {
                // The jump may end between whole minutes: find its second.
                let mut first_valid = minute;
                for back in 1..60 {
                    let candidate = minute - TimeDelta::seconds(back);
                    if candidate <= skipped || earliest(candidate).is_none() {
                        break;
                    }
                    first_valid = candidate;
                }
                return earliest(first_valid).map(|at| at.with_timezone(&Utc));
            }
        }
        None
    }
}
