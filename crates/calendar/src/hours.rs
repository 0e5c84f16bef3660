//! Working hours of one day: a sorted list of local wall-clock intervals
//! such as `10:00-13:00` and `14:00-18:00`.

use std::fmt;
use std::str::FromStr;

use crate::error::HoursError;

/// Seconds in a day; `24:00` as an interval end.
pub(crate) const DAY_SECS: u32 = 86_400;

/// A wall-clock time of day, `00:00` to `24:00` (the latter only as an end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TimeOfDay {
    secs: u32,
}

impl TimeOfDay {
    /// `hour:minute`; `None` past `24:00`.
    pub fn hm(hour: u32, minute: u32) -> Option<Self> {
        let secs = hour.checked_mul(3600)? + minute.checked_mul(60)?;
        (minute < 60 && secs <= DAY_SECS).then_some(Self { secs })
    }

    /// Seconds since local midnight (86 400 for `24:00`).
    pub fn secs_from_midnight(self) -> u32 {
        self.secs
    }
}

impl FromStr for TimeOfDay {
    type Err = HoursError;

    /// `HH:MM`, 24-hour clock, `24:00` allowed.
    fn from_str(text: &str) -> Result<Self, HoursError> {
        let bad = || HoursError::Syntax(text.to_owned());
        let (hour, minute) = text.trim().split_once(':').ok_or_else(bad)?;
        if hour.len() != 2 || minute.len() != 2 {
            return Err(bad());
        }
        let hour: u32 = hour.parse().map_err(|_| bad())?;
        let minute: u32 = minute.parse().map_err(|_| bad())?;
        if hour > 24 {
            return Err(bad());
        }
        TimeOfDay::hm(hour, minute).ok_or_else(bad)
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.secs / 60;
        write!(f, "{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// One working interval of a day, `start` inclusive, `end` exclusive, on
/// the local wall clock. `start < end` always holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interval {
    start: TimeOfDay,
    end: TimeOfDay,
}

impl Interval {
    /// An interval; [`HoursError::Inverted`] unless `start < end`.
    pub fn new(start: TimeOfDay, end: TimeOfDay) -> Result<Self, HoursError> {
        if start < end {
            Ok(Self { start, end })
        } else {
            Err(HoursError::Inverted(format!("{start}-{end}")))
        }
    }

    pub fn start(self) -> TimeOfDay {
        self.start
    }

    pub fn end(self) -> TimeOfDay {
        self.end
    }
}

impl FromStr for Interval {
    type Err = HoursError;

    /// `HH:MM-HH:MM`, e.g. `10:00-18:00` or `22:00-24:00`.
    fn from_str(text: &str) -> Result<Self, HoursError> {
        let (start, end) = text
            .split_once('-')
            .ok_or_else(|| HoursError::Syntax(text.to_owned()))?;
        Interval::new(start.parse()?, end.parse()?)
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.start, self.end)
    }
}

/// The working intervals of one day, sorted and not overlapping (touching
/// intervals such as `10:00-13:00`, `13:00-18:00` are allowed). Empty: closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DayHours {
    intervals: Vec<Interval>,
}

impl DayHours {
    /// Closed all day.
    pub fn closed() -> Self {
        Self::default()
    }

    /// Sorts the intervals; [`HoursError::Overlap`] when two overlap.
    pub fn new(mut intervals: Vec<Interval>) -> Result<Self, HoursError> {
        intervals.sort();
        for pair in intervals.windows(2) {
            if pair[1].start < pair[0].end {
                return Err(HoursError::Overlap(
                    pair[0].to_string(),
                    pair[1].to_string(),
                ));
            }
        }
        Ok(Self { intervals })
    }

    /// Parses every item (`"10:00-18:00"`); on failure, each bad item's index
    /// with its error (overlaps are reported at the later item of the pair,
    /// in the order written).
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Self, Vec<(usize, HoursError)>> {
        let mut problems = Vec::new();
        let mut parsed: Vec<(usize, Interval)> = Vec::new();
        for (index, item) in items.iter().enumerate() {
            match item.as_ref().parse::<Interval>() {
                Ok(interval) => {
                    let clash = parsed.iter().find(|(_, earlier)| {
                        interval.start < earlier.end && earlier.start < interval.end
                    });
                    match clash {
                        Some((_, earlier)) => problems.push((
                            index,
                            HoursError::Overlap(earlier.to_string(), interval.to_string()),
                        )),
                        None => parsed.push((index, interval)),
                    }
                }
                Err(error) => problems.push((index, error)),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let intervals = parsed.into_iter().map(|(_, interval)| interval).collect();
        Self::new(intervals).map_err(|error| vec![(0, error)])
    }

    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    pub fn is_closed(&self) -> bool {
        self.intervals.is_empty()
    }

    /// These hours with the last `secs` seconds of the day's working time
    /// removed (a shortened pre-holiday day: 60 minutes off the end).
    pub fn shortened_by(&self, secs: u32) -> Self {
        let mut left = secs;
        let mut intervals = self.intervals.clone();
        while left > 0 {
            let Some(last) = intervals.last_mut() else {
                break;
            };
            let length = last.end.secs - last.start.secs;
            if length > left {
                last.end = TimeOfDay {
                    secs: last.end.secs - left,
                };
                left = 0;
            } else {
                left -= length;
                intervals.pop();
            }
        }
        Self { intervals }
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.intervals.is_empty() {
            return f.write_str("closed");
        }
        for (index, interval) in self.intervals.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{interval}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_times_and_intervals() {
        assert_eq!("10:00".parse::<TimeOfDay>().unwrap().secs, 36_000);
        assert_eq!("24:00".parse::<TimeOfDay>().unwrap().secs, DAY_SECS);
        for bad in ["24:01", "9:00", "10:60", "ab:cd", "1000", "25:00"] {
            assert!(bad.parse::<TimeOfDay>().is_err(), "{bad}");
        }
        assert_eq!(
            "10:00-18:00".parse::<Interval>().unwrap().to_string(),
            "10:00-18:00"
        );
        assert!(matches!(
            "18:00-10:00".parse::<Interval>(),
            Err(HoursError::Inverted(_))
        ));
        assert!(matches!(
            "10:00-10:00".parse::<Interval>(),
            Err(HoursError::Inverted(_))
        ));
    }

    #[test]
    fn lists_report_every_bad_item_by_index() {
        let errors =
            DayHours::parse_list(&["10:00-13:00", "12:00-18:00", "19:00-18:30", "x"]).unwrap_err();
        let indexes: Vec<usize> = errors.iter().map(|(index, _)| *index).collect();
        assert_eq!(indexes, [1, 2, 3]);
        assert!(matches!(errors[0].1, HoursError::Overlap(..)));
        assert!(matches!(errors[1].1, HoursError::Inverted(..)));
        let touching = DayHours::parse_list(&["13:00-18:00", "10:00-13:00"]).unwrap();
        assert_eq!(touching.to_string(), "10:00-13:00, 13:00-18:00");
    }

    #[test]
    fn shortening_takes_time_off_the_end() {
        let hours = DayHours::parse_list(&["10:00-13:00", "14:00-14:30"]).unwrap();
        assert_eq!(hours.shortened_by(60 * 60).to_string(), "10:00-12:30");
        assert_eq!(hours.shortened_by(30 * 60).to_string(), "10:00-13:00");
        assert!(hours.shortened_by(10 * 3600).is_closed());
    }
}
