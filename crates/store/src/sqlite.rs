//! [`SqliteStore`]: the state store in one local SQLite file (WAL journal,
//! `synchronous=FULL`, migrations embedded in the binary).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

mod cursors;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};
use uuid::Uuid;

mod acks;
mod claims;
mod identity;
mod inbound;
mod native;
mod replies;
mod sla_watch;

use crate::{
    AckRecord, ConversationRef, Effect, PendingEffect, StateStore, StoreError, TicketLink,
    from_db_id, to_db_id,
};

mod parked;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// The database file; created (with missing migrations applied) if absent.
    pub path: PathBuf,
    /// Connections in the pool.
    pub max_connections: u32,
    /// How long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
}

impl SqliteOptions {
    /// Defaults for `path`: 4 connections, 5 s busy timeout.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
        }
    }
}

/// The state store in a local SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the file at `path` with default options.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        Self::open_with(SqliteOptions::new(path)).await
    }

    /// Opens the store and applies the embedded migrations.
    pub async fn open_with(options: SqliteOptions) -> Result<Self, StoreError> {
        if let Some(parent) = options.path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Open(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let connect = SqliteConnectOptions::from_str("sqlite://")
            .map_err(|e| StoreError::Open(e.to_string()))?
            .filename(&options.path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(options.busy_timeout);
        // Two processes on one file (a gateway and a router) may start
        // together: switching a new file to WAL and migrating it can then
        // meet the other's lock (busy_timeout does not cover the journal
        // mode switch), or a table the other just created (SQLite has no
        // migration lock). Opening again reads the file's state anew.
        const ATTEMPTS: u32 = 10;
        let mut attempt = 1;
        loop {
            let opened = async {
                let pool = SqlitePoolOptions::new()
                    .max_connections(options.max_connections.max(1))
                    .connect_with(connect.clone())
                    .await
                    .map_err(|e| StoreError::Open(format!("{}: {e}", options.path.display())))?;
                MIGRATOR
                    .run(&pool)
                    .await
                    .map_err(|e| StoreError::Open(format!("migrations: {e}")))?;
                Ok::<_, StoreError>(pool)
            }
            .await;
            match opened {
                Ok(pool) => {
                    tracing::debug!(path = %options.path.display(), "state store opened");
                    return Ok(Self { pool });
                }
                Err(error) if attempt < ATTEMPTS => {
                    tracing::debug!(error = %error, attempt, "opening the state store failed, trying again");
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// Closes the pool (waits for connections to return).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn read_link(row: &sqlx::sqlite::SqliteRow) -> Result<TicketLink, StoreError> {
    let ticket_id: i64 = row.try_get("ticket_id")?;
    let effect: String = row.try_get("effect")?;
    Ok(TicketLink {
        ticket_id: from_db_id(ticket_id)?,
        effect: Effect::parse(&effect)?,
    })
}

#[async_trait]
impl StateStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn ticket_for_event(&self, event_id: Uuid) -> Result<Option<TicketLink>, StoreError> {
        let row = sqlx::query("SELECT ticket_id, effect FROM events WHERE event_id = ?")
            .bind(event_id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(read_link).transpose()
    }

    async fn record_event(
        &self,
        event_id: Uuid,
        link: TicketLink,
        conversation: Option<&ConversationRef>,
    ) -> Result<TicketLink, StoreError> {
        let ticket_id = to_db_id(link.ticket_id)?;
        let event_key = event_id.to_string();
        let now = now_text();
        let mut tx = self.pool.begin().await?;
        // Write first, so the transaction takes the write lock at once (a
        // read-then-write upgrade could fail with SQLITE_BUSY_SNAPSHOT).
        let inserted = sqlx::query(
            "INSERT INTO events (event_id, ticket_id, effect, recorded_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&event_key)
        .bind(ticket_id)
        .bind(link.effect.as_str())
        .bind(&now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query("SELECT ticket_id, effect FROM events WHERE event_id = ?")
                .bind(&event_key)
                .fetch_one(&mut *tx)
                .await?;
            let first = read_link(&row)?;
            tx.commit().await?;
            return Ok(first);
        }
        if let Some(conversation) = conversation {
            upsert_conversation(&mut tx, conversation, ticket_id, &now).await?;
        }
        sqlx::query("DELETE FROM pending_effects WHERE event_id = ?")
            .bind(&event_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(link)
    }

    async fn begin_effect(
        &self,
        event_id: Uuid,
        effect: Effect,
        ticket_id: Option<u64>,
    ) -> Result<(), StoreError> {
        let ticket_id = ticket_id.map(to_db_id).transpose()?;
        sqlx::query(
            "INSERT INTO pending_effects (event_id, ticket_id, effect, started_at) VALUES (?, ?, ?, ?) \
             ON CONFLICT (event_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
             effect = excluded.effect, started_at = excluded.started_at, updated_stamp = NULL",
        )
        .bind(event_id.to_string())
        .bind(ticket_id)
        .bind(effect.as_str())
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending_effect(&self, event_id: Uuid) -> Result<Option<PendingEffect>, StoreError> {
        let row = sqlx::query(
            "SELECT ticket_id, effect, started_at, updated_stamp FROM pending_effects WHERE event_id = ?",
        )
        .bind(event_id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let ticket_id: Option<i64> = row.try_get("ticket_id")?;
        let effect: String = row.try_get("effect")?;
        let started_at: String = row.try_get("started_at")?;
        let started_at = DateTime::parse_from_rfc3339(&started_at)
            .map_err(|e| StoreError::Corrupt(format!("started_at {started_at:?}: {e}")))?
            .with_timezone(&Utc);
        Ok(Some(PendingEffect {
            ticket_id: ticket_id.map(from_db_id).transpose()?,
            effect: Effect::parse(&effect)?,
            started_at,
            updated_stamp: row.try_get("updated_stamp")?,
        }))
    }

    async fn clear_pending(&self, event_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_effects WHERE event_id = ?")
            .bind(event_id.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn conversation_ticket(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ticket_id FROM conversations WHERE channel = ? AND thread_id = ?",
        )
        .bind(&conversation.channel)
        .bind(&conversation.thread_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|(id,)| from_db_id(id)).transpose()
    }

    async fn set_conversation_ticket(
        &self,
        conversation: &ConversationRef,
        ticket_id: u64,
    ) -> Result<(), StoreError> {
        let ticket_id = to_db_id(ticket_id)?;
        let mut conn = self.pool.acquire().await?;
        upsert_conversation(&mut conn, conversation, ticket_id, &now_text()).await
    }

    async fn contact_user(&self, contact_key: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT user_id FROM contacts WHERE contact_key = ?")
                .bind(contact_key)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(id,)| from_db_id(id)).transpose()
    }

    async fn set_contact_user(&self, contact_key: &str, user_id: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contacts (contact_key, user_id, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (contact_key) DO UPDATE SET user_id = excluded.user_id, \
             updated_at = excluded.updated_at",
        )
        .bind(contact_key)
        .bind(to_db_id(user_id)?)
        .bind(now_text())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn forget_contact_user(
        &self,
        contact_key: &str,
        user_id: u64,
    ) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM contacts WHERE contact_key = ? AND user_id = ?")
            .bind(contact_key)
            .bind(to_db_id(user_id)?)
            .execute(&self.pool)
            .await?;
        Ok(removed.rows_affected() > 0)
    }

    async fn check_ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn cursor(&self, scope: &str) -> Result<Option<String>, StoreError> {
        cursors::cursor(&self.pool, scope).await
    }

    async fn set_cursor(&self, scope: &str, value: &str) -> Result<(), StoreError> {
        cursors::set_cursor(&self.pool, scope, value, &now_text()).await
    }

    async fn acknowledgement(&self, outcome_id: Uuid) -> Result<Option<AckRecord>, StoreError> {
        self.ack_get(outcome_id).await
    }

    async fn record_acknowledgement(&self, record: &AckRecord) -> Result<AckRecord, StoreError> {
        self.ack_record(record).await
    }

    async fn last_acknowledgement_sent(
        &self,
        contact_key: &str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.ack_last_sent(contact_key).await
    }

    async fn park_lane(&self, parked: &crate::ParkedLane) -> Result<(), StoreError> {
        self.park_lane_row(parked).await
    }

    async fn unpark_lane(&self, consumer_group: &str, lane: &str) -> Result<(), StoreError> {
        self.unpark_lane_row(consumer_group, lane).await
    }

    async fn parked_lanes(
        &self,
        consumer_group: Option<&str>,
    ) -> Result<Vec<crate::ParkedLane>, StoreError> {
        self.parked_lane_rows(consumer_group).await
    }

    async fn begin_comment(
        &self,
        event_id: Uuid,
        ticket_id: u64,
        updated_stamp: &str,
    ) -> Result<(), StoreError> {
        self.begin_comment_row(event_id, ticket_id, updated_stamp)
            .await
    }

    async fn ticket_conversation(
        &self,
        ticket_id: u64,
    ) -> Result<Option<ConversationRef>, StoreError> {
        self.ticket_conversation_row(ticket_id).await
    }

    async fn claim_agent_reply(&self, reply: &crate::AgentReply) -> Result<bool, StoreError> {
        self.claim_agent_reply_row(reply).await
    }

    async fn finish_agent_reply(
        &self,
        comment_id: u64,
        status: crate::AgentReplyStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.finish_agent_reply_row(comment_id, status, reason)
            .await
    }

    async fn pending_agent_replies(&self) -> Result<Vec<crate::AgentReply>, StoreError> {
        self.pending_agent_reply_rows().await
    }

    async fn claim_conversation(
        &self,
        lane: &str,
        holder: &str,
        ttl: std::time::Duration,
    ) -> Result<crate::ClaimAttempt, StoreError> {
        self.claim_row(lane, holder, ttl).await
    }

    async fn conversation_claim_held(
        &self,
        claim: &crate::ConversationClaim,
        margin: std::time::Duration,
    ) -> Result<bool, StoreError> {
        self.claim_held_row(claim, margin).await
    }

    async fn release_conversation(
        &self,
        claim: &crate::ConversationClaim,
    ) -> Result<(), StoreError> {
        self.release_claim_row(claim).await
    }

    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.acquire_lease_row(name, holder, ttl).await
    }

    async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.renew_lease_row(name, holder, ttl).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        self.release_lease_row(name, holder).await
    }

    async fn watch_sla(&self, watch: &crate::SlaWatch) -> Result<bool, StoreError> {
        self.watch_sla_row(watch).await
    }

    async fn sla_watch(&self, ticket_id: u64) -> Result<Option<crate::SlaWatch>, StoreError> {
        self.sla_watch_row(ticket_id).await
    }

    async fn due_sla_watches(
        &self,
        now: DateTime<Utc>,
        after: Option<(DateTime<Utc>, u64)>,
        limit: usize,
    ) -> Result<Vec<crate::SlaWatch>, StoreError> {
        self.due_sla_watch_rows(now, after, limit).await
    }

    async fn advance_sla_watch(
        &self,
        ticket_id: u64,
        from: crate::SlaStage,
        to: crate::SlaStage,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        self.advance_sla_watch_row(ticket_id, from, to, at).await
    }

    async fn record_inbound(
        &self,
        conversation: &ConversationRef,
        message_id: &str,
        contact_key: &str,
        received_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.record_inbound_row(conversation, message_id, contact_key, received_at)
            .await
    }

    async fn last_inbound(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<crate::Inbound>, StoreError> {
        self.last_inbound_row(conversation).await
    }

    async fn contact_link(
        &self,
        contact_key: &str,
    ) -> Result<Option<crate::ContactLink>, StoreError> {
        self.contact_link_row(contact_key).await
    }

    async fn record_contact_link(
        &self,
        link: &crate::ContactLink,
    ) -> Result<crate::ContactLink, StoreError> {
        self.record_contact_link_row(link).await
    }

    async fn claim_cross_channel(
        &self,
        message: &crate::CrossChannelMessage,
        window: Duration,
        similar: crate::SimilarFn<'_>,
    ) -> Result<crate::CrossChannelClaim, StoreError> {
        self.claim_cross_channel_row(message, window, similar).await
    }

    async fn record_native_ticket(
        &self,
        ticket: &crate::NativeTicket,
    ) -> Result<crate::NativeTicketState, StoreError> {
        self.record_native_ticket_row(ticket).await
    }

    async fn native_ticket_published(&self, ticket_id: u64) -> Result<(), StoreError> {
        self.native_ticket_published_row(ticket_id).await
    }

    async fn native_ticket(
        &self,
        ticket_id: u64,
    ) -> Result<Option<(crate::NativeTicket, crate::NativeTicketState)>, StoreError> {
        self.native_ticket_row(ticket_id).await
    }

    async fn native_ticket_applied(
        &self,
        ticket: &crate::NativeTicket,
    ) -> Result<bool, StoreError> {
        self.native_ticket_applied_row(ticket).await
    }
}

async fn upsert_conversation(
    conn: &mut sqlx::SqliteConnection,
    conversation: &ConversationRef,
    ticket_id: i64,
    now: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversations (channel, thread_id, ticket_id, updated_at) VALUES (?, ?, ?, ?) \
         ON CONFLICT (channel, thread_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
         updated_at = excluded.updated_at",
    )
    .bind(&conversation.channel)
    .bind(&conversation.thread_id)
    .bind(ticket_id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}
