//! Day lists: holidays, moved days off, shortened and moved working days,
//! as written in a days file (TOML, `[[day]]` entries) or inline in the
//! config (`[[calendars.<name>.days]]`).
//!
//! ```toml
//! source = "where these dates come from"
//!
//! [[day]]
//! date = "2026-05-11"
//! kind = "day_off"            # holiday | day_off | shortened | working | hours
//! note = "moved from Saturday 9 May"
//! ```
//! `shortened` takes `shortened_by_minutes` (default 60); `working` takes
//! `like` (a weekday whose hours it works, default the first weekday with
//! hours) and `shortened_by_minutes` (default 0); `hours` takes `hours`
//! (`["10:00-15:00"]`, an empty list for closed). `derived = true` marks an
//! entry worked out from the law rather than read in a published decree.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Weekday};
use serde::Deserialize;

use crate::calendar::DayRule;
use crate::error::{DaysError, DaysProblem};
use crate::hours::DayHours;

/// One entry of a day list, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDay {
    /// The local date, `YYYY-MM-DD`.
    #[serde(default)]
    pub date: String,
    /// `holiday`, `day_off`, `shortened`, `working` or `hours`.
    #[serde(default)]
    pub kind: String,
    /// `shortened`: minutes taken off the end of the day (default 60);
    /// `working`: minutes taken off its hours (default 0).
    #[serde(default)]
    pub shortened_by_minutes: Option<u32>,
    /// `working`: the weekday (`mon`…`sun`) whose hours the day works.
    #[serde(default)]
    pub like: Option<String>,
    /// `hours`: the intervals of the day (`["10:00-15:00"]`).
    #[serde(default)]
    pub hours: Option<Vec<String>>,
    /// Free text: what the day is and on what basis.
    #[serde(default)]
    pub note: Option<String>,
    /// True when the entry was derived from the law, not read in a decree.
    #[serde(default)]
    pub derived: bool,
}

/// A days file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDaysFile {
    /// Where the dates come from (shown in docs and diagnostics).
    source: String,
    /// The entries.
    #[serde(default)]
    day: Vec<RawDay>,
}

/// A parsed days file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaysFile {
    pub source: String,
    pub rules: BTreeMap<NaiveDate, DayRule>,
    /// Dates of the entries marked `derived = true`.
    pub derived: Vec<NaiveDate>,
}

/// Parses a days file; every problem at once (`day[3].date: …`).
pub fn parse_days_file(text: &str) -> Result<DaysFile, DaysError> {
    let raw: RawDaysFile = toml::from_str(text).map_err(|error| {
        let line = error
            .span()
            .map(|span| text[..span.start.min(text.len())].lines().count().max(1));
        let path = line.map_or_else(|| "(file)".to_owned(), |line| format!("line {line}"));
        DaysError::single(path, error.message().to_owned())
    })?;
    let derived = raw
        .day
        .iter()
        .filter(|day| day.derived)
        .filter_map(|day| parse_date(&day.date).ok())
        .collect();
    let rules = days_to_rules(&raw.day, "day")?;
    Ok(DaysFile {
        source: raw.source,
        rules,
        derived,
    })
}

/// Turns entries into rules; problems have paths `<prefix>[i].<field>`.
pub fn days_to_rules(
    days: &[RawDay],
    prefix: &str,
) -> Result<BTreeMap<NaiveDate, DayRule>, DaysError> {
    let mut rules = BTreeMap::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut problems = Vec::new();
    for (index, day) in days.iter().enumerate() {
        let mut problem = |field: &str, message: String| {
            problems.push(DaysProblem {
                path: format!("{prefix}[{index}].{field}"),
                message,
            });
        };
        let date = match parse_date(&day.date) {
            Ok(date) if !seen.insert(date) => {
                problem("date", format!("{date} is listed twice"));
                None
            }
            Ok(date) => Some(date),
            Err(message) => {
                problem("date", message);
                None
            }
        };
        let rule = match day_rule(day) {
            Ok(rule) => Some(rule),
            Err((field, message)) => {
                problem(field, message);
                None
            }
        };
        let (Some(date), Some(rule)) = (date, rule) else {
            continue;
        };
        rules.insert(date, rule);
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(DaysError { problems })
    }
}

/// `YYYY-MM-DD`, a real calendar date.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let text = text.trim();
    let shaped = text.len() == 10
        && text.char_indices().all(|(i, c)| {
            if i == 4 || i == 7 {
                c == '-'
            } else {
                c.is_ascii_digit()
            }
        });
    if !shaped {
        return Err(format!("{text:?} is not a date YYYY-MM-DD"));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is not a date on the calendar"))
}

/// `mon` … `sun` (or the full English name).
pub fn parse_weekday(text: &str) -> Result<Weekday, String> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| format!("{text:?} is not a weekday (mon, tue, wed, thu, fri, sat, sun)"))
}

fn day_rule(day: &RawDay) -> Result<DayRule, (&'static str, String)> {
    let kind = day.kind.trim().to_ascii_lowercase();
    let allows = |field: &'static str, given: bool, kinds: &[&str]| {
        if given && !kinds.contains(&kind.as_str()) {
            Err((field, format!("only used with kind {}", kinds.join(" or "))))
        } else {
            Ok(())
        }
    };
    allows(
        "shortened_by_minutes",
        day.shortened_by_minutes.is_some(),
        &["shortened", "working"],
    )?;
    allows("like", day.like.is_some(), &["working"])?;
    allows("hours", day.hours.is_some(), &["hours"])?;
    let rule = match kind.as_str() {
        "holiday" => DayRule::Holiday,
        "day_off" => DayRule::DayOff,
        "shortened" => DayRule::Shortened {
            by_minutes: day.shortened_by_minutes.unwrap_or(60),
        },
        "working" => DayRule::Working {
            like: day
                .like
                .as_deref()
                .map(parse_weekday)
                .transpose()
                .map_err(|message| ("like", message))?,
            shortened_by_minutes: day.shortened_by_minutes.unwrap_or(0),
        },
        "hours" => {
            let items = day.hours.as_deref().unwrap_or_default();
            let hours = DayHours::parse_list(items).map_err(|errors| {
                let (index, error) = &errors[0];
                ("hours", format!("[{index}] {error}"))
            })?;
            DayRule::Hours(hours)
        }
        other => {
            return Err((
                "kind",
                format!("{other:?} is not a kind (holiday, day_off, shortened, working, hours)"),
            ));
        }
    };
    if let DayRule::Shortened { by_minutes: 0 } = rule {
        return Err(("shortened_by_minutes", "must be at least 1".to_owned()));
    }
    Ok(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_must_be_real_and_well_formed() {
        assert!(parse_date("2026-02-29").is_err());
        assert!(parse_date("2026-2-28").is_err());
        assert!(parse_date("28.02.2026").is_err());
        assert_eq!(
            parse_date("2028-02-29"),
            Ok(NaiveDate::from_ymd_opt(2028, 2, 29).unwrap())
        );
    }

    #[test]
    fn every_bad_entry_is_reported_with_its_path() {
        let text = r#"
source = "test"
[[day]]
date = "2026-13-01"
kind = "holiday"
[[day]]
date = "2026-05-04"
kind = "party"
[[day]]
date = "2026-05-05"
kind = "holiday"
like = "mon"
[[day]]
date = "2026-05-06"
kind = "hours"
hours = ["18:00-10:00"]
[[day]]
date = "2026-05-06"
kind = "holiday"
"#;
        let errors = parse_days_file(text).unwrap_err();
        let paths: Vec<&str> = errors.problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "day[0].date",
                "day[1].kind",
                "day[2].like",
                "day[3].hours",
                "day[4].date"
            ]
        );
        assert!(errors.problems[4].message.contains("twice"));
    }

    #[test]
    fn unknown_keys_are_refused() {
        let errors = parse_days_file(
            "source = \"x\"\n[[day]]\ndate = \"2026-01-01\"\nkind = \"holiday\"\ncolour = 1\n",
        )
        .unwrap_err();
        assert!(errors.to_string().contains("colour"), "{errors}");
        let errors =
            parse_days_file("source = \"x\"\n[[day]]\ndate = 2026-01-01\nkind = \"holiday\"\n")
                .unwrap_err();
        assert_eq!(errors.problems[0].path, "line 3", "{errors}");
    }
}
