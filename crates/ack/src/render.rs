//! The acknowledgement text: a `minijinja` template per language, chosen by
//! the contact's locale, then the message's language, then the default;
//! each channel may replace them.
//!
//! Template context:
//! - `ticket_id`: the Zendesk ticket number;
//! - `follow_up`: true when the ticket follows up a closed one;
//! - `routed`: true when the rulebook passed the request to another
//!   department (rule 6): the customer is told so, and no deadline is given;
//! - `deadline`: when the first answer is due (`time`, `zone`, `day`,
//!   `rfc3339`), absent when no SLA policy covers the channel;
//! - `back`: when the team is back (same fields), present only when the
//!   message came outside working hours;
//! - `channel`, `policy`;
//! - `omitted`: attachments left out (over a size or count limit), each
//!   with `filename`, `size` (worded, may be absent) and `why` (worded);
//!   empty when none were.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use intake_calendar::SlaPolicies;
use intake_event::{OutcomeEffect, TicketOutcome};
use minijinja::Environment;
use serde::Serialize;

use crate::format::{Language, Worded, word};

/// The built-in Russian template (written the way a friendly person in the
/// team would answer).
pub const DEFAULT_TEMPLATE_RU: &str = "\
{% if routed %}Здравствуйте! Спасибо, что написали. Ваш вопрос ведёт другой отдел нашей компании, поэтому мы уже передали его коллегам (обращение № {{ ticket_id }}). Они скоро с вами свяжутся.\
{% else %}{% if follow_up %}Здравствуйте! Спасибо, что написали снова. Мы открыли новое обращение № {{ ticket_id }}, чтобы продолжить разговор.\
{% else %}Здравствуйте! Спасибо, что написали. Ваше обращение получило номер {{ ticket_id }}.{% endif %}
{% if back %}Сейчас у нас нерабочее время, мы вернёмся {{ back.day }} в {{ back.time }} {{ back.zone }}.
{% endif %}{% if deadline %}Мы ответим до {{ deadline.time }} {{ deadline.zone }} {{ deadline.day }}.\
{% else %}Мы ответим, как только сможем.{% endif %} Если захотите что-то добавить, просто ответьте на это сообщение.\
{% if omitted %}

К сожалению, не все вложения дошли до нас:
{% for file in omitted %}— {{ file.filename }}{% if file.size %} ({{ file.size }}){% endif %}: {{ file.why }}
{% endfor %}Если они нужны, пришлите, пожалуйста, ссылку на файлы в облачном хранилище или несколько писем поменьше.{% endif %}{% endif %}";

/// The built-in English template.
pub const DEFAULT_TEMPLATE_EN: &str = "\
{% if routed %}Hi! Thanks for getting in touch. Your question is one for another team of ours, so we have passed it on to them (request #{{ ticket_id }}). Someone will be in touch soon.\
{% else %}{% if follow_up %}Hi! Thanks for writing again. We have opened ticket #{{ ticket_id }} to pick up where we left off.\
{% else %}Hi! Thanks for getting in touch. Your request is ticket #{{ ticket_id }}.{% endif %}
{% if back %}We are out of the office right now and back {{ back.day }} at {{ back.time }} {{ back.zone }}.
{% endif %}{% if deadline %}We will reply by {{ deadline.time }} {{ deadline.zone }} {{ deadline.day }}.\
{% else %}We will reply as soon as we can.{% endif %} If you would like to add anything, just reply to this message.\
{% if omitted %}

Unfortunately, not all of your attachments reached us:
{% for file in omitted %}- {{ file.filename }}{% if file.size %} ({{ file.size }}){% endif %}: {{ file.why }}
{% endfor %}If we need them, please send a link to the files on a file-sharing service, or several smaller messages.{% endif %}{% endif %}";

/// The built-in template of `language`.
pub fn default_template(language: Language) -> &'static str {
    match language {
        Language::Ru => DEFAULT_TEMPLATE_RU,
        Language::En => DEFAULT_TEMPLATE_EN,
    }
}

/// A template that does not compile or render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("acknowledgement template {name}: {message}")]
pub struct TemplateError {
    /// `default.ru`, `chat.en`, ...
    pub name: String,
    pub message: String,
}

impl TemplateError {
    /// Never retryable: the same template fails the same way.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Every template, compiled once.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    default_language: Language,
}

/// The key of a template: `default.<lang>` or `<channel>.<lang>`.
fn key(scope: &str, language: Language) -> String {
    format!("{scope}.{}", language.code())
}

impl Templates {
    /// Compiles the built-in templates and the channels' replacements
    /// (`channel → language → template text`).
    pub fn new(
        default_language: Language,
        overrides: &BTreeMap<String, BTreeMap<Language, String>>,
    ) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // Plain text, not HTML: nothing is escaped.
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        for language in Language::ALL {
            add(
                &mut env,
                key("default", language),
                default_template(language).to_owned(),
            )?;
        }
        for (channel, templates) in overrides {
            for (language, text) in templates {
                add(&mut env, key(channel, *language), text.clone())?;
            }
        }
        Ok(Self {
            env,
            default_language,
        })
    }

    /// The acknowledgement of `outcome`. `calendars` give the deadline's
    /// time zone and when the team is back; `received_at` (the outcome's, or
    /// now) decides whether the message came outside working hours.
    pub fn render(
        &self,
        outcome: &TicketOutcome,
        policies: &SlaPolicies,
        now: DateTime<Utc>,
    ) -> Result<String, TemplateError> {
        let language = Language::choose(
            outcome.contact.locale.as_deref(),
            outcome.locale.as_deref(),
            self.default_language,
        );
        let channel_key = key(&outcome.channel, language);
        let name = if self.env.get_template(&channel_key).is_ok() {
            channel_key
        } else {
            key("default", language)
        };
        let context = context(outcome, policies, now, language);
        let template = self.env.get_template(&name).map_err(|e| TemplateError {
            name: name.clone(),
            message: e.to_string(),
        })?;
        let text = template
            .render(minijinja::value::Serde(&context))
            .map_err(|e| TemplateError {
                name: name.clone(),
                message: e.to_string(),
            })?;
        Ok(text.trim().to_owned())
    }
}

fn add(env: &mut Environment<'static>, name: String, text: String) -> Result<(), TemplateError> {
    env.add_template_owned(name.clone(), text)
        .map_err(|e| TemplateError {
            name,
            message: e.to_string(),
        })
}

/// Checks that `text` compiles as a template (for `check-config`).
pub fn check_template(text: &str) -> Result<(), String> {
    let mut env = Environment::new();
    env.add_template("t", text)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[derive(Debug, Serialize)]
struct Context {
    ticket_id: Option<u64>,
    follow_up: bool,
    routed: bool,
    deadline: Option<Worded>,
    back: Option<Worded>,
    channel: String,
    policy: Option<String>,
    omitted: Vec<crate::format::OmittedWorded>,
}

fn context(
    outcome: &TicketOutcome,
    policies: &SlaPolicies,
    now: DateTime<Utc>,
    language: Language,
) -> Context {
    let deadline = outcome.deadline.as_ref();
    let calendar = deadline
        .and_then(|d| policies.calendars().get(&d.calendar))
        .or_else(|| policies.calendars().get("default"));
    let zone = calendar.map_or(Tz::Europe__Moscow, |c| c.time_zone());
    let received = outcome.received_at.unwrap_or(now);
    let back = calendar
        .filter(|c| !c.is_open(received))
        .and_then(|c| c.next_opening(received).ok())
        .map(|at| word(at, zone, language));
    Context {
        ticket_id: outcome.ticket_id,
        follow_up: outcome.effect == OutcomeEffect::FollowUp,
        routed: outcome.effect == OutcomeEffect::RoutedToDepartment,
        deadline: deadline.map(|d| word(d.due_at, zone, language)),
        back,
        channel: outcome.channel.clone(),
        policy: deadline.map(|d| d.policy.clone()),
        omitted: outcome
            .omitted_attachments
            .iter()
            .map(|file| crate::format::word_omitted(file, language))
            .collect(),
    }
}
