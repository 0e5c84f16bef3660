//! Tickets Zendesk created in its own channels, in SQLite (migration 0012).

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::Row;

use crate::{NativeTicket, NativeTicketState, StoreError, from_db_id, to_db_id};

use super::SqliteStore;

fn time_text(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

const INSERT: &str = "INSERT INTO native_tickets \
     (ticket_id, via_channel, requester_id, requester_email, subject, text, received_at, state) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)";

impl SqliteStore {
    pub(super) async fn record_native_ticket_row(
        &self,
        ticket: &NativeTicket,
    ) -> Result<NativeTicketState, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(&format!("{INSERT} ON CONFLICT (ticket_id) DO NOTHING"))
            .bind(to_db_id(ticket.ticket_id)?)
            .bind(&ticket.via_channel)
            .bind(to_db_id(ticket.requester_id)?)
            .bind(&ticket.requester_email)
            .bind(&ticket.subject)
            .bind(&ticket.text)
            .bind(time_text(ticket.received_at))
            .bind(NativeTicketState::Received.as_str())
            .execute(&mut *tx)
            .await?;
        let state: String = sqlx::query("SELECT state FROM native_tickets WHERE ticket_id = ?")
            .bind(to_db_id(ticket.ticket_id)?)
            .fetch_one(&mut *tx)
            .await?
            .try_get("state")?;
        tx.commit().await?;
        NativeTicketState::parse(&state)
    }

    pub(super) async fn native_ticket_published_row(
        &self,
        ticket_id: u64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE native_tickets SET state = ? WHERE ticket_id = ? AND state = ?")
            .bind(NativeTicketState::Published.as_str())
            .bind(to_db_id(ticket_id)?)
            .bind(NativeTicketState::Received.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn native_ticket_row(
        &self,
        ticket_id: u64,
    ) -> Result<Option<(NativeTicket, NativeTicketState)>, StoreError> {
        let row = sqlx::query(
            "SELECT ticket_id, via_channel, requester_id, requester_email, subject, text, \
             received_at, state FROM native_tickets WHERE ticket_id = ?",
        )
        .bind(to_db_id(ticket_id)?)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let at: String = row.try_get("received_at")?;
        let received_at = DateTime::parse_from_rfc3339(&at)
            .map_err(|e| StoreError::Corrupt(format!("native ticket time {at:?}: {e}")))?
            .with_timezone(&Utc);
        let state: String = row.try_get("state")?;
        let ticket = NativeTicket {
            ticket_id: from_db_id(row.try_get("ticket_id")?)?,
            via_channel: row.try_get("via_channel")?,
            requester_id: from_db_id(row.try_get("requester_id")?)?,
            requester_email: row.try_get("requester_email")?,
            subject: row.try_get("subject")?,
            text: row.try_get("text")?,
            received_at,
        };
        Ok(Some((ticket, NativeTicketState::parse(&state)?)))
    }

    pub(super) async fn native_ticket_applied_row(
        &self,
        ticket: &NativeTicket,
    ) -> Result<bool, StoreError> {
        let applied = NativeTicketState::Applied.as_str();
        let changed = sqlx::query(&format!(
            "{INSERT} ON CONFLICT (ticket_id) DO UPDATE SET state = excluded.state \
             WHERE native_tickets.state <> excluded.state"
        ))
        .bind(to_db_id(ticket.ticket_id)?)
        .bind(&ticket.via_channel)
        .bind(to_db_id(ticket.requester_id)?)
        .bind(&ticket.requester_email)
        .bind(&ticket.subject)
        .bind(&ticket.text)
        .bind(time_text(ticket.received_at))
        .bind(applied)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(changed == 1)
    }
}
