//! The acknowledgement text for real deadlines: the Friday 17:57
//! cases (chat 5 working minutes, mail 12 working hours), both languages,
//! outside and inside working hours, follow-ups and per-channel templates.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use intake_ack::{Language, Templates};
use intake_calendar::{Calendars, SlaPolicies, WorkingCalendar, seeds_policies};
use intake_event::{
    AnswerDeadline, OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeEffect, TicketOutcome, outcome_id,
};
use uuid::Uuid;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap()
        .with_timezone(&Utc)
}

fn policies() -> SlaPolicies {
    let mut calendars = Calendars::default();
    calendars.insert(WorkingCalendar::seeds_default("default"));
    SlaPolicies::new(seeds_policies(), calendars)
}

/// The outcome the router publishes for `channel` at `received`, with the
/// deadline the seeds' policies give.
fn outcome(channel: &str, received: &str, locale: Option<&str>) -> TicketOutcome {
    let received_at = at(received);
    let deadline = policies()
        .first_response_deadline(channel, None, received_at)
        .unwrap();
    let event_id = Uuid::new_v4();
    TicketOutcome {
        schema: OUTCOME_SCHEMA_ID.to_owned(),
        outcome_id: outcome_id(event_id, OutcomeEffect::Created),
        event_id: Some(event_id),
        channel: channel.to_owned(),
        contact: OutcomeContact {
            key: format!("{channel}:v1"),
            locale: locale.map(str::to_owned),
        },
        conversation_id: Some("conv-1".to_owned()),
        effect: OutcomeEffect::Created,
        ticket_id: Some(4711),
        deadline: Some(AnswerDeadline {
            due_at: deadline.due_at,
            policy: deadline.policy,
            calendar: deadline.calendar,
        }),
        locale: None,
        auto_submitted: false,
        received_at: Some(received_at),
        dead_letter_reason: None,
        channel_account: None,
        omitted_attachments: Vec::new(),
    }
}

fn render(outcome: &TicketOutcome, default: Language) -> String {
    Templates::new(default, &BTreeMap::new())
        .unwrap()
        .render(outcome, &policies(), outcome.received_at.unwrap())
        .unwrap()
}

#[test]
fn a_chat_message_at_17_57_on_friday_is_promised_monday_10_02() {
    // 3 working minutes on Friday 4 December 2026, 2 on Monday 7 December.
    let text = render(
        &outcome("chat", "2026-12-04T17:57:00+03:00", Some("ru-RU")),
        Language::En,
    );
    assert_eq!(
        text,
        "Здравствуйте! Спасибо, что написали. Ваше обращение получило номер 4711.\n\
         Мы ответим до 10:02 по московскому времени в понедельник, 7 декабря. \
         Если захотите что-то добавить, просто ответьте на это сообщение."
    );
}

#[test]
fn a_mail_at_17_57_on_friday_is_promised_tuesday_13_57() {
    // 3 min on Friday + 8 h on Monday + 3 h 57 min on Tuesday.
    let text = render(
        &outcome("email", "2026-12-04T17:57:00+03:00", Some("en")),
        Language::Ru,
    );
    assert!(
        text.contains("We will reply by 1:57 pm Moscow time on Tuesday, 8 December."),
        "{text}"
    );
    assert!(text.contains("ticket #4711"), "{text}");
}

#[test]
fn outside_working_hours_it_says_when_the_team_is_back() {
    // Saturday 5 December: closed until Monday 10:00.
    let text = render(
        &outcome("chat", "2026-12-05T12:00:00+03:00", Some("en")),
        Language::Ru,
    );
    assert!(
        text.contains(
            "We are out of the office right now and back on Monday, 7 December at 10:00 am Moscow time."
        ),
        "{text}"
    );
    assert!(
        text.contains("We will reply by 10:05 am Moscow time on Monday, 7 December."),
        "{text}"
    );
    let text = render(
        &outcome("chat", "2026-12-05T12:00:00+03:00", None),
        Language::Ru,
    );
    assert!(
        text.contains(
            "Сейчас у нас нерабочее время, мы вернёмся в понедельник, 7 декабря в 10:00 по московскому времени."
        ),
        "{text}"
    );
}

#[test]
fn within_working_hours_it_does_not_say_the_team_is_away() {
    let text = render(
        &outcome("chat", "2026-12-04T12:00:00+03:00", Some("en")),
        Language::Ru,
    );
    assert!(!text.contains("out of the office"), "{text}");
    assert!(
        text.contains("by 12:05 pm Moscow time on Friday, 4 December"),
        "{text}"
    );
}

#[test]
fn the_default_language_applies_when_the_locale_has_no_templates() {
    let outcome = outcome("chat", "2026-12-04T12:00:00+03:00", Some("de-DE"));
    assert!(render(&outcome, Language::En).starts_with("Hi!"));
    assert!(render(&outcome, Language::Ru).starts_with("Здравствуйте!"));
    let mut by_message = outcome.clone();
    by_message.locale = Some("en".to_owned());
    assert!(
        render(&by_message, Language::Ru).starts_with("Hi!"),
        "the message's language comes next"
    );
}

#[test]
fn a_follow_up_says_so_and_no_deadline_says_as_soon_as_we_can() {
    let mut follow_up = outcome("chat", "2026-12-04T12:00:00+03:00", Some("en"));
    follow_up.effect = OutcomeEffect::FollowUp;
    follow_up.deadline = None;
    let text = render(&follow_up, Language::Ru);
    assert!(
        text.starts_with("Hi! Thanks for writing again. We have opened ticket #4711"),
        "{text}"
    );
    assert!(text.contains("We will reply as soon as we can."), "{text}");
}

#[test]
fn a_channel_can_replace_a_template() {
    let mut overrides = BTreeMap::new();
    overrides.insert(
        "chat".to_owned(),
        BTreeMap::from([(
            Language::En,
            "#{{ ticket_id }} by {{ deadline.time }}".to_owned(),
        )]),
    );
    let templates = Templates::new(Language::Ru, &overrides).unwrap();
    let chat = outcome("chat", "2026-12-04T12:00:00+03:00", Some("en"));
    assert_eq!(
        templates.render(&chat, &policies(), Utc::now()).unwrap(),
        "#4711 by 12:05 pm"
    );
    // Other languages and channels keep the built-in text.
    let mut russian = chat.clone();
    russian.contact.locale = Some("ru".to_owned());
    assert!(
        templates
            .render(&russian, &policies(), Utc::now())
            .unwrap()
            .starts_with("Здравствуйте!")
    );
    let email = outcome("email", "2026-12-04T12:00:00+03:00", Some("en"));
    assert!(
        templates
            .render(&email, &policies(), Utc::now())
            .unwrap()
            .starts_with("Hi!")
    );
}

#[test]
fn a_broken_template_is_refused_at_start_naming_it() {
    let overrides = BTreeMap::from([(
        "chat".to_owned(),
        BTreeMap::from([(Language::Ru, "{% if %}".to_owned())]),
    )]);
    let error = Templates::new(Language::Ru, &overrides).unwrap_err();
    assert_eq!(error.name, "chat.ru");
    assert!(intake_ack::check_template("{{ ticket_id }").is_err());
    assert!(intake_ack::check_template("{{ ticket_id }}").is_ok());
}

#[test]
fn attachments_left_out_are_named_in_both_languages() {
    use intake_event::{OMITTED_TOO_LARGE, OMITTED_TOO_MANY, OmittedAttachment};
    let mut with_files = outcome("email", "2026-12-04T12:00:00+03:00", Some("ru"));
    with_files.omitted_attachments = vec![
        OmittedAttachment {
            filename: "скан.tiff".to_owned(),
            size: Some(31_457_280),
            reason: OMITTED_TOO_LARGE.to_owned(),
            limit: Some(26_214_400),
        },
        OmittedAttachment {
            filename: "page-51.png".to_owned(),
            size: Some(1536),
            reason: OMITTED_TOO_MANY.to_owned(),
            limit: Some(50),
        },
    ];
    let text = render(&with_files, Language::En);
    assert!(
        text.ends_with(
            "просто ответьте на это сообщение.\n\n\
             К сожалению, не все вложения дошли до нас:\n\
             — скан.tiff (30 МБ): файл больше допустимых 25 МБ\n\
             — page-51.png (1,5 КБ): в одном письме можно не больше 50 вложений\n\
             Если они нужны, пришлите, пожалуйста, ссылку на файлы в облачном хранилище \
             или несколько писем поменьше."
        ),
        "{text}"
    );
    with_files.contact.locale = Some("en".to_owned());
    let text = render(&with_files, Language::Ru);
    assert!(
        text.contains(
            "Unfortunately, not all of your attachments reached us:\n\
             - скан.tiff (30 MB): larger than our limit of 25 MB\n\
             - page-51.png (1.5 KB): we take at most 50 attachments per message\n"
        ),
        "{text}"
    );
    // Without omitted files the text ends as before.
    let plain = render(
        &outcome("email", "2026-12-04T12:00:00+03:00", Some("en")),
        Language::Ru,
    );
    assert!(plain.ends_with("just reply to this message."), "{plain}");
}

#[test]
fn a_request_passed_to_another_department_is_told_so_in_both_languages() {
    let mut routed = outcome("email", "2026-12-04T17:57:00+03:00", Some("ru"));
    routed.effect = OutcomeEffect::RoutedToDepartment;
    routed.outcome_id = outcome_id(routed.event_id.unwrap(), routed.effect);
    routed.deadline = None;
    assert_eq!(
        render(&routed, Language::En),
        "Здравствуйте! Спасибо, что написали. Ваш вопрос ведёт другой отдел нашей компании, \
         поэтому мы уже передали его коллегам (обращение № 4711). Они скоро с вами свяжутся."
    );
    routed.contact.locale = Some("en-GB".to_owned());
    assert_eq!(
        render(&routed, Language::Ru),
        "Hi! Thanks for getting in touch. Your question is one for another team of ours, so we \
         have passed it on to them (request #4711). Someone will be in touch soon."
    );
}
