//! Instants in the customer's terms: "14:30 по московскому времени во
//! вторник, 3 декабря" / "2:30 pm Moscow time on Tuesday, 3 December".
//! Pure functions of the instant, the calendar's time zone and the language.

use chrono::{DateTime, Datelike, Timelike, Utc, Weekday};
use chrono_tz::Tz;
use serde::Serialize;

/// A language acknowledgements are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    Ru,
    En,
}

impl Language {
    pub const ALL: [Language; 2] = [Language::Ru, Language::En];

    /// The code used in config keys (`ru`, `en`).
    pub fn code(self) -> &'static str {
        match self {
            Language::Ru => "ru",
            Language::En => "en",
        }
    }

    /// The language of a BCP 47 tag (`ru`, `ru-RU`, `en_GB`), by its primary
    /// subtag; None for a language there are no templates for.
    pub fn from_tag(tag: &str) -> Option<Language> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "ru" => Some(Language::Ru),
            "en" => Some(Language::En),
            _ => None,
        }
    }

    /// The first of the contact's locale, the message's language and the
    /// configured default that has templates.
    pub fn choose(contact: Option<&str>, message: Option<&str>, default: Language) -> Language {
        contact
            .and_then(Language::from_tag)
            .or_else(|| message.and_then(Language::from_tag))
            .unwrap_or(default)
    }
}

/// One instant, worded for a template: `{{ deadline.time }} {{ deadline.zone }} {{ deadline.day }}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Worded {
    /// Local clock time: `14:30` / `2:30 pm`.
    pub time: String,
    /// The day with its preposition: `во вторник, 3 декабря` / `on Tuesday, 3 December`.
    pub day: String,
    /// The time zone as people say it: `по московскому времени` / `Moscow time`.
    pub zone: String,
    /// RFC 3339 with the zone's offset, for templates that want it.
    pub rfc3339: String,
}

/// `at` in `zone`, in `language`.
pub fn word(at: DateTime<Utc>, zone: Tz, language: Language) -> Worded {
    let local = at.with_timezone(&zone);
    let (hour, minute) = (local.hour(), local.minute());
    let time = match language {
        Language::Ru => format!("{hour:02}:{minute:02}"),
        Language::En => {
            let half = if hour < 12 { "am" } else { "pm" };
            let twelve = match hour % 12 {
                0 => 12,
                other => other,
            };
            format!("{twelve}:{minute:02} {half}")
        }
    };
    let (weekday, day, month) = (local.weekday(), local.day(), local.month0() as usize);
    let day = match language {
        Language::Ru => format!(
            "{} {}, {day} {}",
            ru_preposition(weekday),
            ru_weekday_accusative(weekday),
            RU_MONTHS_GENITIVE[month]
        ),
        Language::En => format!("on {}, {day} {}", en_weekday(weekday), EN_MONTHS[month]),
    };
    Worded {
        time,
        day,
        zone: zone_words(zone, language, &local.format("%:z").to_string()),
        rfc3339: local.to_rfc3339(),
    }
}

const RU_MONTHS_GENITIVE: [&str; 12] = [
    "января",
    "февраля",
    "марта",
    "апреля",
    "мая",
    "июня",
    "июля",
    "августа",
    "сентября",
    "октября",
    "ноября",
    "декабря",
];

const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// "во вторник", "в среду": "во" before the cluster "вт".
fn ru_preposition(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Tue => "во",
        _ => "в",
    }
}

fn ru_weekday_accusative(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "понедельник",
        Weekday::Tue => "вторник",
        Weekday::Wed => "среду",
        Weekday::Thu => "четверг",
        Weekday::Fri => "пятницу",
        Weekday::Sat => "субботу",
        Weekday::Sun => "воскресенье",
    }
}

fn en_weekday(weekday: Weekday) -> &'static str {
    match weekday {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// Zones customers know by a city's name; others are named by their offset.
const ZONE_NAMES: [(Tz, &str, &str); 12] = [
    (Tz::Europe__Moscow, "по московскому времени", "Moscow time"),
    (
        Tz::Europe__Kaliningrad,
        "по калининградскому времени",
        "Kaliningrad time",
    ),
    (Tz::Europe__Samara, "по самарскому времени", "Samara time"),
    (
        Tz::Asia__Yekaterinburg,
        "по екатеринбургскому времени",
        "Yekaterinburg time",
    ),
    (Tz::Asia__Omsk, "по омскому времени", "Omsk time"),
    (
        Tz::Asia__Novosibirsk,
        "по новосибирскому времени",
        "Novosibirsk time",
    ),
    (
        Tz::Asia__Krasnoyarsk,
        "по красноярскому времени",
        "Krasnoyarsk time",
    ),
    (Tz::Asia__Irkutsk, "по иркутскому времени", "Irkutsk time"),
    (
        Tz::Asia__Vladivostok,
        "по владивостокскому времени",
        "Vladivostok time",
    ),
    (Tz::Europe__Berlin, "по берлинскому времени", "Berlin time"),
    (Tz::Europe__London, "по лондонскому времени", "London time"),
    (Tz::UTC, "по UTC", "UTC"),
];

fn zone_words(zone: Tz, language: Language, offset: &str) -> String {
    let named = ZONE_NAMES.iter().find(|(tz, _, _)| *tz == zone);
    match (named, language) {
        (Some((_, ru, _)), Language::Ru) => (*ru).to_owned(),
        (Some((_, _, en)), Language::En) => (*en).to_owned(),
        (None, Language::Ru) => format!("по времени UTC{offset}"),
        (None, Language::En) => format!("UTC{offset}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_issue_examples_are_worded_exactly() {
        // Tuesday 1 December 2026, 14:30 in Moscow.
        let due = at("2026-12-01T14:30:00+03:00");
        let ru = word(due, Tz::Europe__Moscow, Language::Ru);
        assert_eq!(
            format!("Мы ответим до {} {} {}", ru.time, ru.zone, ru.day),
            "Мы ответим до 14:30 по московскому времени во вторник, 1 декабря"
        );
        let en = word(due, Tz::Europe__Moscow, Language::En);
        assert_eq!(
            format!("We will reply by {} {} {}", en.time, en.zone, en.day),
            "We will reply by 2:30 pm Moscow time on Tuesday, 1 December"
        );
        assert_eq!(en.rfc3339, "2026-12-01T14:30:00+03:00");
    }

    #[test]
    fn hours_around_noon_and_midnight_read_naturally_in_english() {
        let zone = Tz::UTC;
        let cases = [
            ("2026-12-07T00:05:00Z", "12:05 am", "00:05"),
            ("2026-12-07T10:02:00Z", "10:02 am", "10:02"),
            ("2026-12-07T12:00:00Z", "12:00 pm", "12:00"),
            ("2026-12-07T23:59:00Z", "11:59 pm", "23:59"),
        ];
        for (instant, en, ru) in cases {
            assert_eq!(word(at(instant), zone, Language::En).time, en, "{instant}");
            assert_eq!(word(at(instant), zone, Language::Ru).time, ru, "{instant}");
        }
    }

    #[test]
    fn every_weekday_takes_its_russian_form() {
        // Monday 7 to Sunday 13 December 2026.
        let expected = [
            "в понедельник, 7 декабря",
            "во вторник, 8 декабря",
            "в среду, 9 декабря",
            "в четверг, 10 декабря",
            "в пятницу, 11 декабря",
            "в субботу, 12 декабря",
            "в воскресенье, 13 декабря",
        ];
        for (offset, text) in expected.iter().enumerate() {
            let instant = at("2026-12-07T12:00:00Z") + chrono::Duration::days(offset as i64);
            assert_eq!(word(instant, Tz::Europe__Moscow, Language::Ru).day, *text);
        }
    }

    #[test]
    fn the_local_date_is_the_zones_not_utcs() {
        // 22:30 UTC on Monday is already Tuesday in Moscow.
        let worded = word(at("2026-12-07T22:30:00Z"), Tz::Europe__Moscow, Language::En);
        assert_eq!(
            (worded.time.as_str(), worded.day.as_str()),
            ("1:30 am", "on Tuesday, 8 December")
        );
    }

    #[test]
    fn unnamed_zones_are_named_by_their_offset() {
        let worded = word(
            at("2026-07-01T12:00:00Z"),
            Tz::America__New_York,
            Language::En,
        );
        assert_eq!(worded.zone, "UTC-04:00");
        let worded = word(at("2026-07-01T12:00:00Z"), Tz::Asia__Tokyo, Language::Ru);
        assert_eq!(worded.zone, "по времени UTC+09:00");
    }

    #[test]
    fn the_language_is_the_contacts_then_the_messages_then_the_default() {
        use Language::*;
        assert_eq!(Language::choose(Some("ru-RU"), Some("en"), En), Ru);
        assert_eq!(Language::choose(Some("de"), Some("en_GB"), Ru), En);
        assert_eq!(Language::choose(None, Some("RU"), En), Ru);
        assert_eq!(Language::choose(Some("fr"), None, Ru), Ru);
        assert_eq!(Language::choose(None, None, En), En);
        assert_eq!(Language::from_tag(""), None);
    }
}

/// An attachment left out, worded for the acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OmittedWorded {
    pub filename: String,
    /// `30 MB` / `30 МБ`; absent when the size is not known.
    pub size: Option<String>,
    /// Why, as a customer reads it.
    pub why: String,
}

/// `bytes` in the largest unit that keeps it above 1, in `language`.
pub fn word_bytes(bytes: u64, language: Language) -> String {
    let units = match language {
        Language::Ru => ["байт", "КБ", "МБ", "ГБ"],
        Language::En => ["bytes", "KB", "MB", "GB"],
    };
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let number = if unit == 0 {
        bytes.to_string()
    } else if value >= 10.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    };
    let number = match language {
        Language::Ru => number.replace('.', ","),
        Language::En => number,
    };
    format!("{number} {}", units[unit])
}

/// `file` worded in `language`.
pub fn word_omitted(file: &intake_event::OmittedAttachment, language: Language) -> OmittedWorded {
    let why = match (file.reason.as_str(), file.limit, language) {
        (intake_event::OMITTED_TOO_LARGE, Some(limit), Language::Ru) => {
            format!("файл больше допустимых {}", word_bytes(limit, language))
        }
        (intake_event::OMITTED_TOO_LARGE, Some(limit), Language::En) => {
            format!("larger than our limit of {}", word_bytes(limit, language))
        }
        (intake_event::OMITTED_TOO_MANY, Some(limit), Language::Ru) => {
            format!("в одном письме можно не больше {limit} вложений")
        }
        (intake_event::OMITTED_TOO_MANY, Some(limit), Language::En) => {
            format!("we take at most {limit} attachments per message")
        }
        (intake_event::OMITTED_TOO_LARGE, None, Language::Ru) => "файл слишком большой".to_owned(),
        (intake_event::OMITTED_TOO_LARGE, None, Language::En) => "the file is too large".to_owned(),
        (_, _, Language::Ru) => "не удалось принять".to_owned(),
        (_, _, Language::En) => "it could not be accepted".to_owned(),
    };
    OmittedWorded {
        filename: file.filename.clone(),
        size: file.size.map(|size| word_bytes(size, language)),
        why,
    }
}
