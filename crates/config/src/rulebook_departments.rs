//! `[[rulebook.departments]]`: rule 6, requests that are not for support go
//! to the department that owns them (first match wins). Each rule names a
//! Zendesk group, its criteria and, optionally, the department's Slack.

use std::path::PathBuf;

use intake_rulebook::{DepartmentRule, SlackTarget};
use serde::Deserialize;

use crate::secret::Ctx;

/// One `[[rulebook.departments]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDepartment {
    /// Short name (`[a-z0-9_]+`), in the tag `intake_department_<name>`.
    name: String,
    /// The department's Zendesk group.
    group_id: u64,
    /// Only requests of these channels (default: any).
    #[serde(default)]
    channels: Vec<String>,
    /// Only senders of these e-mail domains (default: any).
    #[serde(default)]
    sender_domains: Vec<String>,
    /// Any of these words in the subject or text, case-insensitively.
    #[serde(default)]
    keywords: Vec<String>,
    /// Any of these regular expressions (Rust `regex` syntax) on the subject or text.
    #[serde(default)]
    patterns: Vec<String>,
    /// Environment variable holding the department's Slack incoming webhook URL.
    #[serde(default)]
    slack_webhook_url_env: Option<String>,
    /// File holding the department's Slack incoming webhook URL.
    #[serde(default)]
    slack_webhook_url_file: Option<PathBuf>,
    /// Slack channel for `chat.postMessage` (instead of a webhook), with a bot token.
    #[serde(default)]
    slack_channel: Option<String>,
    /// Environment variable holding the bot token for `chat.postMessage`.
    #[serde(default)]
    slack_bot_token_env: Option<String>,
    /// File holding the bot token for `chat.postMessage`.
    #[serde(default)]
    slack_bot_token_file: Option<PathBuf>,
    /// Slack Web API base URL for `chat.postMessage`.
    #[serde(default = "default_slack_api_base_url")]
    slack_api_base_url: String,
}

fn default_slack_api_base_url() -> String {
    "https://slack.com/api/".to_owned()
}

/// Validates every rule; problems carry `rulebook.departments[i].<key>`.
pub(crate) fn validate(ctx: &mut Ctx<'_>, raw: Vec<RawDepartment>) -> Vec<DepartmentRule> {
    let known = ctx.known_channels();
    let mut names: Vec<String> = Vec::new();
    let mut rules = Vec::with_capacity(raw.len());
    for (index, department) in raw.into_iter().enumerate() {
        let key = format!("rulebook.departments[{index}]");
        let name = department.name.trim().to_owned();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            ctx.problem(
                format!("{key}.name"),
                "must be lower-case letters, digits or _",
            );
        } else if names.contains(&name) {
            ctx.problem(format!("{key}.name"), format!("{name:?} is listed twice"));
        }
        names.push(name.clone());
        if department.group_id == 0 {
            ctx.problem(format!("{key}.group_id"), "must be a Zendesk group id");
        }
        for (i, channel) in department.channels.iter().enumerate() {
            if !known.contains(channel) {
                ctx.problem(
                    format!("{key}.channels[{i}]"),
                    format!("unknown channel {channel:?}"),
                );
            }
        }
        let mut patterns = Vec::new();
        for (i, pattern) in department.patterns.iter().enumerate() {
            match regex::Regex::new(pattern) {
                Ok(regex) => patterns.push(regex),
                Err(error) => ctx.problem(format!("{key}.patterns[{i}]"), error.to_string()),
            }
        }
        let keywords: Vec<String> = department
            .keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        let sender_domains: Vec<String> = department
            .sender_domains
            .iter()
            .map(|d| d.trim().trim_start_matches('@').to_lowercase())
            .collect();
        if department.channels.is_empty()
            && sender_domains.is_empty()
            && keywords.is_empty()
            && department.patterns.is_empty()
        {
            ctx.problem(
                key.clone(),
                "needs at least one of channels, sender_domains, keywords, patterns (else it takes every request)",
            );
        }
        let slack = slack_target(ctx, &key, &department);
        rules.push(DepartmentRule {
            name,
            group_id: department.group_id,
            channels: department.channels,
            sender_domains,
            keywords,
            patterns,
            slack,
        });
    }
    rules
}

fn slack_target(ctx: &mut Ctx<'_>, key: &str, department: &RawDepartment) -> Option<SlackTarget> {
    let webhook = ctx.secret(
        &format!("{key}.slack_webhook_url"),
        department.slack_webhook_url_env.as_deref(),
        department.slack_webhook_url_file.as_deref(),
    );
    let token = ctx.secret(
        &format!("{key}.slack_bot_token"),
        department.slack_bot_token_env.as_deref(),
        department.slack_bot_token_file.as_deref(),
    );
    let token_given =
        department.slack_bot_token_env.is_some() || department.slack_bot_token_file.is_some();
    let webhook_given =
        department.slack_webhook_url_env.is_some() || department.slack_webhook_url_file.is_some();
    match (&department.slack_channel, webhook_given) {
        (Some(_), true) => {
            ctx.problem(
                format!("{key}.slack_channel"),
                "conflicts with slack_webhook_url_*: notify one way only",
            );
            None
        }
        (None, true) => webhook.map(|url| SlackTarget::Webhook { url }),
        (None, false) => {
            if token_given {
                ctx.problem(
                    format!("{key}.slack_channel"),
                    "required with slack_bot_token_*",
                );
            }
            None
        }
        (Some(channel), false) => {
            if !token_given {
                ctx.problem(
                    format!("{key}.slack_bot_token_env"),
                    "required with slack_channel (or slack_bot_token_file)",
                );
            }
            let api_base_url = match url::Url::parse(&department.slack_api_base_url) {
                Ok(url) if url.path().ends_with('/') => Some(url),
                Ok(_) => {
                    ctx.problem(format!("{key}.slack_api_base_url"), "must end with /");
                    None
                }
                Err(error) => {
                    ctx.problem(format!("{key}.slack_api_base_url"), error.to_string());
                    None
                }
            };
            Some(SlackTarget::PostMessage {
                api_base_url: api_base_url?,
                channel: channel.clone(),
                token: token?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn departments_parse_in_order_with_their_slack() {
        let env = [
            (
                "SALES_HOOK".to_owned(),
                "https://hooks.slack.test/T/B/x".to_owned(),
            ),
            ("BOT".to_owned(), "xoxb-1".to_owned()),
        ];
        let text = r#"
[[rulebook.departments]]
name = "sales"
group_id = 11
keywords = ["Invoice", "счёт"]
patterns = ["(?i)price list"]
slack_webhook_url_env = "SALES_HOOK"

[[rulebook.departments]]
name = "partners"
group_id = 12
channels = ["email"]
sender_domains = ["@Partner.test"]
slack_channel = "C123"
slack_bot_token_env = "BOT"
"#;
        let config = crate::load_from(Some(text), &env, &[]).unwrap();
        let rules = &config.rulebook.departments;
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].keywords, ["invoice", "счёт"]);
        assert!(matches!(
            rules[0].slack,
            Some(intake_rulebook::SlackTarget::Webhook { .. })
        ));
        assert_eq!(rules[1].sender_domains, ["partner.test"]);
        assert!(matches!(
            rules[1].slack,
            Some(intake_rulebook::SlackTarget::PostMessage { .. })
        ));
        assert!(
            !format!("{config:?}").contains("hooks.slack.test"),
            "the webhook URL is a secret"
        );
    }

    #[test]
    fn department_problems_carry_their_key_path() {
        let text = r#"
[[rulebook.departments]]
name = "Sales Team"
group_id = 0

[[rulebook.departments]]
name = "billing"
group_id = 5
patterns = ["(unclosed"]
channels = ["fax"]
slack_channel = "C1"
"#;
        let errors = crate::load_from(Some(text), &[], &[]).unwrap_err();
        for key in [
            "rulebook.departments[0].name",
            "rulebook.departments[0].group_id",
            "rulebook.departments[0]",
            "rulebook.departments[1].patterns[0]",
            "rulebook.departments[1].channels[0]",
            "rulebook.departments[1].slack_bot_token_env",
        ] {
            assert!(errors.for_key(key).is_some(), "{key}: {errors}");
        }
    }
}
