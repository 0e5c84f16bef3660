//! Cursors of pull channels in SQLite (migration 0002).

use sqlx::SqlitePool;

use crate::StoreError;

pub(super) async fn cursor(pool: &SqlitePool, scope: &str) -> Result<Option<String>, StoreError> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM cursors WHERE scope = ?")
        .bind(scope)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(|(value,)| value))
}

pub(super) async fn set_cursor(
    pool: &SqlitePool,
    scope: &str,
    value: &str,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO cursors (scope, value, updated_at) VALUES (?, ?, ?) \
         ON CONFLICT (scope) DO UPDATE SET value = excluded.value, \
         updated_at = excluded.updated_at",
    )
    .bind(scope)
    .bind(value)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}
