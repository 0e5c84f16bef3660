//! Parked lanes in SQLite (see `crate::parked`).

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use uuid::Uuid;

use super::SqliteStore;
use crate::StoreError;
use crate::parked::{ParkedLane, decode_history, encode_history};

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(column: &str, value: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("{column} {value:?}: {e}")))
}

impl SqliteStore {
    pub(super) async fn park_lane_row(&self, parked: &ParkedLane) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO parked_lanes (consumer_group, lane, channel, event_id, reason, attempts, \
             first_failure_at, resume_at, last_error, history) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (consumer_group, lane) DO UPDATE SET channel = excluded.channel, \
             event_id = excluded.event_id, reason = excluded.reason, attempts = excluded.attempts, \
             first_failure_at = excluded.first_failure_at, resume_at = excluded.resume_at, \
             last_error = excluded.last_error, history = excluded.history",
        )
        .bind(&parked.consumer_group)
        .bind(&parked.lane)
        .bind(&parked.channel)
        .bind(parked.event_id.to_string())
        .bind(&parked.reason)
        .bind(i64::from(parked.attempts))
        .bind(time_text(parked.first_failure_at))
        .bind(time_text(parked.resume_at))
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
        sqlx::query("DELETE FROM parked_lanes WHERE consumer_group = ? AND lane = ?")
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
             WHERE ?1 IS NULL OR consumer_group = ?1 ORDER BY resume_at, consumer_group, lane",
        )
        .bind(consumer_group)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let event_id: String = row.try_get("event_id")?;
                let attempts: i64 = row.try_get("attempts")?;
                let first: String = row.try_get("first_failure_at")?;
                let resume: String = row.try_get("resume_at")?;
                let history: String = row.try_get("history")?;
                Ok(ParkedLane {
                    consumer_group: row.try_get("consumer_group")?,
                    lane: row.try_get("lane")?,
                    channel: row.try_get("channel")?,
                    event_id: Uuid::parse_str(&event_id)
                        .map_err(|e| StoreError::Corrupt(format!("event id {event_id:?}: {e}")))?,
                    reason: row.try_get("reason")?,
                    attempts: u32::try_from(attempts)
                        .map_err(|_| StoreError::Corrupt(format!("attempts {attempts}")))?,
                    first_failure_at: parse_time("first_failure_at", &first)?,
                    resume_at: parse_time("resume_at", &resume)?,
                    last_error: row.try_get("last_error")?,
                    history: decode_history(&history),
                })
            })
            .collect()
    }
}

impl SqliteStore {
    pub(super) async fn begin_comment_row(
        &self,
        event_id: Uuid,
        ticket_id: u64,
        updated_stamp: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO pending_effects (event_id, ticket_id, effect, started_at, updated_stamp) \
             VALUES (?, ?, 'commented', ?, ?) \
             ON CONFLICT (event_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
             effect = excluded.effect, started_at = excluded.started_at, \
             updated_stamp = excluded.updated_stamp",
        )
        .bind(event_id.to_string())
        .bind(crate::to_db_id(ticket_id)?)
        .bind(time_text(Utc::now()))
        .bind(updated_stamp)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
