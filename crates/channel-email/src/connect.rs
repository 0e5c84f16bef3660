//! Opening an IMAP session: TCP, TLS (implicit or STARTTLS, the public
//! roots or a private CA), the greeting, and password login. Every step is
//! bounded by the account's command timeout, so a server that accepts the
//! connection and then says nothing is a retryable error, not a hang.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use async_imap::{Client, Session};
use secrecy::ExposeSecret as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use secrecy::SecretString;

use crate::config::{ImapAuth, ImapConfig, TlsMode};
use crate::error::EmailError;
use crate::oauth::XOAuth2;

/// Idle time before TCP keep-alive probes start on an IMAP connection.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Any byte stream an IMAP session runs over (plain TCP or TLS).
pub trait ImapIo: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> ImapIo for T {}

/// An open, logged-in IMAP session.
pub type ImapSession = Session<Box<dyn ImapIo>>;

/// A TLS client configuration trusting `ca_file` (PEM, one or more
/// certificates) or, without one, the public web PKI roots.
pub fn tls_config(ca_file: Option<&std::path::Path>) -> Result<Arc<ClientConfig>, EmailError> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                EmailError::Config(format!("cannot read CA file {}: {e}", path.display()))
            })?;
            let certs: Vec<CertificateDer<'static>> = rustls_pemfile::certs(&mut pem.as_slice())
                .collect::<Result<_, _>>()
                .map_err(|e| EmailError::Config(format!("CA file {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(EmailError::Config(format!(
                    "CA file {} holds no certificate",
                    path.display()
                )));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| EmailError::Config(format!("CA file {}: {e}", path.display())))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| EmailError::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

async fn bounded<T>(
    limit: Duration,
    what: &str,
    future: impl Future<Output = Result<T, EmailError>>,
) -> Result<T, EmailError> {
    tokio::time::timeout(limit, future).await.map_err(|_| {
        EmailError::Stalled(format!("{what}: no answer within {} s", limit.as_secs()))
    })?
}

async fn wrap_tls(
    stream: Box<dyn ImapIo>,
    host: &str,
    tls: &Arc<ClientConfig>,
) -> Result<Box<dyn ImapIo>, EmailError> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| EmailError::Config(format!("invalid TLS server name {host:?}: {e}")))?;
    let connector = TlsConnector::from(Arc::clone(tls));
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(|e| EmailError::Tls(e.to_string()))?;
    Ok(Box::new(stream))
}

/// Reads the server greeting; an unreadable or missing one is an error.
async fn greeting(client: &mut Client<Box<dyn ImapIo>>) -> Result<(), EmailError> {
    match client.read_response().await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(EmailError::Connection(
            "the server closed the connection before its greeting".to_owned(),
        )),
        Err(e) => Err(EmailError::Connection(format!("greeting: {e}"))),
    }
}

/// Connects and logs in as configured; `token` is the access token for
/// `auth = "xoauth2"`.
pub async fn open_session(
    config: &ImapConfig,
    tls: &Arc<ClientConfig>,
    token: Option<SecretString>,
) -> Result<ImapSession, EmailError> {
    let limit = config.command_timeout;
    let address = format!("{}:{}", config.host, config.port);
    let tcp = bounded(limit, "connect", async {
        TcpStream::connect(&address)
            .await
            .map_err(|e| EmailError::Connection(format!("connect to {address}: {e}")))
    })
    .await?;
    let _ = tcp.set_nodelay(true);
    // A peer that vanished (NAT timeout, dead server) is noticed within about
    // TCP_KEEPALIVE + 3 * its interval even during a long IDLE.
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(TCP_KEEPALIVE)
        .with_interval(TCP_KEEPALIVE / 3)
        .with_retries(3);
    if let Err(e) = socket2::SockRef::from(&tcp).set_tcp_keepalive(&keepalive) {
        tracing::debug!(error = %e, "tcp keepalive not set");
    }
    let mut stream: Box<dyn ImapIo> = Box::new(tcp);
    if config.tls == TlsMode::Implicit {
        stream = bounded(limit, "TLS handshake", wrap_tls(stream, &config.host, tls)).await?;
    }
    let mut client = Client::new(stream);
    bounded(limit, "greeting", greeting(&mut client)).await?;
    if config.tls == TlsMode::Starttls {
        bounded(limit, "STARTTLS", async {
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .map_err(|e| EmailError::Tls(format!("STARTTLS refused: {e}")))
        })
        .await?;
        let inner = client.into_inner();
        let stream = bounded(limit, "TLS handshake", wrap_tls(inner, &config.host, tls)).await?;
        client = Client::new(stream);
    }
    let login = match (&config.auth, token) {
        (ImapAuth::XOAuth2(_), Some(token)) => {
            let exchange = XOAuth2 {
                user: config.username.clone(),
                token,
                sent: false,
            };
            let result =
                tokio::time::timeout(limit, client.authenticate("XOAUTH2", exchange)).await;
            return match result {
                Err(_) => Err(EmailError::Stalled(format!(
                    "AUTHENTICATE: no answer within {} s",
                    limit.as_secs()
                ))),
                Ok(Ok(session)) => Ok(session),
                Ok(Err((async_imap::error::Error::No(text), _))) => Err(EmailError::Token(
                    format!("the server refused the access token: {text}"),
                )),
                Ok(Err((e, _))) => Err(EmailError::Connection(format!("authenticate: {e}"))),
            };
        }
        (ImapAuth::XOAuth2(_), None) => {
            return Err(EmailError::Token("no access token".to_owned()));
        }
        (ImapAuth::Password(password), _) => {
            client.login(&config.username, password.expose_secret())
        }
    };
    match tokio::time::timeout(limit, login).await {
        Err(_) => Err(EmailError::Stalled(format!(
            "login: no answer within {} s",
            limit.as_secs()
        ))),
        Ok(Ok(session)) => Ok(session),
        Ok(Err((async_imap::error::Error::No(text), _))) => {
            // RFC 5530: [UNAVAILABLE] is the server's trouble, not our credentials.
            if text.contains("[UNAVAILABLE]") {
                Err(EmailError::Connection(format!("login unavailable: {text}")))
            } else {
                Err(EmailError::LoginRefused(text))
            }
        }
        Ok(Err((e, _))) => Err(EmailError::Connection(format!("login: {e}"))),
    }
}
