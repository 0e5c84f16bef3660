//! Fetching attachments given by URL, without opening a server-side request
//! forgery hole:
//!
//! - only hosts the operator listed are contacted (exact names or IP
//!   addresses, or `*.example.com` for subdomains); an empty list means URL
//!   attachments are refused;
//! - `https` only, unless the operator allowed plain `http` explicitly;
//! - redirects are followed only to the same host (and still under the
//!   rules above), at most [`MAX_REDIRECTS`];
//! - the size limit is enforced on the bytes received, whatever
//!   `Content-Length` says;
//! - one overall timeout per fetch.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use intake_channel::FetchOutcome;
use url::{Host, Url};

/// Most redirects followed (all to the same host).
pub const MAX_REDIRECTS: usize = 5;

/// One allowed host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum HostRule {
    /// Exactly this name (lower case, IDNA-encoded).
    Name(String),
    /// Any subdomain of this name (`*.example.com`), not the name itself.
    Subdomains(String),
    Ip(IpAddr),
}

/// Why a configured host entry is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("attachment_url_hosts[{index}]: {message}")]
pub struct HostRuleError {
    pub index: usize,
    pub message: String,
}

impl HostRuleError {
    /// Never: the configuration has to change.
    pub fn is_retryable(&self) -> bool {
        false
    }
}

/// Parses one `attachment_url_hosts` entry: a host name, an IP address, or
/// `*.` followed by a host name. No scheme, port or path.
pub fn parse_host_rule(entry: &str) -> Result<(), String> {
    rule_of(entry).map(|_| ())
}

fn rule_of(entry: &str) -> Result<HostRule, String> {
    let entry = entry.trim();
    let (wildcard, name) = match entry.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, entry),
    };
    let bracketed_ip = name.starts_with('[') && name.ends_with(']');
    if name.is_empty() || (name.contains(['/', ':', '@', '*', '?', '#']) && !bracketed_ip) {
        return Err(format!(
            "{entry:?} is not a host name (write `files.example.com`, `*.example.com` or an IP address, without scheme, port or path)"
        ));
    }
    let host = Host::parse(name).map_err(|e| format!("{entry:?} is not a host name: {e}"))?;
    match (host, wildcard) {
        (Host::Domain(domain), false) => {
            Ok(HostRule::Name(domain.trim_end_matches('.').to_owned()))
        }
        (Host::Domain(domain), true) => Ok(HostRule::Subdomains(
            domain.trim_end_matches('.').to_owned(),
        )),
        (Host::Ipv4(ip), false) => Ok(HostRule::Ip(IpAddr::V4(ip))),
        (Host::Ipv6(ip), false) => Ok(HostRule::Ip(IpAddr::V6(ip))),
        (_, true) => Err(format!("{entry:?}: `*.` works with host names only")),
    }
}

/// Which attachment URLs may be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    rules: Vec<HostRule>,
    allow_http: bool,
}

/// Why a URL is not fetched (answered `422 attachment`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "attachments by URL are not accepted here; send the file as data_base64 (the operator enables URLs with channels.chat.attachment_url_hosts)"
    )]
    Disabled,
    #[error(
        "the host is not allowed to serve attachments (channels.chat.attachment_url_hosts lists the allowed hosts)"
    )]
    HostNotAllowed,
    #[error("only https URLs are fetched (channels.chat.allow_http_attachment_urls allows http)")]
    Scheme,
}

impl UrlPolicy {
    /// Builds the policy from the configured host entries.
    pub fn new(hosts: &[String], allow_http: bool) -> Result<Self, HostRuleError> {
        let rules = hosts
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                rule_of(entry).map_err(|message| HostRuleError { index, message })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { rules, allow_http })
    }

    /// False when no host is listed: every URL attachment is refused.
    pub fn is_enabled(&self) -> bool {
        !self.rules.is_empty()
    }

    /// Checks scheme and host of `url`.
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        if !self.is_enabled() {
            return Err(Refusal::Disabled);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(Refusal::Scheme),
        }
        let allowed = match url.host() {
            Some(Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                self.rules.iter().any(|rule| match rule {
                    HostRule::Name(name) => *name == domain,
                    HostRule::Subdomains(parent) => domain
                        .strip_suffix(parent.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                    HostRule::Ip(_) => false,
                })
            }
            Some(Host::Ipv4(ip)) => self.rules.contains(&HostRule::Ip(IpAddr::V4(ip))),
            Some(Host::Ipv6(ip)) => self.rules.contains(&HostRule::Ip(IpAddr::V6(ip))),
            None => false,
        };
        if allowed {
            Ok(())
        } else {
            Err(Refusal::HostNotAllowed)
        }
    }
}

/// A downloaded attachment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    pub bytes: Vec<u8>,
    /// The response's `Content-Type` essence (lower case), when usable.
    pub content_type: Option<String>,
}

/// Why an attachment URL could not be fetched. Messages never quote the URL
/// nor low-level error text (which could describe the internal network).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the URL redirects to another host, which is not followed")]
    Redirect,
    #[error("the host answered HTTP {0}")]
    ClientStatus(u16),
    #[error("the host answered HTTP {0}; retry later")]
    ServerStatus(u16),
    #[error("the host did not deliver the file within {0} seconds; retry later")]
    Timeout(u64),
    #[error("the host could not be reached; retry later")]
    Unreachable,
}

impl FetchError {
    /// The metric outcome.
    pub fn outcome(&self) -> FetchOutcome {
        match self {
            FetchError::Refused(_) => FetchOutcome::Refused,
            FetchError::TooLarge { .. } => FetchOutcome::TooLarge,
            FetchError::Redirect => FetchOutcome::RedirectRefused,
            FetchError::ClientStatus(_) => FetchOutcome::ClientError,
            FetchError::ServerStatus(_) => FetchOutcome::ServerError,
            FetchError::Timeout(_) => FetchOutcome::Timeout,
            FetchError::Unreachable => FetchOutcome::Unreachable,
        }
    }

    /// True when the sender should retry the message later (503), false
    /// when the message must change (422).
    pub fn is_retryable(&self) -> bool {
        self.outcome().is_retryable()
    }
}

/// Downloads attachment URLs under a [`UrlPolicy`].
#[derive(Debug, Clone)]
pub struct AttachmentFetcher {
    client: reqwest::Client,
    policy: Arc<UrlPolicy>,
    max_bytes: usize,
    timeout: Duration,
}

/// The fetcher's HTTP client could not be built (TLS set-up).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the attachment HTTP client: {0}")]
pub struct ClientBuildError(String);

impl AttachmentFetcher {
    pub fn new(
        policy: UrlPolicy,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        let policy = Arc::new(policy);
        let redirect_policy = {
            let policy = Arc::clone(&policy);
            reqwest::redirect::Policy::custom(move |attempt| {
                let same_host = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.host() == attempt.url().host());
                if attempt.previous().len() > MAX_REDIRECTS
                    || !same_host
                    || policy.check(attempt.url()).is_err()
                {
                    attempt.error(FetchError::Redirect)
                } else {
                    attempt.follow()
                }
            })
        };
        let client = reqwest::Client::builder()
            .redirect(redirect_policy)
            .referer(false)
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!(
                "intake/",
                env!("CARGO_PKG_VERSION"),
                " attachment-fetcher"
            ))
            .build()
            .map_err(|e| ClientBuildError(e.to_string()))?;
        Ok(Self {
            client,
            policy,
            max_bytes,
            timeout,
        })
    }

    pub fn policy(&self) -> &UrlPolicy {
        &self.policy
    }

    /// Fetches `url` (checked against the policy first).
    pub async fn fetch(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.policy.check(url)?;
        let timeout = self.timeout;
        match tokio::time::timeout(timeout, self.download(url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout(timeout.as_secs().max(1))),
        }
    }

    async fn download(&self, url: &Url) -> Result<Fetched, FetchError> {
        let mut response = self
            .client
            .get(url.clone())
            .send()
            .await
            .map_err(|e| self.transport_error(&e))?;
        let status = response.status();
        if status.is_server_error()
            || status == reqwest::StatusCode::REQUEST_TIMEOUT
            || status == reqwest::StatusCode::TOO_MANY_REQUESTS
        {
            return Err(FetchError::ServerStatus(status.as_u16()));
        }
        if !status.is_success() {
            return Err(FetchError::ClientStatus(status.as_u16()));
        }
        let limit = self.max_bytes;
        if response
            .content_length()
            .is_some_and(|len| len > limit as u64)
        {
            return Err(FetchError::TooLarge { limit });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .and_then(mime_essence);
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.transport_error(&e))?
        {
            if bytes.len() + chunk.len() > limit {
                return Err(FetchError::TooLarge { limit });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            bytes,
            content_type,
        })
    }

    fn transport_error(&self, error: &reqwest::Error) -> FetchError {
        if error.is_redirect() {
            FetchError::Redirect
        } else if error.is_timeout() {
            FetchError::Timeout(self.timeout.as_secs().max(1))
        } else {
            FetchError::Unreachable
        }
    }
}

/// `type/subtype` of a `Content-Type` value, lower-cased, if well-formed.
pub fn mime_essence(value: &str) -> Option<String> {
    let essence = value.split(';').next()?.trim().to_ascii_lowercase();
    let (kind, subtype) = essence.split_once('/')?;
    let token = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$&^_.+-".contains(c))
    };
    (token(kind) && token(subtype) && essence.len() <= 255).then_some(essence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn empty_list_refuses_everything() {
        let policy = UrlPolicy::new(&[], true).unwrap();
        assert!(!policy.is_enabled());
        assert_eq!(
            policy.check(&url("https://files.example/a")),
            Err(Refusal::Disabled)
        );
        assert!(
            Refusal::Disabled
                .to_string()
                .contains("attachment_url_hosts")
        );
    }

    #[test]
    fn hosts_schemes_and_wildcards() {
        let hosts = [
            "Files.Example.com".to_owned(),
            "*.cdn.example".to_owned(),
            "127.0.0.1".to_owned(),
            "[::1]".to_owned(),
        ];
        let https_only = UrlPolicy::new(&hosts, false).unwrap();
        let with_http = UrlPolicy::new(&hosts, true).unwrap();
        let cases = [
            ("https://files.example.com/a.pdf", Ok(()), Ok(())),
            ("https://FILES.example.com./a.pdf", Ok(()), Ok(())),
            (
                "http://files.example.com/a.pdf",
                Err(Refusal::Scheme),
                Ok(()),
            ),
            ("https://a.cdn.example/x", Ok(()), Ok(())),
            ("https://a.b.cdn.example/x", Ok(()), Ok(())),
            (
                "https://cdn.example/x",
                Err(Refusal::HostNotAllowed),
                Err(Refusal::HostNotAllowed),
            ),
            (
                "https://evilcdn.example/x",
                Err(Refusal::HostNotAllowed),
                Err(Refusal::HostNotAllowed),
            ),
            (
                "https://files.example.com.evil.net/",
                Err(Refusal::HostNotAllowed),
                Err(Refusal::HostNotAllowed),
            ),
            (
                "https://169.254.169.254/latest",
                Err(Refusal::HostNotAllowed),
                Err(Refusal::HostNotAllowed),
            ),
            ("http://127.0.0.1:8080/f", Err(Refusal::Scheme), Ok(())),
            ("http://[::1]:9/f", Err(Refusal::Scheme), Ok(())),
            (
                "http://localhost/f",
                Err(Refusal::Scheme),
                Err(Refusal::HostNotAllowed),
            ),
            (
                "ftp://files.example.com/a",
                Err(Refusal::Scheme),
                Err(Refusal::Scheme),
            ),
        ];
        for (text, strict, relaxed) in cases {
            assert_eq!(https_only.check(&url(text)), strict, "{text}");
            assert_eq!(with_http.check(&url(text)), relaxed, "{text}");
        }
    }

    #[test]
    fn bad_host_entries_are_named() {
        for bad in [
            "",
            "https://files.example",
            "files.example/path",
            "files.example:443",
            "*.10.0.0.1",
            "a b",
        ] {
            let err = UrlPolicy::new(&["ok.example".into(), bad.into()], false).unwrap_err();
            assert_eq!(err.index, 1, "{bad:?}");
        }
    }

    #[test]
    fn content_type_essence() {
        assert_eq!(
            mime_essence("Image/PNG; charset=binary").as_deref(),
            Some("image/png")
        );
        assert_eq!(
            mime_essence("application/vnd.ms-excel").as_deref(),
            Some("application/vnd.ms-excel")
        );
        for bad in ["", "text", "/x", "text/", "te xt/plain"] {
            assert_eq!(mime_essence(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn errors_say_whether_to_retry() {
        assert!(!FetchError::Refused(Refusal::HostNotAllowed).is_retryable());
        assert!(!FetchError::TooLarge { limit: 1 }.is_retryable());
        assert!(!FetchError::Redirect.is_retryable());
        assert!(!FetchError::ClientStatus(404).is_retryable());
        assert!(FetchError::ServerStatus(500).is_retryable());
        assert!(FetchError::Timeout(10).is_retryable());
        assert!(FetchError::Unreachable.is_retryable());
    }
}
