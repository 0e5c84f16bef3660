//! Contact links and the near-duplicate window in SQLite (migration 0011).
//!
//! A claim is one transaction that writes first (the message's own row), so
//! it holds SQLite's write lock before it reads: two claims serialise and
//! the second sees the first.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::identity::{PRUNE_AFTER, SimilarFn};
use crate::{
    ContactLink, CrossChannelClaim, CrossChannelMessage, LinkOutcome, StoreError, from_db_id,
    to_db_id,
};

use super::SqliteStore;

const MESSAGE_COLUMNS: &str =
    "event_id, user_id, channel, text_hash, tokens, received_at, duplicate_of";

/// RFC 3339 UTC with microseconds: compares as text in time order.
fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::Corrupt(format!("time {text:?}: {e}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| StoreError::Corrupt(format!("event id {text:?}: {e}")))
}

fn read_link(row: &SqliteRow) -> Result<ContactLink, StoreError> {
    let outcome: String = row.try_get("outcome")?;
    let created_at: String = row.try_get("created_at")?;
    Ok(ContactLink {
        contact_key: row.try_get("contact_key")?,
        detail_key: row.try_get("detail_key")?,
        user_id: from_db_id(row.try_get("user_id")?)?,
        outcome: LinkOutcome::parse(&outcome)?,
        reason: row.try_get("reason")?,
        created_at: parse_time(&created_at)?,
    })
}

fn read_message(row: &SqliteRow) -> Result<CrossChannelMessage, StoreError> {
    let event_id: String = row.try_get("event_id")?;
    let received_at: String = row.try_get("received_at")?;
    let duplicate_of: Option<String> = row.try_get("duplicate_of")?;
    Ok(CrossChannelMessage {
        event_id: parse_uuid(&event_id)?,
        user_id: from_db_id(row.try_get("user_id")?)?,
        channel: row.try_get("channel")?,
        text_hash: row.try_get("text_hash")?,
        tokens: row.try_get("tokens")?,
        received_at: parse_time(&received_at)?,
        duplicate_of: duplicate_of.as_deref().map(parse_uuid).transpose()?,
    })
}

fn span(window: Duration) -> Result<chrono::Duration, StoreError> {
    chrono::Duration::from_std(window)
        .map_err(|_| StoreError::InvalidValue(format!("window {window:?} is too long")))
}

impl SqliteStore {
    pub(super) async fn contact_link_row(
        &self,
        contact_key: &str,
    ) -> Result<Option<ContactLink>, StoreError> {
        let row = sqlx::query(
            "SELECT contact_key, detail_key, user_id, outcome, reason, created_at \
             FROM contact_links WHERE contact_key = ?",
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
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (contact_key) DO NOTHING",
        )
        .bind(&link.contact_key)
        .bind(&link.detail_key)
        .bind(to_db_id(link.user_id)?)
        .bind(link.outcome.as_str())
        .bind(&link.reason)
        .bind(time_text(link.created_at))
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
        let event_key = message.event_id.to_string();
        let select_one =
            format!("SELECT {MESSAGE_COLUMNS} FROM cross_channel_messages WHERE event_id = ?");
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO cross_channel_messages \
             (event_id, user_id, channel, text_hash, tokens, received_at, duplicate_of) \
             VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event_key)
        .bind(user_id)
        .bind(&message.channel)
        .bind(&message.text_hash)
        .bind(&message.tokens)
        .bind(time_text(message.received_at))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            // A replay: the first claim's decision stands.
            let row = sqlx::query(&select_one)
                .bind(&event_key)
                .fetch_one(&mut *tx)
                .await?;
            let first = read_message(&row)?;
            let original = match first.duplicate_of {
                Some(id) => sqlx::query(&select_one)
                    .bind(id.to_string())
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
        sqlx::query("DELETE FROM cross_channel_messages WHERE user_id = ? AND received_at < ?")
            .bind(user_id)
            .bind(time_text(message.received_at - span - PRUNE_AFTER))
            .execute(&mut *tx)
            .await?;
        let rows = sqlx::query(&format!(
            "SELECT {MESSAGE_COLUMNS} FROM cross_channel_messages \
             WHERE user_id = ? AND channel <> ? AND duplicate_of IS NULL AND event_id <> ? \
             AND received_at BETWEEN ? AND ? ORDER BY received_at, event_id"
        ))
        .bind(user_id)
        .bind(&message.channel)
        .bind(&event_key)
        .bind(time_text(message.received_at - span))
        .bind(time_text(message.received_at + span))
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
        if let Some(original) = &original {
            sqlx::query("UPDATE cross_channel_messages SET duplicate_of = ? WHERE event_id = ?")
                .bind(original.event_id.to_string())
                .bind(&event_key)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(original.map_or(CrossChannelClaim::Original, CrossChannelClaim::DuplicateOf))
    }
}
