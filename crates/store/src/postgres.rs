//! [`PostgresStore`]: the state store in PostgreSQL, shared by several router
//! replicas (a connection pool per replica, migrations embedded in the binary
//! and applied under sqlx's advisory lock, so replicas may start together).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

mod cursors;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::{PgPool, Row};
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How to open a [`PostgresStore`].
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// Connections in this replica's pool.
    pub max_connections: u32,
    /// How long a call waits for a pooled connection (or a new one) before it
    /// fails with a retryable [`StoreError::Unavailable`].
    pub acquire_timeout: Duration,
    /// Server-side limit per statement (`statement_timeout`); a statement
    /// that runs longer is cancelled and fails retryably.
    pub statement_timeout: Duration,
    /// The schema holding the tables (created if missing); `None` uses the
    /// server's default search path (normally `public`). Lowercase ASCII
    /// letters, digits and `_`, at most 63 characters, not starting with a digit.
    pub schema: Option<String>,
}

impl Default for PostgresOptions {
    /// 8 connections, 5 s acquire timeout, 30 s statement timeout, default schema.
    fn default() -> Self {
        Self {
            max_connections: 8,
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            schema: None,
        }
    }
}

/// The state store in a PostgreSQL database.
#[derive(Clone)]
pub struct PostgresStore {
    pool: PgPool,
    schema: Option<String>,
}

impl fmt::Debug for PostgresStore {
    // Written by hand: nothing of the connection URL (it has the password).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.schema)
            .field("connections", &self.pool.size())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`), creates
    /// the schema if one is named and applies the embedded migrations.
    ///
    /// Errors never contain the URL or its password. A server that cannot be
    /// reached is [`StoreError::Unavailable`] (retryable); a bad URL, refused
    /// login or failed migration is [`StoreError::Open`].
    pub async fn connect(url: &SecretString, options: PostgresOptions) -> Result<Self, StoreError> {
        let redact = |message: String| redact(&message, url);
        if let Some(schema) = &options.schema {
            check_schema_name(schema)?;
        }
        let connect = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|e| StoreError::Open(redact(format!("invalid postgres URL: {e}"))))?;
        let mut server_options = vec![(
            "statement_timeout",
            options.statement_timeout.as_millis().max(1).to_string(),
        )];
        if let Some(schema) = &options.schema {
            server_options.push(("search_path", schema.clone()));
        }
        let connect = connect.application_name("intake").options(server_options);
        let (host, port, database) = (
            connect.get_host().to_owned(),
            connect.get_port(),
            connect.get_database().unwrap_or_default().to_owned(),
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(|e| {
                let error = StoreError::from(e);
                let message = redact(format!("cannot connect to {host}:{port}: {error}"));
                if error.is_retryable() {
                    StoreError::Unavailable(message)
                } else {
                    StoreError::Open(message)
                }
            })?;
        if let Some(schema) = &options.schema {
            create_schema(&pool, schema)
                .await
                .map_err(|e| StoreError::Open(redact(format!("cannot create schema: {e}"))))?;
        }
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Open(redact(format!("migrations: {e}"))))?;
        tracing::debug!(
            %host,
            port,
            %database,
            schema = options.schema.as_deref().unwrap_or(""),
            "state store opened"
        );
        Ok(Self {
            pool,
            schema: options.schema,
        })
    }

    /// Closes the pool (waits for connections to return).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Key of the transaction-level advisory lock that serialises schema creation
/// (`CREATE SCHEMA IF NOT EXISTS` alone can fail when replicas start together).
const SCHEMA_LOCK_KEY: i64 = 0x696e_7461_6b65_0001;

async fn create_schema(pool: &PgPool, schema: &str) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(SCHEMA_LOCK_KEY)
        .execute(&mut *tx)
        .await?;
    // The name was checked by `check_schema_name`, so quoting it is enough.
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Removes the URL and its password from a message (driver messages should
/// not hold them, but a connection error is the one place they could).
fn redact(message: &str, url: &SecretString) -> String {
    let url = url.expose_secret();
    let mut message = if url.is_empty() {
        message.to_owned()
    } else {
        message.replace(url, "[redacted url]")
    };
    if let Ok(parsed) = url::Url::parse(url)
        && let Some(password) = parsed.password().filter(|p| !p.is_empty())
    {
        message = message.replace(password, "[redacted]");
        let decoded = url::form_urlencoded::parse(format!("p={password}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned());
        if let Some(decoded) = decoded.filter(|d| !d.is_empty()) {
            message = message.replace(&decoded, "[redacted]");
        }
    }
    message
}

fn check_schema_name(schema: &str) -> Result<(), StoreError> {
    let valid = !schema.is_empty()
        && schema.len() <= 63
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid {
        Ok(())
    } else {
        Err(StoreError::InvalidValue(format!(
            "schema name {schema:?}: use lowercase letters, digits and _ (at most 63)"
        )))
    }
}

fn read_link(row: &PgRow) -> Result<TicketLink, StoreError> {
    let ticket_id: i64 = row.try_get("ticket_id")?;
    let effect: String = row.try_get("effect")?;
    Ok(TicketLink {
        ticket_id: from_db_id(ticket_id)?,
        effect: Effect::parse(&effect)?,
    })
}

#[async_trait]
impl StateStore for PostgresStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    async fn ticket_for_event(&self, event_id: Uuid) -> Result<Option<TicketLink>, StoreError> {
        let row = sqlx::query("SELECT ticket_id, effect FROM events WHERE event_id = $1")
            .bind(event_id)
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
        let mut tx = self.pool.begin().await?;
        // READ COMMITTED: a racing insert of the same id waits for the first
        // transaction; if that commits this one does nothing, and the SELECT
        // below (a new statement, so a new snapshot) sees the first row.
        let inserted = sqlx::query(
            "INSERT INTO events (event_id, ticket_id, effect, recorded_at) VALUES ($1, $2, $3, now()) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event_id)
        .bind(ticket_id)
        .bind(link.effect.as_str())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let row = sqlx::query("SELECT ticket_id, effect FROM events WHERE event_id = $1")
                .bind(event_id)
                .fetch_one(&mut *tx)
                .await?;
            let first = read_link(&row)?;
            tx.commit().await?;
            return Ok(first);
        }
        if let Some(conversation) = conversation {
            upsert_conversation(&mut tx, conversation, ticket_id).await?;
        }
        sqlx::query("DELETE FROM pending_effects WHERE event_id = $1")
            .bind(event_id)
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
            "INSERT INTO pending_effects (event_id, ticket_id, effect, started_at) \
             VALUES ($1, $2, $3, now()) \
             ON CONFLICT (event_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
             effect = excluded.effect, started_at = excluded.started_at, updated_stamp = NULL",
        )
        .bind(event_id)
        .bind(ticket_id)
        .bind(effect.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn pending_effect(&self, event_id: Uuid) -> Result<Option<PendingEffect>, StoreError> {
        let row = sqlx::query(
            "SELECT ticket_id, effect, started_at, updated_stamp FROM pending_effects WHERE event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let ticket_id: Option<i64> = row.try_get("ticket_id")?;
        let effect: String = row.try_get("effect")?;
        let started_at: DateTime<Utc> = row.try_get("started_at")?;
        Ok(Some(PendingEffect {
            ticket_id: ticket_id.map(from_db_id).transpose()?,
            effect: Effect::parse(&effect)?,
            started_at,
            updated_stamp: row.try_get("updated_stamp")?,
        }))
    }

    async fn clear_pending(&self, event_id: Uuid) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM pending_effects WHERE event_id = $1")
            .bind(event_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn conversation_ticket(
        &self,
        conversation: &ConversationRef,
    ) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT ticket_id FROM conversations WHERE channel = $1 AND thread_id = $2",
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
        upsert_conversation(&mut conn, conversation, ticket_id).await
    }

    async fn contact_user(&self, contact_key: &str) -> Result<Option<u64>, StoreError> {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT user_id FROM contacts WHERE contact_key = $1")
                .bind(contact_key)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(id,)| from_db_id(id)).transpose()
    }

    async fn set_contact_user(&self, contact_key: &str, user_id: u64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO contacts (contact_key, user_id, updated_at) VALUES ($1, $2, now()) \
             ON CONFLICT (contact_key) DO UPDATE SET user_id = excluded.user_id, \
             updated_at = excluded.updated_at",
        )
        .bind(contact_key)
        .bind(to_db_id(user_id)?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn forget_contact_user(
        &self,
        contact_key: &str,
        user_id: u64,
    ) -> Result<bool, StoreError> {
        let removed = sqlx::query("DELETE FROM contacts WHERE contact_key = $1 AND user_id = $2")
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
        cursors::set_cursor(&self.pool, scope, value).await
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
    conn: &mut sqlx::PgConnection,
    conversation: &ConversationRef,
    ticket_id: i64,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversations (channel, thread_id, ticket_id, updated_at) \
         VALUES ($1, $2, $3, now()) \
         ON CONFLICT (channel, thread_id) DO UPDATE SET ticket_id = excluded.ticket_id, \
         updated_at = excluded.updated_at",
    )
    .bind(&conversation.channel)
    .bind(&conversation.thread_id)
    .bind(ticket_id)
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_removes_url_and_password() {
        let url = SecretString::from("postgres://app:s%40cret-pw@db.example:5432/intake");
        let message = "failed for postgres://app:s%40cret-pw@db.example:5432/intake \
                       and s%40cret-pw and s@cret-pw";
        let redacted = redact(message, &url);
        assert!(!redacted.contains("cret-pw"), "{redacted}");
        assert!(redacted.contains("[redacted url]"), "{redacted}");
    }

    #[test]
    fn schema_names_are_checked() {
        assert!(check_schema_name("intake_test_01").is_ok());
        for bad in ["", "1abc", "Upper", "a-b", "a\"b", &"x".repeat(64)] {
            assert!(
                matches!(check_schema_name(bad), Err(StoreError::InvalidValue(_))),
                "{bad:?}"
            );
        }
    }
}
