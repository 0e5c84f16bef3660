//! Acknowledgement records in SQLite (migration 0003).

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{AckRecord, AckStatus, StoreError, from_db_id, to_db_id};

use super::SqliteStore;

/// Text order is time order: UTC, fixed microsecond precision, `Z`.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("acknowledgement time {text:?}: {e}")))
}

fn read_record(row: &sqlx::sqlite::SqliteRow) -> Result<AckRecord, StoreError> {
    let outcome_id: String = row.try_get("outcome_id")?;
    let ticket_id: Option<i64> = row.try_get("ticket_id")?;
    let status: String = row.try_get("status")?;
    let at: String = row.try_get("at")?;
    Ok(AckRecord {
        outcome_id: Uuid::parse_str(&outcome_id)
            .map_err(|e| StoreError::Corrupt(format!("outcome id {outcome_id:?}: {e}")))?,
        channel: row.try_get("channel")?,
        contact_key: row.try_get("contact_key")?,
        ticket_id: ticket_id.map(from_db_id).transpose()?,
        status: AckStatus::parse(&status)?,
        reason: row.try_get("reason")?,
        at: parse_time(&at)?,
    })
}

impl SqliteStore {
    pub(super) async fn ack_get(&self, outcome_id: Uuid) -> Result<Option<AckRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT outcome_id, channel, contact_key, ticket_id, status, reason, at \
             FROM acknowledgements WHERE outcome_id = ?",
        )
        .bind(outcome_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_record).transpose()
    }

    pub(super) async fn ack_record(&self, record: &AckRecord) -> Result<AckRecord, StoreError> {
        let ticket_id = record.ticket_id.map(to_db_id).transpose()?;
        let inserted = sqlx::query(
            "INSERT INTO acknowledgements \
             (outcome_id, channel, contact_key, ticket_id, status, reason, at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (outcome_id) DO NOTHING",
        )
        .bind(record.outcome_id.to_string())
        .bind(&record.channel)
        .bind(&record.contact_key)
        .bind(ticket_id)
        .bind(record.status.as_str())
        .bind(&record.reason)
        .bind(time_text(record.at))
        .execute(&self.pool)
        .await?
        .rows_affected();
        if inserted == 1 {
            return Ok(record.clone());
        }
        self.ack_get(record.outcome_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "acknowledgement {} neither inserted nor found",
                record.outcome_id
            ))
        })
    }

    pub(super) async fn ack_last_sent(
        &self,
        contact_key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let row: Option<(Option<String>,)> = sqlx::query_as(
            "SELECT max(at) FROM acknowledgements WHERE contact_key = ? AND status = 'sent'",
        )
        .bind(contact_key)
        .fetch_optional(&self.pool)
        .await?;
        row.and_then(|(at,)| at)
            .map(|at| parse_time(&at))
            .transpose()
    }
}
