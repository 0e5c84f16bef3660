//! Leader leases and SLA watches in PostgreSQL (migration 0007). Lease
//! expiry is counted on the server's clock, so replicas' clocks need not agree.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::sla_watch::{from_ms, to_ms, ttl_ms};
use crate::{SlaStage, SlaWatch, StoreError, from_db_id, to_db_id};

use super::PostgresStore;

/// The server's clock in Unix milliseconds (not the transaction's start).
const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

const COLUMNS: &str =
    "ticket_id, channel, policy, calendar, locale, due_at_ms, warn_at_ms, stage, stage_at_ms";

fn read_watch(row: &sqlx::postgres::PgRow) -> Result<SlaWatch, StoreError> {
    let stage: String = row.try_get("stage")?;
    Ok(SlaWatch {
        ticket_id: from_db_id(row.try_get("ticket_id")?)?,
        channel: row.try_get("channel")?,
        policy: row.try_get("policy")?,
        calendar: row.try_get("calendar")?,
        locale: row.try_get("locale")?,
        due_at: from_ms(row.try_get("due_at_ms")?)?,
        warn_at: from_ms(row.try_get("warn_at_ms")?)?,
        stage: SlaStage::parse(&stage)?,
        stage_at: from_ms(row.try_get("stage_at_ms")?)?,
    })
}

impl PostgresStore {
    pub(super) async fn acquire_lease_row(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let taken = sqlx::query(&format!(
            "INSERT INTO leader_leases (name, holder, expires_at_ms) VALUES ($1, $2, {NOW_MS} + $3) \
             ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, \
             expires_at_ms = EXCLUDED.expires_at_ms \
             WHERE leader_leases.expires_at_ms <= {NOW_MS} \
             OR leader_leases.holder = EXCLUDED.holder"
        ))
        .bind(name)
        .bind(holder)
        .bind(ttl_ms(ttl)?)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(taken == 1)
    }

    pub(super) async fn renew_lease_row(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let renewed = sqlx::query(&format!(
            "UPDATE leader_leases SET expires_at_ms = {NOW_MS} + $1 \
             WHERE name = $2 AND holder = $3 AND expires_at_ms > {NOW_MS}"
        ))
        .bind(ttl_ms(ttl)?)
        .bind(name)
        .bind(holder)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(renewed == 1)
    }

    pub(super) async fn release_lease_row(
        &self,
        name: &str,
        holder: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM leader_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn watch_sla_row(&self, watch: &SlaWatch) -> Result<bool, StoreError> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO sla_watches ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (ticket_id) DO NOTHING"
        ))
        .bind(to_db_id(watch.ticket_id)?)
        .bind(&watch.channel)
        .bind(&watch.policy)
        .bind(&watch.calendar)
        .bind(&watch.locale)
        .bind(to_ms(watch.due_at))
        .bind(to_ms(watch.warn_at.min(watch.due_at)))
        .bind(watch.stage.as_str())
        .bind(to_ms(watch.stage_at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub(super) async fn sla_watch_row(
        &self,
        ticket_id: u64,
    ) -> Result<Option<SlaWatch>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sla_watches WHERE ticket_id = $1"
        ))
        .bind(to_db_id(ticket_id)?)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_watch).transpose()
    }

    pub(super) async fn due_sla_watch_rows(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, u64)>,
        limit: usize,
    ) -> Result<Vec<SlaWatch>, StoreError> {
        let now = to_ms(now);
        // Before every watch when no page came before.
        let (after_due, after_ticket) = match after {
            Some((due_at, ticket_id)) => (to_ms(due_at), to_db_id(ticket_id)?),
            None => (i64::MIN, -1),
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM sla_watches \
             WHERE ((stage = 'watching' AND warn_at_ms <= $1) OR stage = 'warning' \
             OR (stage = 'warned' AND due_at_ms <= $1)) \
             AND (due_at_ms > $2 OR (due_at_ms = $2 AND ticket_id > $3)) \
             ORDER BY due_at_ms, ticket_id LIMIT $4"
        ))
        .bind(now)
        .bind(after_due)
        .bind(after_ticket)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_watch).collect()
    }

    pub(super) async fn advance_sla_watch_row(
        &self,
        ticket_id: u64,
        from: SlaStage,
        to: SlaStage,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let moved = sqlx::query(
            "UPDATE sla_watches SET stage = $1, stage_at_ms = $2 \
             WHERE ticket_id = $3 AND stage = $4",
        )
        .bind(to.as_str())
        .bind(to_ms(at))
        .bind(to_db_id(ticket_id)?)
        .bind(from.as_str())
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(moved == 1)
    }
}
