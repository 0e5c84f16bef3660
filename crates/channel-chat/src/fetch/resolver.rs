//! Name resolution for attachment downloads, pinned to checked addresses.
//!
//! The HTTP client asks [`PinnedResolver`] for the addresses of every host
//! name it connects to (the first URL and every redirect that needs a new
//! connection). The resolver looks the name up once, keeps only the
//! addresses the [`UrlPolicy`] allows and hands exactly those to the client,
//! which connects to one of them: there is no second look-up an attacker's
//! DNS could answer differently (DNS rebinding). A name with no allowed
//! address fails with [`AddressRefused`], which the fetcher reports as a
//! refusal (422), not as a network failure.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::policy::{Refusal, UrlPolicy};

/// Looks a host name up. The default is the system resolver; tests (and
/// operators embedding intake) may map names themselves.
pub trait HostLookup: Send + Sync + fmt::Debug {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>>;
}

/// The operating system's resolver (`getaddrinfo`, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemLookup;

impl HostLookup for SystemLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            Ok(addrs.map(|addr| addr.ip()).collect())
        })
    }
}

/// A fixed name → addresses table (a test host mapping); unknown names do
/// not resolve.
#[derive(Debug, Clone, Default)]
pub struct StaticLookup {
    hosts: HashMap<String, Vec<IpAddr>>,
}

impl StaticLookup {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `host` (lower case) to `addresses`.
    pub fn with(mut self, host: &str, addresses: &[IpAddr]) -> Self {
        self.hosts
            .insert(host.to_ascii_lowercase(), addresses.to_vec());
        self
    }
}

impl HostLookup for StaticLookup {
    fn lookup(&self, host: String) -> BoxFuture<'static, std::io::Result<Vec<IpAddr>>> {
        let found = self.hosts.get(&host.to_ascii_lowercase()).cloned();
        Box::pin(async move {
            found.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::NotFound, "name not in the host table")
            })
        })
    }
}

/// Every address of a host name was refused by the policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no allowed address: {0}")]
pub struct AddressRefused(pub Refusal);

/// The resolver handed to the HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct PinnedResolver {
    pub(crate) policy: Arc<UrlPolicy>,
    pub(crate) lookup: Arc<dyn HostLookup>,
}

impl Resolve for PinnedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let lookup = self.lookup.lookup(name.as_str().to_owned());
        Box::pin(async move {
            let found = lookup.await?;
            if found.is_empty() {
                return Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the name has no addresses",
                ))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|ip| match policy.check_address(*ip) {
                    Ok(()) => true,
                    Err(reason) => {
                        // Keep the strictest reason for the answer.
                        if refusal.is_none() || reason == Refusal::ForbiddenAddress {
                            refusal = Some(reason);
                        }
                        false
                    }
                })
                // Port 0: the client puts in the URL's port.
                .map(|ip| SocketAddr::new(ip, 0))
                .collect();
            if allowed.is_empty() {
                let reason = refusal.unwrap_or(Refusal::HostNotAllowed);
                return Err(
                    Box::new(AddressRefused(reason)) as Box<dyn std::error::Error + Send + Sync>
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The policy refusal inside a client error, if the resolver refused.
pub(crate) fn address_refusal(error: &(dyn std::error::Error + 'static)) -> Option<Refusal> {
    super::find_in_chain::<AddressRefused>(error).map(|AddressRefused(reason)| reason.clone())
}
