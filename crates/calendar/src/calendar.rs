//! A working-time calendar: a time zone, working hours per weekday, and
//! per-date rules (holidays, moved days off, shortened days, moved working
//! days, explicit hours).

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use chrono_tz::Tz;

use crate::hours::{DayHours, Interval, TimeOfDay};

/// What is special about one date.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DayRule {
    /// A public holiday: closed all day.
    Holiday,
    /// A day off moved onto a weekday (e.g. 9 March 2026 for 8 March, a
    /// Sunday): closed all day.
    DayOff,
    /// The day's regular hours with the last `by_minutes` minutes of working
    /// time removed (a shortened pre-holiday day: 60 minutes in Russia).
    Shortened { by_minutes: u32 },
    /// A working day on a date that would be closed (a working Saturday):
    /// the hours of weekday `like` (default: the first weekday, from Monday,
    /// that has hours), less `shortened_by_minutes`.
    Working {
        like: Option<Weekday>,
        shortened_by_minutes: u32,
    },
    /// Exactly these hours on this date.
    Hours(DayHours),
}

/// Where a set of day rules came from; later layers win for the same date:
/// bundled production calendar < days file < iCalendar < inline config days.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Layer {
    Bundled,
    File,
    Ical,
    Inline,
}

/// Working hours in one time zone. Build with [`WorkingCalendar::new`], add
/// day rules with [`WorkingCalendar::set_layer`]; compute with the methods in
/// `ops.rs` (deadlines, working time between instants, next opening).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingCalendar {
    name: String,
    time_zone: Tz,
    /// Indexed by `Weekday::num_days_from_monday`.
    week: [DayHours; 7],
    layers: BTreeMap<Layer, BTreeMap<NaiveDate, DayRule>>,
    /// All layers merged (later layers win).
    days: BTreeMap<NaiveDate, DayRule>,
}

/// A calendar needs working time somewhere in the week, or no deadline
/// could ever be reached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no weekday has working hours")]
pub struct NoWorkingHours;

impl WorkingCalendar {
    /// `week[0]` is Monday. Fails when every weekday is closed.
    pub fn new(
        name: impl Into<String>,
        time_zone: Tz,
        week: [DayHours; 7],
    ) -> Result<Self, NoWorkingHours> {
        if week.iter().all(DayHours::is_closed) {
            return Err(NoWorkingHours);
        }
        Ok(Self {
            name: name.into(),
            time_zone,
            week,
            layers: BTreeMap::new(),
            days: BTreeMap::new(),
        })
    }

    /// The team's hours from the seeds: Monday to Friday 10:00–18:00,
    /// Europe/Moscow, no holidays (add the bundled production calendar with
    /// [`crate::bundled::ru_production_days`]).
    pub fn seeds_default(name: impl Into<String>) -> Self {
        let Ok(office) = DayHours::new(vec![default_interval()]) else {
            unreachable!("10:00-18:00 is one valid interval");
        };
        let mut week: [DayHours; 7] = Default::default();
        for day in week.iter_mut().take(5) {
            *day = office.clone();
        }
        match Self::new(name, chrono_tz::Europe::Moscow, week) {
            Ok(calendar) => calendar,
            Err(NoWorkingHours) => unreachable!("five weekdays have hours"),
        }
    }

    /// Replaces the rules of one layer (an iCalendar refresh replaces
    /// [`Layer::Ical`] and leaves the others).
    pub fn set_layer(&mut self, layer: Layer, rules: BTreeMap<NaiveDate, DayRule>) {
        self.layers.insert(layer, rules);
        self.days = BTreeMap::new();
        for rules in self.layers.values() {
            for (date, rule) in rules {
                self.days.insert(*date, rule.clone());
            }
        }
    }

    /// The rules of one layer (empty when never set).
    pub fn layer(&self, layer: Layer) -> Option<&BTreeMap<NaiveDate, DayRule>> {
        self.layers.get(&layer)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn time_zone(&self) -> Tz {
        self.time_zone
    }

    /// Regular hours of a weekday.
    pub fn weekday_hours(&self, weekday: Weekday) -> &DayHours {
        &self.week[weekday.num_days_from_monday() as usize]
    }

    /// The rule for `date`, if it has one.
    pub fn rule(&self, date: NaiveDate) -> Option<&DayRule> {
        self.days.get(&date)
    }

    /// The working hours on `date`, every rule applied.
    pub fn hours_on(&self, date: NaiveDate) -> DayHours {
        let regular = self.weekday_hours(date.weekday());
        match self.days.get(&date) {
            None => regular.clone(),
            Some(DayRule::Holiday | DayRule::DayOff) => DayHours::closed(),
            Some(DayRule::Shortened { by_minutes }) => regular.shortened_by(by_minutes * 60),
            Some(DayRule::Working {
                like,
                shortened_by_minutes,
            }) => {
                let like = like.unwrap_or_else(|| self.first_open_weekday());
                self.weekday_hours(like)
                    .shortened_by(shortened_by_minutes * 60)
            }
            Some(DayRule::Hours(hours)) => hours.clone(),
        }
    }

    /// The first weekday from Monday that has hours (the hours a moved
    /// working day gets by default).
    pub fn first_open_weekday(&self) -> Weekday {
        let mut weekday = Weekday::Mon;
        for _ in 0..7 {
            if !self.weekday_hours(weekday).is_closed() {
                return weekday;
            }
            weekday = weekday.succ();
        }
        Weekday::Mon
    }
}

fn default_interval() -> Interval {
    match (TimeOfDay::hm(10, 0), TimeOfDay::hm(18, 0)) {
        (Some(start), Some(end)) => match Interval::new(start, end) {
            Ok(interval) => interval,
            Err(_) => unreachable!("10:00 is before 18:00"),
        },
        _ => unreachable!("10:00 and 18:00 are times of day"),
    }
}
