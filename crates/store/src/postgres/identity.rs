//! Contact links and the near-duplicate window in PostgreSQL (migration 0011).
//!
//! A claim runs in one transaction under `pg_advisory_xact_lock` keyed by the
//! requester: two routers claiming two messages of one person serialise, so
//! the second always sees the first (an insert alone would not do: under
//! READ COMMITTED neither would see the other's uncommitted row).

use std::time::Duration;

use sqlx::Row;
use sqlx::postgres::PgRow;

use crate::identity::{PRUNE_AFTER, SimilarFn};
use crate::{
    ContactLink, CrossChannelClaim, CrossChannelMessage, LinkOutcome, StoreError, from_db_id,
    to_db_id,
};

use super::PostgresStore;

const MESSAGE_COLUMNS: &str =
    "event_id, user_id, channel, text_hash, tokens, received_at, duplicate_of";

fn read_link(row: &PgRow) -> Result<ContactLink, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    Ok(ContactLink {
        contact_key: row.try_get("contact_key")?,
        detail_key: row.try_get("detail_key")?,
        user_id: from_db_id(row.try_get("user_id")?)?,
        outcome: LinkOutcome::parse(&outcome)?,
        reason: row.try_get("reason")?,
        created_at: row.try_get("created_at")?,
    })
}

fn read_message(row: &PgRow) -> Result<CrossChannelMessage, StoreError> {
    Ok(CrossChannelMessage {
        event_id: row.try_get("event_id")?,
        user_id: from_db_id(row.try_get("user_id")?)?,
        channel: row.try_get("channel")?,
        text_hash: row.try_get("text_hash")?,
        tokens: row.try_get("tokens")?,
        received_at: row.try_get("received_at")?,
        duplicate_of: row.try_get("duplicate_of")?,
    })
}

fn span(window: Duration) -> Result<chrono::Duration, StoreError> {
    chrono::Duration::from_std(window)
        .map_err(|_| StoreError::InvalidValue(format!("window {window:?} is too long")))
}

impl PostgresStore {
    pub(super) async fn contact_link_row(
        &self,
        contact_key: &str,
    ) -> Result<Option<ContactLink>, StoreError> {
        let row = sqlx::query(
            "SELECT contact_key, detail_key, user_id, outcome, reason, created_at \
             FROM contact_links WHERE contact_key = $1",
        )
        .bind(contact_key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(read_link).transpose()
    }

    pub(super) async fn record_contact_link_row(
        &self,
        link: &ContactLink,
    ) -> Result<ContactLink, StoreError> {
        sqlx::query(
            "INSERT INTO contact_links \
             (contact_key, detail_key, user_id, outcome, reason, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (contact_key) DO NOTHING",
        )
        .bind(&link.contact_key)
        .bind(&link.detail_key)
        .bind(to_db_id(link.user_id)?)
        .bind(link.outcome.as_str())
        .bind(&link.reason)
        .bind(link.created_at)
        .execute(&self.pool)
        .await?;
        self.contact_link_row(&link.contact_key)
            .await?
            .ok_or_else(|| StoreError::Corrupt("contact link vanished after insert".into()))
    }

    pub(super) async fn claim_cross_channel_row(
        &self,
        message: &CrossChannelMessage,
        window: Duration,
        similar: SimilarFn<'_>,
    ) -> Result<CrossChannelClaim, StoreError> {
        let span = span(window)?;
        let user_id = to_db_id(message.user_id)?;
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!("intake.cross_channel:{user_id}"))
            .execute(&mut *tx)
            .await?;
        let select_one =
            format!("SELECT {MESSAGE_COLUMNS} FROM cross_channel_messages WHERE event_id = $1");
        if let Some(row) = sqlx::query(&select_one)
            .bind(message.event_id)
            .fetch_optional(&mut *tx)
            .await?
        {
            // A replay: the first claim's decision stands.
            let first = read_message(&row)?;
            let original = match first.duplicate_of {
                Some(id) => sqlx::query(&select_one)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?
                    .as_ref()
                    .map(read_message)
                    .transpose()?,
                None => None,
            };
            tx.commit().await?;
            return Ok(original.map_or(CrossChannelClaim::Original, CrossChannelClaim::DuplicateOf));
        }
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM cross_channel_messages \
             WHERE user_id = $1 AND channel <> $2 AND duplicate_of IS NULL \
             AND received_at BETWEEN $3 AND $4 ORDER BY received_at, event_id"
        ))
        .bind(user_id)
        .bind(&message.channel)
        .bind(message.received_at - span)
        .bind(message.received_at + span)
        .fetch_all(&mut *tx)
        .await?;
        let mut original = None;
        for row in &rows {
            let candidate = read_message(row)?;
            if similar(&candidate) {
                original = Some(candidate);
                break;
            }
        }
        sqlx::query(
            "INSERT INTO cross_channel_messages \
             (event_id, user_id, channel, text_hash, tokens, received_at, duplicate_of) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(message.event_id)
        .bind(user_id)
        .bind(&message.channel)
        .bind(&message.text_hash)
        .bind(&message.tokens)
        .bind(message.received_at)
        .bind(original.as_ref().map(|o| o.event_id))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM cross_channel_messages WHERE user_id = $1 AND received_at < $2")
            .bind(user_id)
            .bind(message.received_at - span - PRUNE_AFTER)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(original.map_or(CrossChannelClaim::Original, CrossChannelClaim::DuplicateOf))
    }
}
