//! The customer's last message per conversation in SQLite (migration 0009).

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;

use crate::{ConversationRef, Inbound, StoreError};

use super::SqliteStore;

/// Text order is time order: UTC, fixed microsecond precision, `Z`.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl SqliteStore {
    pub(super) async fn record_inbound_row(
        &self,
        conversation: &ConversationRef,
        message_id: &str,
        contact_key: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversation_inbound (channel, thread_id, message_id, contact_key, received_at) \
             VALUES (?, ?, ?, ?, ?) ON CONFLICT (channel, thread_id) DO UPDATE \
             SET message_id = excluded.message_id, contact_key = excluded.contact_key, received_at = excluded.received_at \
             WHERE excluded.received_at >= conversation_inbound.received_at",
        )
        .bind(&conversation.channel)
        .bind(&conversation.thread_id)
        .bind(message_id)
        .bind(contact_key)
        .bind(time_text(received_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub(super) async fn last_inbound_row(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<Inbound>, StoreError> {
        let row = sqlx::query(
            "SELECT message_id, contact_key, received_at FROM conversation_inbound \
             WHERE channel = ? AND thread_id = ?",
        )
        .bind(&conversation.channel)
        .bind(&conversation.thread_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let at: String = row.try_get("received_at")?;
        let received_at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| StoreError::Corrupt(format!("inbound time {at:?}: {e}")))?
            .with_timezone(&Utc);
        Ok(Some(Inbound {
            message_id: row.try_get("message_id")?,
            contact_key: row.try_get("contact_key")?,
            received_at,
        }))
    }
}
