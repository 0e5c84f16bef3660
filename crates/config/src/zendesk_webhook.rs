//! `[zendesk_webhook]`: the signed Zendesk webhook of agent comments
//! (`POST /v1/zendesk/events`, issue 16), off by default.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use crate::secret::Ctx;

/// The bus channel of tickets Zendesk created in its own channels, which
/// the webhook hands to the router (`<prefix>.events.zendesk`, decision 54).
pub const ZENDESK_CHANNEL: &str = "zendesk";

/// `[zendesk_webhook]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZendeskWebhook {
    /// Mount the route and deliver agent replies (gateway role).
    #[serde(default)]
    enabled: bool,
    /// Environment variable holding the webhook's signing secret.
    #[serde(default)]
    signing_secret_env: Option<String>,
    /// File holding the webhook's signing secret.
    #[serde(default)]
    signing_secret_file: Option<PathBuf>,
    /// A request signed further than this many seconds from now is refused.
    #[serde(default = "default_replay_window_secs")]
    replay_window_secs: u64,
    /// Who carries agent replies to mail customers: `zendesk` (its own
    /// notifications to the requester; intake sends nothing) or `intake`
    /// (from the support address, threaded into the customer's mail).
    #[serde(default)]
    mail_replies: MailReplies,
    /// The gateway's data listener as Zendesk reaches it
    /// (`https://intake.example.com`): `intake zendesk setup` points the
    /// webhook at this URL + `/v1/zendesk/events`.
    #[serde(default)]
    public_base_url: Option<String>,
}

/// Who sends an agent's reply to a customer who wrote by mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MailReplies {
    /// Zendesk's own notification e-mails (the default): intake skips mail.
    #[default]
    Zendesk,
    /// Intake, through the mail channel's SMTP sender.
    Intake,
}

fn default_replay_window_secs() -> u64 {
    300
}

impl Default for RawZendeskWebhook {
    fn default() -> Self {
        Self {
            enabled: false,
            signing_secret_env: None,
            signing_secret_file: None,
            replay_window_secs: default_replay_window_secs(),
            mail_replies: MailReplies::default(),
            public_base_url: None,
        }
    }
}

/// `[zendesk_webhook]`, validated.
#[derive(Clone)]
pub struct ZendeskWebhookConfig {
    pub enabled: bool,
    /// Present whenever `enabled` is (a problem is reported otherwise).
    pub signing_secret: Option<SecretString>,
    pub replay_window: Duration,
    /// Who carries agent replies to mail customers.
    pub mail_replies: MailReplies,
    /// Where Zendesk reaches the gateway (`intake zendesk setup`).
    pub public_base_url: Option<url::Url>,
    /// The secret's file, when the secret is read from one (`intake
    /// zendesk setup` stores Zendesk's secret there).
    pub signing_secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for ZendeskWebhookConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZendeskWebhookConfig")
            .field("enabled", &self.enabled)
            .field(
                "signing_secret",
                &self.signing_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("replay_window", &self.replay_window)
            .field("mail_replies", &self.mail_replies)
            .field(
                "public_base_url",
                &self.public_base_url.as_ref().map(url::Url::as_str),
            )
            .finish()
    }
}

impl RawZendeskWebhook {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> ZendeskWebhookConfig {
        let signing_secret = ctx.secret(
            "zendesk_webhook.signing_secret",
            self.signing_secret_env.as_deref(),
            self.signing_secret_file.as_deref(),
        );
        let given = self.signing_secret_env.is_some() || self.signing_secret_file.is_some();
        if self.enabled && !given {
            ctx.problem(
                "zendesk_webhook.signing_secret_env",
                "required when zendesk_webhook.enabled (or zendesk_webhook.signing_secret_file)",
            );
        }
        let public_base_url =
            self.public_base_url
                .as_deref()
                .and_then(|text| match url::Url::parse(text) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
                    _ => {
                        ctx.problem(
                            "zendesk_webhook.public_base_url",
                            "must be an http or https URL",
                        );
                        None
                    }
                });
        if self.replay_window_secs == 0 {
            ctx.problem("zendesk_webhook.replay_window_secs", "must be at least 1");
        }
        ZendeskWebhookConfig {
            enabled: self.enabled,
            signing_secret,
            replay_window: Duration::from_secs(self.replay_window_secs),
            mail_replies: self.mail_replies,
            public_base_url,
            signing_secret_file: self.signing_secret_file,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn off_by_default_and_a_secret_is_required_when_on() {
        let config = crate::load_from(None, &[], &[]).unwrap();
        assert!(!config.zendesk_webhook.enabled);
        let errors = crate::load_from(Some("[zendesk_webhook]\nenabled = true\n"), &[], &[])
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("zendesk_webhook.signing_secret_env"),
            "{errors}"
        );
        let env = [("HOOK_SECRET".to_owned(), "s3cret".to_owned())];
        let text = "[zendesk_webhook]\nenabled = true\nsigning_secret_env = \"HOOK_SECRET\"\nreplay_window_secs = 60\n";
        let config = crate::load_from(Some(text), &env, &[]).unwrap();
        assert!(config.zendesk_webhook.signing_secret.is_some());
        assert_eq!(config.zendesk_webhook.replay_window.as_secs(), 60);
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            config.zendesk_webhook.mail_replies,
            super::MailReplies::Zendesk
        );
        let intake = format!("{text}mail_replies = \"intake\"\n");
        let config = crate::load_from(Some(&intake), &env, &[]).unwrap();
        assert_eq!(
            config.zendesk_webhook.mail_replies,
            super::MailReplies::Intake
        );
        let bad = format!("{text}mail_replies = \"smtp\"\n");
        assert!(crate::load_from(Some(&bad), &env, &[]).is_err());
        let base = format!("{text}public_base_url = \"https://intake.example.com\"\n");
        let config = crate::load_from(Some(&base), &env, &[]).unwrap();
        assert_eq!(
            config.zendesk_webhook.public_base_url.unwrap().as_str(),
            "https://intake.example.com/"
        );
        let bad = format!("{text}public_base_url = \"intake.example.com\"\n");
        let errors = crate::load_from(Some(&bad), &env, &[])
            .unwrap_err()
            .to_string();
        assert!(
            errors.contains("zendesk_webhook.public_base_url"),
            "{errors}"
        );
    }
}
