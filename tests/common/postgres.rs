//! A private PostgreSQL schema for one end-to-end test, on the server of
//! `scripts/test-services` (`INTAKE_TEST_POSTGRES`).

use std::path::Path;

use intake_store::{PostgresOptions, PostgresStore};
use secrecy::SecretString;

/// The test server's URL. Fails (does not skip) under CI when it is
/// missing; elsewhere `None`.
pub fn server() -> Option<String> {
    match std::env::var("INTAKE_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("INTAKE_TEST_POSTGRES is not set under CI: run `scripts/test-services start`")
        }
        _ => {
            eprintln!(
                "skipping: INTAKE_TEST_POSTGRES is not set (run scripts/test-services start)"
            );
            None
        }
    }
}

/// Creates (and migrates) a fresh schema, writes a URL that selects it into
/// `dir/postgres-url` and returns the `[store]` body naming that file; None
/// without a server (see [`server`]).
pub async fn store_toml(dir: &Path) -> Option<String> {
    let server = server()?;
    let schema = format!("e2e_{}", uuid::Uuid::new_v4().simple());
    let store = PostgresStore::connect(
        &SecretString::from(server.clone()),
        PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        },
    )
    .await
    .expect("the test PostgreSQL server");
    store.close().await;
    let separator = if server.contains('?') { '&' } else { '?' };
    let url = format!("{server}{separator}options=-csearch_path%3D{schema}");
    let path = dir.join("postgres-url");
    std::fs::write(&path, url).unwrap();
    Some(format!(
        "backend = \"postgres\"\npostgres_url_file = {path:?}\n"
    ))
}
