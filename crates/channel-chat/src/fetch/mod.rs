//! Fetching attachments given by URL, without opening a server-side request
//! forgery hole:
//!
//! - only hosts the operator listed are contacted (exact names or IP
//!   addresses, or `*.example.com` for subdomains); an empty list means URL
//!   attachments are refused;
//! - `https` only, unless the operator allowed plain `http` explicitly;
//! - only port 443 (and 80 with http), unless the operator lists ports;
//! - only public addresses: the name is resolved once, every address is
//!   checked ([`address`]), and the connection goes to a checked address
//!   ([`resolver`], no DNS rebinding); loopback and private networks only
//!   when the operator allows them, link-local and metadata addresses never;
//! - no proxy from the environment (a proxy would resolve the name itself);
//! - redirects are followed only to the same host, at most
//!   [`MAX_REDIRECTS`], and every hop is checked again (scheme, port, an
//!   IP literal's address here; a name's addresses by the resolver when the
//!   hop needs a new connection);
//! - the size limit is enforced on the bytes received, whatever
//!   `Content-Length` says;
//! - one overall timeout per fetch.

pub mod address;
mod policy;
mod resolver;

use std::sync::Arc;
use std::time::Duration;

use intake_channel::FetchOutcome;
use url::Url;

pub use policy::{HostRuleError, Refusal, UrlPolicy, parse_host_rule};
pub use resolver::{AddressRefused, HostLookup, StaticLookup, SystemLookup};
use resolver::{PinnedResolver, address_refusal};

/// Most redirects followed (all to the same host).
pub const MAX_REDIRECTS: usize = 5;

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
    #[error("the URL redirects to a location that is not fetched: {0}")]
    RedirectTo(Refusal),
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
            FetchError::Redirect | FetchError::RedirectTo(_) => FetchOutcome::RedirectRefused,
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
    /// A fetcher resolving names with the system resolver.
    pub fn new(
        policy: UrlPolicy,
        max_bytes: usize,
        timeout: Duration,
    ) -> Result<Self, ClientBuildError> {
        Self::with_lookup(policy, max_bytes, timeout, Arc::new(SystemLookup))
    }

    /// A fetcher resolving names with `lookup` (a test host mapping).
    pub fn with_lookup(
        policy: UrlPolicy,
        max_bytes: usize,
        timeout: Duration,
        lookup: Arc<dyn HostLookup>,
    ) -> Result<Self, ClientBuildError> {
        let policy = Arc::new(policy);
        let resolver = PinnedResolver {
            policy: Arc::clone(&policy),
            lookup,
        };
        let redirect_policy = {
            let policy = Arc::clone(&policy);
            reqwest::redirect::Policy::custom(move |attempt| {
                let same_host = attempt
                    .previous()
                    .first()
                    .is_some_and(|first| first.host() == attempt.url().host());
                if attempt.previous().len() > MAX_REDIRECTS || !same_host {
                    return attempt.error(FetchError::Redirect);
                }
                match policy.check(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(refusal) => attempt.error(FetchError::RedirectTo(refusal)),
                }
            })
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .dns_resolver(Arc::new(resolver))
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

    /// Maps a client error: a refusal by the redirect policy or the
    /// resolver (on the first request or any redirect hop) stays a refusal;
    /// the rest is timeout or unreachable.
    fn transport_error(&self, error: &reqwest::Error) -> FetchError {
        if let Some(refused) = find_in_chain::<FetchError>(error) {
            return refused.clone();
        }
        if let Some(refusal) = address_refusal(error) {
            return FetchError::Refused(refusal);
        }
        if error.is_redirect() {
            FetchError::Redirect
        } else if error.is_timeout() {
            FetchError::Timeout(self.timeout.as_secs().max(1))
        } else {
            FetchError::Unreachable
        }
    }
}

/// The first error of type `E` in `error`'s source chain.
fn find_in_chain<'a, E: std::error::Error + 'static>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a E> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<E>() {
            return Some(found);
        }
        current = error.source();
    }
    None
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
        assert!(!FetchError::RedirectTo(Refusal::InternalAddress).is_retryable());
        assert!(!FetchError::ClientStatus(404).is_retryable());
        assert!(FetchError::ServerStatus(500).is_retryable());
        assert!(FetchError::Timeout(10).is_retryable());
        assert!(FetchError::Unreachable.is_retryable());
    }
}
