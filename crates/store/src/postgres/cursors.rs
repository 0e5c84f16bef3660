//! Cursors of pull channels in PostgreSQL (migration 0002).

use sqlx::PgPool;

use crate::StoreError;

pub(super) async fn cursor(pool: &PgPool, scope: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM cursors WHERE scope = $1")
        .bind(scope)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(value,)| value))
}

pub(super) async fn set_cursor(pool: &PgPool, scope: &str, value: &str) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cursors (scope, value, updated_at) VALUES ($1, $2, now()) \
         ON CONFLICT (scope) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
    )
    .bind(scope)
    .bind(value)
    .execute(pool)
    .await?;
    Ok(())
}
