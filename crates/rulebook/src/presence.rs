//! Whether an agent is at work, from three sources that may disagree:
//! Zendesk's agent status, the planned-absence calendar and the agent's
//! working hours. Pure: the sources' answers come in, one verdict goes out.

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// Where a presence signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Zendesk's agent availability (unified status).
    Zendesk,
    /// The planned-absence calendar.
    Absence,
    /// The agent's working-hours calendar.
    WorkingHours,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Zendesk => "zendesk",
            Source::Absence => "absence_calendar",
            Source::WorkingHours => "working_hours",
        }
    }

    /// How a note names it.
    pub fn describe(self) -> &'static str {
        match self {
            Source::Zendesk => "Zendesk status",
            Source::Absence => "absence calendar",
            Source::WorkingHours => "working hours",
        }
    }

    fn is_calendar(self) -> bool {
        self != Source::Zendesk
    }
}

/// What one source says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Nothing either way (no absence, no calendar, the API unavailable);
    /// the text says why.
    Silent(String),
    /// At work (Zendesk `online`, or within working hours).
    Available(String),
    /// Away: why, and when back (None: unknown).
    Away {
        reason: String,
        until: Option<DateTime<Utc>>,
    },
}

/// One source's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub source: Source,
    pub signal: Signal,
}

impl Report {
    /// "Zendesk status: away until …" for notes and `route-explain`.
    pub fn describe(&self) -> String {
        let what = match &self.signal {
            Signal::Silent(why) | Signal::Available(why) => why.clone(),
            Signal::Away { reason, until } => format!("{reason}, back {}", when(*until)),
        };
        format!("{}: {what}", self.source.describe())
    }
}

/// Which side wins when Zendesk and the calendars disagree.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prefer {
    /// A planned absence or time off work wins over a Zendesk `online`
    /// (agents forget to set their status; plans are deliberate).
    #[default]
    Calendar,
    /// Zendesk's live status wins: an agent `online` despite the calendar is
    /// at work (back early); the calendars decide only when Zendesk is silent.
    Zendesk,
}

impl Prefer {
    pub fn as_str(self) -> &'static str {
        match self {
            Prefer::Calendar => "calendar",
            Prefer::Zendesk => "zendesk",
        }
    }
}

/// The combined verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Presence {
    Available,
    Away {
        /// The source that decided.
        source: Source,
        reason: String,
        /// Expected return (None: unknown).
        until: Option<DateTime<Utc>>,
    },
}

/// Combines the sources' reports under `prefer`. When several sources say
/// away, the expected return is the latest one (unknown beats any time).
pub fn combine(prefer: Prefer, reports: &[Report]) -> Presence {
    let zendesk = reports.iter().find(|r| r.source == Source::Zendesk);
    let calendar_away = latest_away(reports.iter().filter(|r| r.source.is_calendar()));
    let zendesk_away = latest_away(zendesk.into_iter());
    let zendesk_available = zendesk.is_some_and(|r| matches!(r.signal, Signal::Available(_)));
    match prefer {
        Prefer::Calendar => match (calendar_away, zendesk_away) {
            (Some(calendar), Some(zendesk)) => merge(calendar, zendesk),
            (Some(away), None) | (None, Some(away)) => away,
            (None, None) => Presence::Available,
        },
        Prefer::Zendesk if zendesk_available => Presence::Available,
        Prefer::Zendesk => match (zendesk_away, calendar_away) {
            (Some(zendesk), Some(calendar)) => merge(zendesk, calendar),
            (Some(away), None) | (None, Some(away)) => away,
            (None, None) => Presence::Available,
        },
    }
}

/// The first verdict, returning at the later of the two times.
fn merge(first: Presence, second: Presence) -> Presence {
    match (first, second) {
        (
            Presence::Away {
                source,
                reason,
                until,
            },
            Presence::Away { until: other, .. },
        ) => Presence::Away {
            source,
            reason,
            until: later(until, other),
        },
        (first, _) => first,
    }
}

fn latest_away<'a>(reports: impl Iterator<Item = &'a Report>) -> Option<Presence> {
    let mut best: Option<Presence> = None;
    for report in reports {
        let Signal::Away { reason, until } = &report.signal else {
            continue;
        };
        let candidate = Presence::Away {
            source: report.source,
            reason: reason.clone(),
            until: *until,
        };
        best = match best {
            Some(Presence::Away {
                until: best_until, ..
            }) if !returns_later(*until, best_until) => best,
            _ => Some(candidate),
        };
    }
    best
}

/// Whether `a` is a later return than `b` (unknown is the latest).
fn returns_later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> bool {
    match (a, b) {
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
        _ => false,
    }
}

fn later(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    }
}

/// A time as notes show it (`2026-12-02 10:00 UTC`, or `at an unknown time`).
pub fn when(at: Option<DateTime<Utc>>) -> String {
    match at {
        Some(at) => at.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "at an unknown time".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(hour: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2026-12-02T{hour:02}:00:00Z"))
            .unwrap()
            .with_timezone(&Utc)
    }

    fn away(source: Source, until: Option<DateTime<Utc>>) -> Report {
        Report {
            source,
            signal: Signal::Away {
                reason: format!("{} away", source.as_str()),
                until,
            },
        }
    }

    fn online() -> Report {
        Report {
            source: Source::Zendesk,
            signal: Signal::Available("online".into()),
        }
    }

    #[test]
    fn calendar_vs_zendesk_online_depends_on_the_setting() {
        let reports = [online(), away(Source::Absence, Some(at(15)))];
        assert_eq!(
            combine(Prefer::Calendar, &reports),
            Presence::Away {
                source: Source::Absence,
                reason: "absence_calendar away".into(),
                until: Some(at(15)),
            }
        );
        assert_eq!(combine(Prefer::Zendesk, &reports), Presence::Available);
    }

    #[test]
    fn zendesk_away_counts_under_both_settings_and_the_later_return_wins() {
        let reports = [away(Source::Zendesk, Some(at(12)))];
        for prefer in [Prefer::Calendar, Prefer::Zendesk] {
            assert!(matches!(
                combine(prefer, &reports),
                Presence::Away { source: Source::Zendesk, until, .. } if until == Some(at(12))
            ));
        }
        let both = [
            away(Source::Zendesk, Some(at(12))),
            away(Source::WorkingHours, Some(at(16))),
            away(Source::Absence, Some(at(14))),
        ];
        assert!(matches!(
            combine(Prefer::Calendar, &both),
            Presence::Away { source: Source::WorkingHours, until, .. } if until == Some(at(16))
        ));
        assert!(matches!(
            combine(Prefer::Zendesk, &both),
            Presence::Away { source: Source::Zendesk, until, .. } if until == Some(at(16))
        ));
        let unknown = [
            away(Source::Zendesk, None),
            away(Source::Absence, Some(at(9))),
        ];
        assert!(matches!(
            combine(Prefer::Calendar, &unknown),
            Presence::Away {
                source: Source::Absence,
                until: None,
                ..
            }
        ));
    }

    #[test]
    fn silence_everywhere_is_available() {
        let reports = [Report {
            source: Source::Zendesk,
            signal: Signal::Silent("no omnichannel routing".into()),
        }];
        assert_eq!(combine(Prefer::Calendar, &reports), Presence::Available);
        assert_eq!(combine(Prefer::Zendesk, &[]), Presence::Available);
        assert_eq!(when(Some(at(9))), "2026-12-02 09:00 UTC");
    }
}
