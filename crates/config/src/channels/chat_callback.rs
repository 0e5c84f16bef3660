//! `[channels.chat.callback]`: where the chat channel's reply sender posts
//! acknowledgements (the site's chat backend), signed with Standard
//! Webhooks under the site's own secret. Self-contained so it can move with
//! the chat channel's config.

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::secret::{Ctx, SecretRef};

/// `[channels.chat.callback]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawChatCallback {
    /// The site's endpoint receiving acknowledgements (`http` or `https`).
    url: String,
    /// Environment variable holding the site's Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_env: Option<String>,
    /// File holding the site's Standard Webhooks secret (`whsec_…`).
    #[serde(default)]
    secret_file: Option<PathBuf>,
    /// Longest time one callback may take, connection included, in seconds.
    #[serde(default = "default_timeout_secs")]
    timeout_secs: u64,
}

fn default_timeout_secs() -> u64 {
    10
}

/// The chat callback, validated.
#[derive(Debug, Clone)]
pub struct ChatCallbackConfig {
    pub url: url::Url,
    /// The `whsec_…` secret (`Debug` redacts it).
    pub secret: SecretString,
    pub timeout: Duration,
}

impl RawChatCallback {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> Option<ChatCallbackConfig> {
        const BASE: &str = "channels.chat.callback";
        let url = match url::Url::parse(self.url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            Ok(_) => {
                ctx.problem(format!("{BASE}.url"), "must be an http or https URL");
                None
            }
            // The URL is not repeated: it may carry a token.
            Err(error) => {
                ctx.problem(format!("{BASE}.url"), format!("not a URL: {error}"));
                None
            }
        };
        if self.timeout_secs == 0 {
            ctx.problem(format!("{BASE}.timeout_secs"), "must be at least 1");
        }
        let source = SecretRef::new(&self.secret_env, &self.secret_file);
        if !source.is_given() {
            ctx.problem(
                format!("{BASE}.secret_env"),
                "required with a callback URL (or channels.chat.callback.secret_file)",
            );
        }
        let secret = source.resolve(ctx, &format!("{BASE}.secret"));
        if let Some(secret) = &secret
            && !super::chat::is_standard_webhooks_secret(secret.expose_secret())
        {
            let key = if self.secret_env.is_some() {
                "secret_env"
            } else {
                "secret_file"
            };
            ctx.problem(
                format!("{BASE}.{key}"),
                "the secret is not a Standard Webhooks secret (\"whsec_\" followed by the base64 of at least 16 bytes)",
            );
            return None;
        }
        Some(ChatCallbackConfig {
            url: url?,
            secret: secret?,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::load_from;

    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn env() -> Vec<(String, String)> {
        vec![("SITE_SECRET".to_owned(), SECRET.to_owned())]
    }

    #[test]
    fn a_callback_is_read_with_its_secret_and_timeout() {
        let text = r#"
            [channels.chat.callback]
            url = "https://chat.example.com/intake/replies"
            secret_env = "SITE_SECRET"
            timeout_secs = 5
        "#;
        let config = load_from(Some(text), &env()).unwrap();
        let callback = config.channels.chat.callback.unwrap();
        assert_eq!(
            callback.url.as_str(),
            "https://chat.example.com/intake/replies"
        );
        assert_eq!(callback.timeout.as_secs(), 5);
        assert!(!format!("{callback:?}").contains(SECRET));
        assert!(
            load_from(None, &[])
                .unwrap()
                .channels
                .chat
                .callback
                .is_none()
        );
    }

    #[test]
    fn callback_problems_are_reported_with_their_keys() {
        let text = r#"
            [channels.chat.callback]
            url = "ftp://chat.example.com/"
            timeout_secs = 0
            colour = "red"
        "#;
        let errors = load_from(Some(text), &env()).unwrap_err();
        let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
        for key in [
            "channels.chat.callback.url",
            "channels.chat.callback.timeout_secs",
            "channels.chat.callback.secret_env",
            "channels.chat.callback.colour",
        ] {
            assert!(keys.contains(&key), "{key} missing from {keys:?}");
        }
        let bad_secret = r#"
            [channels.chat.callback]
            url = "https://chat.example.com/"
            secret_env = "SITE_SECRET"
        "#;
        let env = vec![("SITE_SECRET".to_owned(), "not-a-whsec".to_owned())];
        let errors = load_from(Some(bad_secret), &env).unwrap_err();
        assert_eq!(errors.problems[0].key, "channels.chat.callback.secret_env");
        assert!(!errors.to_string().contains("not-a-whsec"), "{errors}");
    }
}
