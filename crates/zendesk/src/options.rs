//! Client options and credentials.

use std::time::Duration;

use base64::Engine as _;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::error::Error;

/// How the client authenticates. `Debug` never shows the token.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Basic base64("{email}/token:{token}")`.
    ApiToken { email: String, token: SecretString },
    /// `Authorization: Bearer {token}`.
    OAuth { token: SecretString },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::ApiToken { email, .. } => f
                .debug_struct("ApiToken")
                .field("email", email)
                .field("token", &"[redacted]")
                .finish(),
            Auth::OAuth { .. } => f
                .debug_struct("OAuth")
                .field("token", &"[redacted]")
                .finish(),
        }
    }
}

impl Auth {
    /// The `Authorization` header value, marked sensitive so that HTTP
    /// internals never print it.
    pub(crate) fn header_value(&self) -> Result<HeaderValue, Error> {
        let text = match self {
            Auth::ApiToken { email, token } => {
                if email.trim().is_empty() {
                    return Err(Error::Config("api token auth needs an e-mail".into()));
                }
                let raw = format!("{email}/token:{}", token.expose_secret());
                format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(raw)
                )
            }
            Auth::OAuth { token } => format!("Bearer {}", token.expose_secret()),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            Error::Config("credentials contain characters not allowed in a header".into())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    fn secret_is_empty(&self) -> bool {
        match self {
            Auth::ApiToken { token, .. } | Auth::OAuth { token } => {
                token.expose_secret().trim().is_empty()
            }
        }
    }
}

/// What a [`crate::Client`] needs. `Debug` never shows the token nor
/// credentials embedded in the base URL.
#[derive(Clone)]
pub struct ClientOptions {
    /// Account base URL, e.g. `https://acme.zendesk.com` or `http://127.0.0.1:8089`.
    pub base_url: url::Url,
    /// Credentials.
    pub auth: Auth,
    /// The account plan's requests per minute; the client paces itself just under it.
    pub requests_per_minute: u32,
    /// Timeout of one HTTP attempt (pacing waits are not counted).
    pub request_timeout: Duration,
    /// Attempts for retryable failures before the error is returned (at least 1).
    pub max_attempts: u32,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("base_url", &without_userinfo(&self.base_url).as_str())
            .field("auth", &self.auth)
            .field("requests_per_minute", &self.requests_per_minute)
            .field("request_timeout", &self.request_timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// Whether a URL carries a user name or password (`https://user:pass@host`).
fn has_userinfo(url: &url::Url) -> bool {
    !url.username().is_empty() || url.password().is_some()
}

/// The URL without user name and password, for `Debug` output.
pub(crate) fn without_userinfo(url: &url::Url) -> url::Url {
    let mut clean = url.clone();
    if has_userinfo(&clean) {
        // Both fail only for URLs that cannot carry userinfo, which have none.
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
    }
    clean
}

impl ClientOptions {
    /// Options with the defaults of a Team plan (200/min), 30 s timeout and 5 attempts.
    pub fn new(base_url: url::Url, auth: Auth) -> ClientOptions {
        ClientOptions {
            base_url,
            auth,
            requests_per_minute: default_requests_per_minute(),
            request_timeout: default_request_timeout(),
            max_attempts: default_max_attempts(),
        }
    }

    /// Checks the options, collecting every problem.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let mut problems = Vec::new();
        if !matches!(self.base_url.scheme(), "http" | "https") {
            problems.push(format!(
                "base_url must be http or https, not {}",
                self.base_url.scheme()
            ));
        }
        if self.base_url.cannot_be_a_base() || self.base_url.host().is_none() {
            problems.push("base_url must have a host".to_owned());
        }
        if has_userinfo(&self.base_url) {
            // Never quote the URL here: the userinfo is a secret.
            problems.push(
                "base_url must not carry a user name or password; put credentials in auth"
                    .to_owned(),
            );
        }
        if self.requests_per_minute == 0 {
            problems.push("requests_per_minute must be at least 1".to_owned());
        }
        if self.request_timeout.is_zero() {
            problems.push("request_timeout must be more than zero".to_owned());
        }
        if self.max_attempts == 0 {
            problems.push("max_attempts must be at least 1".to_owned());
        }
        if self.auth.secret_is_empty() {
            problems.push("the token is empty".to_owned());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Config(problems.join("; ")))
        }
    }
}

/// Team plan limit.
pub fn default_requests_per_minute() -> u32 {
    200
}

pub fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}

pub fn default_max_attempts() -> u32 {
    5
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "s3cr3t-T0ken-value";

    fn options(auth: Auth) -> ClientOptions {
        ClientOptions::new("https://acme.zendesk.com".parse().unwrap(), auth)
    }

    #[test]
    fn basic_header_follows_zendesk_token_form() {
        let auth = Auth::ApiToken {
            email: "agent@acme.test".into(),
            token: SecretString::from(TOKEN),
        };
        let value = auth.header_value().unwrap();
        assert!(value.is_sensitive());
        let encoded = value.to_str().unwrap().strip_prefix("Basic ").unwrap();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap();
        assert_eq!(decoded, format!("agent@acme.test/token:{TOKEN}").as_bytes());
        let bearer = Auth::OAuth {
            token: SecretString::from(TOKEN),
        };
        assert_eq!(
            bearer.header_value().unwrap().to_str().unwrap(),
            format!("Bearer {TOKEN}")
        );
    }

    #[test]
    fn debug_never_shows_the_token() {
        for auth in [
            Auth::ApiToken {
                email: "agent@acme.test".into(),
                token: SecretString::from(TOKEN),
            },
            Auth::OAuth {
                token: SecretString::from(TOKEN),
            },
        ] {
            let text = format!("{:?} {:#?}", options(auth.clone()), auth);
            assert!(!text.contains(TOKEN), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    #[test]
    fn credentials_in_the_base_url_are_refused_and_never_shown() {
        let mut with_userinfo = options(Auth::OAuth {
            token: SecretString::from(TOKEN),
        });
        with_userinfo.base_url = "https://bob:url-pa55word@acme.zendesk.com/"
            .parse()
            .unwrap();
        let debug = format!("{with_userinfo:?} {with_userinfo:#?}");
        assert!(!debug.contains("url-pa55word"), "{debug}");
        assert!(!debug.contains("bob"), "{debug}");
        assert!(debug.contains("acme.zendesk.com"), "{debug}");
        let error = crate::Client::new(with_userinfo.clone()).unwrap_err();
        let Error::Config(text) = &error else {
            panic!("expected a config error, got {error}");
        };
        assert!(text.contains("user name or password"), "{text}");
        let shown = format!("{error} {error:?}");
        assert!(!shown.contains("url-pa55word"), "{shown}");
        assert!(!shown.contains("bob"), "{shown}");
        assert!(!error.is_retryable());
        // A user name alone is refused too.
        with_userinfo.base_url = "https://bob@acme.zendesk.com".parse().unwrap();
        assert!(matches!(with_userinfo.validate(), Err(Error::Config(_))));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut bad = options(Auth::OAuth {
            token: SecretString::from(" "),
        });
        bad.base_url = "ftp://acme.zendesk.com".parse().unwrap();
        bad.requests_per_minute = 0;
        bad.max_attempts = 0;
        bad.request_timeout = Duration::ZERO;
        let Err(Error::Config(text)) = bad.validate() else {
            panic!("expected a config error");
        };
        for part in [
            "http or https",
            "requests_per_minute",
            "max_attempts",
            "request_timeout",
            "token is empty",
        ] {
            assert!(text.contains(part), "{text} lacks {part}");
        }
        assert!(
            options(Auth::OAuth {
                token: SecretString::from(TOKEN)
            })
            .validate()
            .is_ok()
        );
    }
}
