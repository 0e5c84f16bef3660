//! The customer's last message per conversation in PostgreSQL (migration 0009).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::{ConversationRef, Inbound, StoreError};

use super::PostgresStore;

impl PostgresStore {
    pub(super) async fn record_inbound_row(
        &self,
        conversation: &ConversationRef,
        message_id: &str,
        contact_key: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO conversation_inbound (channel, thread_id, message_id, contact_key, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (channel, thread_id) DO UPDATE \
             SET message_id = EXCLUDED.message_id, contact_key = EXCLUDED.contact_key, received_at = EXCLUDED.received_at \
             WHERE EXCLUDED.received_at >= conversation_inbound.received_at",
        )
        .bind(&conversation.channel)
        .bind(&conversation.thread_id)
        .bind(message_id)
        .bind(contact_key)
        .bind(received_at)
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
             WHERE channel = $1 AND thread_id = $2",
        )
        .bind(&conversation.channel)
        .bind(&conversation.thread_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(Inbound {
                message_id: row.try_get("message_id")?,
                contact_key: row.try_get("contact_key")?,
                received_at: row.try_get("received_at")?,
            })
        })
        .transpose()
    }
}
