//! Acknowledgement records in PostgreSQL (migration 0003).

use chrono::{DateTime, Utc};
use sqlx::Row;
use uuid::Uuid;

use crate::{AckRecord, AckStatus, StoreError, from_db_id, to_db_id};

use super::PostgresStore;

fn read_record(row: &sqlx::postgres::PgRow) -> Result<AckRecord, StoreError> {
    let ticket_id: Option<i64> = row.try_get("ticket_id")?;
    let status: String = row.try_get("status")?;
    Ok(AckRecord {
        outcome_id: row.try_get("outcome_id")?,
        channel: row.try_get("channel")?,
        contact_key: row.try_get("contact_key")?,
        ticket_id: ticket_id.map(from_db_id).transpose()?,
        status: AckStatus::parse(&status)?,
        reason: row.try_get("reason")?,
        at: row.try_get("at")?,
    })
}

impl PostgresStore {
    pub(super) async fn ack_get(&self, outcome_id: Uuid) -> Result<Option<AckRecord>, StoreError> {
        let row = sqlx::query(
            "SELECT outcome_id, channel, contact_key, ticket_id, status, reason, at \
             FROM acknowledgements WHERE outcome_id = $1",
        )
        .bind(outcome_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_record).transpose()
    }

    pub(super) async fn ack_record(&self, record: &AckRecord) -> Result<AckRecord, StoreError> {
        let ticket_id = record.ticket_id.map(to_db_id).transpose()?;
        let inserted = sqlx::query(
            "INSERT INTO acknowledgements \
             (outcome_id, channel, contact_key, ticket_id, status, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (outcome_id) DO NOTHING",
        )
        .bind(record.outcome_id)
        .bind(&record.channel)
        .bind(&record.contact_key)
        .bind(ticket_id)
        .bind(record.status.as_str())
        .bind(&record.reason)
        .bind(record.at)
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
        let row: (Option<DateTime<Utc>>,) = sqlx::query_as(
            "SELECT max(at) FROM acknowledgements WHERE contact_key = $1 AND status = 'sent'",
        )
        .bind(contact_key)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.0)
    }
}
