//! The words of a warning: the internal note on the ticket and the Slack
//! post, in Russian and English, naming the policy, the deadline in the
//! team's time zone and the time left. Pure functions.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use intake_ack::format::{Language, word};

/// The texts of one warning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Texts {
    /// The internal note (Russian, then English).
    pub note: String,
    /// The Slack post (both languages, with the ticket link when known).
    pub slack: String,
}

/// Whole minutes from `now` to `due_at`, rounded up, at least 1.
pub(crate) fn minutes_left(now: DateTime<Utc>, due_at: DateTime<Utc>) -> i64 {
    let seconds = (due_at - now).num_seconds().max(0);
    ((seconds + 59) / 60).max(1)
}

/// The warning for ticket `ticket_id` under `policy`, due at `due_at` on a
/// calendar in `zone`, written at `now`.
pub fn warning_texts(
    ticket_id: u64,
    policy: &str,
    due_at: DateTime<Utc>,
    zone: Tz,
    now: DateTime<Utc>,
    link: Option<&str>,
) -> Texts {
    let minutes = minutes_left(now, due_at);
    let ru = word(due_at, zone, Language::Ru);
    let en = word(due_at, zone, Language::En);
    let ru_text = format!(
        "До срока первого ответа по SLA «{policy}» осталось {minutes} мин.: ответить \
         клиенту нужно до {} {} {}. Публичного ответа агента пока нет — пожалуйста, \
         возьмите тикет в работу.",
        ru.time, ru.zone, ru.day
    );
    let en_text = format!(
        "{minutes} min left until the first-response deadline of SLA policy \"{policy}\": \
         the customer should have an answer by {} {} {}. No agent has answered publicly \
         yet, please pick this ticket up.",
        en.time, en.zone, en.day
    );
    let note = format!("{ru_text}\n\n{en_text}");
    let target = match link {
        Some(link) => format!("<{link}|#{ticket_id}>"),
        None => format!("#{ticket_id}"),
    };
    let slack = format!(":warning: Тикет / ticket {target}\n{ru_text}\n{en_text}");
    Texts { note, slack }
}

/// The link to a ticket in Zendesk's agent interface.
pub(crate) fn ticket_link(base: &url::Url, ticket_id: u64) -> Option<String> {
    base.join(&format!("/agent/tickets/{ticket_id}"))
        .ok()
        .map(String::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_note_names_the_policy_the_local_deadline_and_the_minutes_left() {
        // 10:02 Moscow time on Monday, 7 December 2026.
        let due = Utc.with_ymd_and_hms(2026, 12, 7, 7, 2, 0).unwrap();
        let now = due - chrono::Duration::seconds(29 * 60 + 30);
        let base = url::Url::parse("https://acme.zendesk.com").unwrap();
        let link = ticket_link(&base, 42).unwrap();
        let texts = warning_texts(42, "chat", due, Tz::Europe__Moscow, now, Some(&link));
        assert!(
            texts.note.contains("по SLA «chat» осталось 30 мин."),
            "{}",
            texts.note
        );
        assert!(
            texts
                .note
                .contains("до 10:02 по московскому времени в понедельник, 7 декабря"),
            "{}",
            texts.note
        );
        assert!(
            texts
                .note
                .contains("30 min left until the first-response deadline of SLA policy \"chat\""),
            "{}",
            texts.note
        );
        assert!(
            texts
                .note
                .contains("by 10:02 am Moscow time on Monday, 7 December"),
            "{}",
            texts.note
        );
        assert!(
            texts
                .slack
                .contains("<https://acme.zendesk.com/agent/tickets/42|#42>"),
            "{}",
            texts.slack
        );
    }

    #[test]
    fn minutes_are_rounded_up_and_never_zero() {
        let due = Utc.with_ymd_and_hms(2026, 12, 7, 7, 2, 0).unwrap();
        assert_eq!(minutes_left(due - chrono::Duration::seconds(61), due), 2);
        assert_eq!(minutes_left(due, due), 1);
        assert_eq!(minutes_left(due + chrono::Duration::minutes(5), due), 1);
    }
}
