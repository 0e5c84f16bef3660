//! Leader leases and SLA watches in SQLite (migration 0007). One machine, so
//! lease expiry is counted on this process's clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::sla_watch::{from_ms, to_ms, ttl_ms};
use crate::{SlaStage, SlaWatch, StoreError, from_db_id, to_db_id};

use super::SqliteStore;

fn now_ms() -> i64 {
    to_ms(Utc::now())
}

const COLUMNS: &str =
    "ticket_id, channel, policy, calendar, locale, due_at_ms, warn_at_ms, stage, stage_at_ms";

fn read_watch(row: &sqlx::sqlite::SqliteRow) -> Result<SlaWatch, StoreError> {
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

impl SqliteStore {
    pub(super) async fn acquire_lease_row(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (now, ttl) = (now_ms(), ttl_ms(ttl)?);
        let taken = sqlx::query(
            "INSERT INTO leader_leases (name, holder, expires_at_ms) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE leader_leases.expires_at_ms <= ? OR leader_leases.holder = excluded.holder",
        )
        .bind(name)
        .bind(holder)
        .bind(now + ttl)
        .bind(now)
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
        let (now, ttl) = (now_ms(), ttl_ms(ttl)?);
        let renewed = sqlx::query(
            "UPDATE leader_leases SET expires_at_ms = ? \
             WHERE name = ? AND holder = ? AND expires_at_ms > ?",
        )
        .bind(now + ttl)
        .bind(name)
        .bind(holder)
        .bind(now)
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
        sqlx::query("DELETE FROM leader_leases WHERE name = ? AND holder = ?")
            .bind(name)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn watch_sla_row(&self, watch: &SlaWatch) -> Result<bool, StoreError> {
        let inserted = sqlx::query(&format!(
            "INSERT INTO sla_watches ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
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
            "SELECT {COLUMNS} FROM sla_watches WHERE ticket_id = ?"
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
             WHERE ((stage = 'watching' AND warn_at_ms <= ?) OR stage = 'warning' \
             OR (stage = 'warned' AND due_at_ms <= ?)) \
             AND (due_at_ms > ? OR (due_at_ms = ? AND ticket_id > ?)) \
             ORDER BY due_at_ms, ticket_id LIMIT ?"
        ))
        .bind(now)
        .bind(now)
        .bind(after_due)
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
            "UPDATE sla_watches SET stage = ?, stage_at_ms = ? WHERE ticket_id = ? AND stage = ?",
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
