//! Which attachment URLs may be fetched: scheme, listed host, port, and
//! (for IP-literal hosts here, for names in [`super::resolver`]) address.

use std::net::IpAddr;

use url::{Host, Url};

use super::address::{AddressClass, classify};

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
        (_, true) => Err(format!(
            "{entry:?} is not a host pattern: `*.` works with host names only"
        )),
    }
}

/// Which attachment URLs may be fetched.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UrlPolicy {
    rules: Vec<HostRule>,
    allow_http: bool,
    allow_private_networks: bool,
    /// Empty: 443, and 80 when http is allowed.
    ports: Vec<u16>,
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
    #[error(
        "the URL's port is not allowed (443, 80 with http, or channels.chat.attachment_url_ports)"
    )]
    Port,
    #[error(
        "the host's address is in a loopback or private network, which is not fetched (channels.chat.attachment_url_allow_private_networks allows it)"
    )]
    InternalAddress,
    #[error(
        "the host's address is link-local, multicast, reserved or a cloud metadata address, which is never fetched"
    )]
    ForbiddenAddress,
}

impl UrlPolicy {
    /// Builds the policy from the configured host entries (private networks
    /// refused, default ports).
    pub fn new(hosts: &[String], allow_http: bool) -> Result<Self, HostRuleError> {
        let rules = hosts
            .iter()
            .enumerate()
            .map(|(index, entry)| {
                rule_of(entry).map_err(|message| HostRuleError { index, message })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            rules,
            allow_http,
            allow_private_networks: false,
            ports: Vec::new(),
        })
    }

    /// Also fetch from loopback and private networks (never from link-local,
    /// metadata, multicast or reserved addresses).
    pub fn allowing_private_networks(mut self, allow: bool) -> Self {
        self.allow_private_networks = allow;
        self
    }

    /// The ports URLs may use; empty: 443, and 80 when http is allowed.
    pub fn with_ports(mut self, ports: &[u16]) -> Self {
        self.ports = ports.to_vec();
        self
    }

    /// False when no host is listed: every URL attachment is refused.
    pub fn is_enabled(&self) -> bool {
        !self.rules.is_empty()
    }

    fn port_allowed(&self, port: u16) -> bool {
        if self.ports.is_empty() {
            port == 443 || (self.allow_http && port == 80)
        } else {
            self.ports.contains(&port)
        }
    }

    /// Whether a connection to `ip` is allowed.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), Refusal> {
        match classify(ip) {
            AddressClass::Public => Ok(()),
            AddressClass::Internal if self.allow_private_networks => Ok(()),
            AddressClass::Internal => Err(Refusal::InternalAddress),
            AddressClass::Never => Err(Refusal::ForbiddenAddress),
        }
    }

    /// Checks scheme, host, port and, for an IP-literal host, its address.
    /// (The addresses of a host name are checked when it is resolved.)
    pub fn check(&self, url: &Url) -> Result<(), Refusal> {
        if !self.is_enabled() {
            return Err(Refusal::Disabled);
        }
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            _ => return Err(Refusal::Scheme),
        }
        let (allowed, literal) = match url.host() {
            Some(Host::Domain(domain)) => {
                let domain = domain.trim_end_matches('.').to_ascii_lowercase();
                let allowed = self.rules.iter().any(|rule| match rule {
                    HostRule::Name(name) => *name == domain,
                    HostRule::Subdomains(parent) => domain
                        .strip_suffix(parent.as_str())
                        .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                    HostRule::Ip(_) => false,
                });
                (allowed, None)
            }
            Some(Host::Ipv4(ip)) => (
                self.rules.contains(&HostRule::Ip(IpAddr::V4(ip))),
                Some(IpAddr::V4(ip)),
            ),
            Some(Host::Ipv6(ip)) => (
                self.rules.contains(&HostRule::Ip(IpAddr::V6(ip))),
                Some(IpAddr::V6(ip)),
            ),
            None => (false, None),
        };
        if !allowed {
            return Err(Refusal::HostNotAllowed);
        }
        if !url
            .port_or_known_default()
            .is_some_and(|p| self.port_allowed(p))
        {
            return Err(Refusal::Port);
        }
        match literal {
            Some(ip) => self.check_address(ip),
            None => Ok(()),
        }
    }
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
            "169.254.169.254".to_owned(),
        ];
        let https_only = UrlPolicy::new(&hosts, false).unwrap();
        let with_http = UrlPolicy::new(&hosts, true)
            .unwrap()
            .allowing_private_networks(true)
            .with_ports(&[80, 443, 8080, 9]);
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
                "https://10.0.0.1/latest",
                Err(Refusal::HostNotAllowed),
                Err(Refusal::HostNotAllowed),
            ),
            (
                "https://169.254.169.254/latest",
                Err(Refusal::ForbiddenAddress),
                Err(Refusal::ForbiddenAddress),
            ),
            ("https://127.0.0.1/f", Err(Refusal::InternalAddress), Ok(())),
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
            (
                "https://files.example.com:8443/a",
                Err(Refusal::Port),
                Err(Refusal::Port),
            ),
            ("https://files.example.com:443/a", Ok(()), Ok(())),
        ];
        for (text, strict, relaxed) in cases {
            assert_eq!(https_only.check(&url(text)), strict, "{text}");
            assert_eq!(with_http.check(&url(text)), relaxed, "{text}");
        }
    }

    #[test]
    fn default_ports_follow_the_scheme_rule() {
        let hosts = ["files.example.com".to_owned()];
        let https_only = UrlPolicy::new(&hosts, false).unwrap();
        let with_http = UrlPolicy::new(&hosts, true).unwrap();
        assert_eq!(https_only.check(&url("https://files.example.com/")), Ok(()));
        assert_eq!(
            https_only.check(&url("https://files.example.com:80/")),
            Err(Refusal::Port)
        );
        assert_eq!(with_http.check(&url("http://files.example.com/")), Ok(()));
        assert_eq!(
            with_http.check(&url("https://files.example.com:80/")),
            Ok(())
        );
        assert_eq!(
            with_http.check(&url("http://files.example.com:8080/")),
            Err(Refusal::Port)
        );
        let only_8443 = UrlPolicy::new(&hosts, false).unwrap().with_ports(&[8443]);
        assert_eq!(
            only_8443.check(&url("https://files.example.com/")),
            Err(Refusal::Port),
            "a configured list replaces the default"
        );
        assert_eq!(
            only_8443.check(&url("https://files.example.com:8443/")),
            Ok(())
        );
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
}
