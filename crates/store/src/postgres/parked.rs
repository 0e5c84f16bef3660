//! Parked lanes in PostgreSQL (see `crate::parked`).

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::PostgresStore;
use crate::StoreError;
use crate::parked::{ParkedLane, decode_history, encode_history};

impl PostgresStore {
    pub(super) async fn park_lane_row(&self, parked: &ParkedLane) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO parked_lanes (consumer_group, lane, channel, event_id, reason, attempts, \
             first_failure_at, resume_at, last_error, history) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (consumer_group, lane) DO UPDATE SET channel = excluded.channel, \
             event_id = excluded.event_id, reason = excluded.reason, attempts = excluded.attempts, \
             first_failure_at = excluded.first_failure_at, resume_at = excluded.resume_at, \
             last_error = excluded.last_error, history = excluded.history",
        )
        .bind(&parked.consumer_group)
        .bind(&parked.lane)
        .bind(&parked.channel)
        .bind(parked.event_id)
        .bind(&parked.reason)
        .bind(i32::try_from(parked.attempts).unwrap_or(i32::MAX))
        .bind(parked.first_failure_at)
        .bind(parked.resume_at)
        .bind(&parked.last_error)
        .bind(encode_history(&parked.history))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn unpark_lane_row(
        &self,
        consumer_group: &str,
        lane: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM parked_lanes WHERE consumer_group = $1 AND lane = $2")
            .bind(consumer_group)
            .bind(lane)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn parked_lane_rows(
        &self,
        consumer_group: Option<&str>,
    ) -> Result<Vec<ParkedLane>, StoreError> {
        let rows = sqlx::query(
            "SELECT consumer_group, lane, channel, event_id, reason, attempts, first_failure_at, \
             resume_at, last_error, history FROM parked_lanes \
             WHERE $1::TEXT IS NULL OR consumer_group = $1 ORDER BY resume_at, consumer_group, lane",
        )
        .bind(consumer_group)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let attempts: i32 = row.try_get("attempts")?;
                let history: String = row.try_get("history")?;
                let event_id: Uuid = row.try_get("event_id")?;
                let first_failure_at: DateTime<Utc> = row.try_get("first_failure_at")?;
                let resume_at: DateTime<Utc> = row.try_get("resume_at")?;
                Ok(ParkedLane {
                    consumer_group: row.try_get("consumer_group")?,
                    lane: row.try_get("lane")?,
                    channel: row.try_get("channel")?,
                    event_id,
                    reason: row.try_get("reason")?,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| StoreError::Corrupt(format!("attempts {attempts}")))?,
                    first_failure_at,
                    resume_at,
                    last_error: row.try_get("last_error")?,
                    history: decode_history(&history),
                })
            })
            .collect()
    }
}

impl PostgresStore {
    pub(super) async fn begin_comment_row(
        &self,
        event_id: Uuid,
        ticket_id: u64,
        updated_stamp: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_effects (event_id, ticket_id, effect, started_at, updated_stamp) \
             VALUES ($1, $2, 'commented', $3, $4) \
             ON CONFLICT (event_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
             effect = excluded.effect, started_at = excluded.started_at, \
             updated_stamp = excluded.updated_stamp",
        )
        .bind(event_id)
        .bind(crate::to_db_id(ticket_id)?)
        .bind(Utc::now())
        .bind(updated_stamp)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
