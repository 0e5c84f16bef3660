//! `[store]`: the state store (event id → ticket, contacts, fingerprints).

use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::general::parse_choice;
use crate::secret::{Ctx, SecretRef};

/// `[store]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStore {
    /// `sqlite` (one router) or `postgres` (several router replicas).
    #[serde(default = "default_backend")]
    backend: RawStoreBackend,
    /// SQLite database file, for the `sqlite` backend.
    #[serde(default = "default_sqlite_path")]
    sqlite_path: PathBuf,
    /// Environment variable holding the PostgreSQL URL (it has the password).
    #[serde(default)]
    postgres_url_env: Option<String>,
    /// File holding the PostgreSQL URL.
    #[serde(default)]
    postgres_url_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(try_from = "String")]
enum RawStoreBackend {
    Sqlite,
    Postgres,
}

impl TryFrom<String> for RawStoreBackend {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        parse_choice(
            &value,
            &[("sqlite", Self::Sqlite), ("postgres", Self::Postgres)],
        )
    }
}

fn default_backend() -> RawStoreBackend {
    RawStoreBackend::Sqlite
}
fn default_sqlite_path() -> PathBuf {
    PathBuf::from("data/state.sqlite")
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            backend: default_backend(),
            sqlite_path: default_sqlite_path(),
            postgres_url_env: None,
            postgres_url_file: None,
        }
    }
}

/// The state store backend.
#[derive(Debug, Clone)]
pub enum StoreConfig {
    Sqlite {
        path: PathBuf,
    },
    /// `url` is `postgres://user:password@host/db`, kept secret.
    Postgres {
        url: SecretString,
    },
}

impl RawStore {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> StoreConfig {
        match self.backend {
            RawStoreBackend::Sqlite => {
                if self.sqlite_path.as_os_str().is_empty() {
                    ctx.problem("store.sqlite_path", "must not be empty");
                }
                StoreConfig::Sqlite {
                    path: self.sqlite_path,
                }
            }
            RawStoreBackend::Postgres => {
                let source = SecretRef::new(&self.postgres_url_env, &self.postgres_url_file);
                if !source.is_given() {
                    ctx.problem(
                        "store.postgres_url_env",
                        "required when store.backend is \"postgres\" (or store.postgres_url_file)",
                    );
                }
                let url = source
                    .resolve(ctx, "store.postgres_url")
                    .unwrap_or_else(|| SecretString::from(String::new()));
                if !url.expose_secret().is_empty() {
                    check_postgres_url(ctx, &self, url.expose_secret());
                }
                StoreConfig::Postgres { url }
            }
        }
    }
}

/// Checks the URL's shape; the message never repeats the URL (it has a password).
fn check_postgres_url(ctx: &mut Ctx<'_>, raw: &RawStore, url: &str) {
    let key = if raw.postgres_url_env.is_some() {
        "store.postgres_url_env"
    } else {
        "store.postgres_url_file"
    };
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "postgres" | "postgresql") => {}
        Ok(_) => ctx.problem(key, "the URL must start with postgres:// or postgresql://"),
        Err(error) => ctx.problem(key, format!("the value is not a URL ({error})")),
    }
}
