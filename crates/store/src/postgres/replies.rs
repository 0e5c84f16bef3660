//! Agent replies and the ticket → conversation look-up in PostgreSQL (migration 0005).

use sqlx::Row;

use crate::replies::{files_text, parse_files};
use crate::{AgentReply, AgentReplyStatus, ConversationRef, StoreError, from_db_id, to_db_id};

use super::PostgresStore;

fn read_reply(row: &sqlx::postgres::PgRow) -> Result<AgentReply, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(AgentReply {
        comment_id: from_db_id(row.try_get("comment_id")?)?,
        ticket_id: from_db_id(row.try_get("ticket_id")?)?,
        conversation: ConversationRef {
            channel: row.try_get("channel")?,
            thread_id: row.try_get("thread_id")?,
        },
        text: row.try_get("text")?,
        subject: row.try_get("subject")?,
        attachments: parse_files(&row.try_get::<String, _>("attachments")?),
        status: AgentReplyStatus::parse(&status)?,
        reason: row.try_get("reason")?,
    })
}

impl PostgresStore {
    pub(super) async fn ticket_conversation_row(
        &self,
        ticket_id: u64,
    ) -> Result<Option<ConversationRef>, StoreError> {
        let row = sqlx::query(
            "SELECT channel, thread_id FROM conversations WHERE ticket_id = $1 \
             ORDER BY updated_at DESC, channel, thread_id LIMIT 1",
        )
        .bind(to_db_id(ticket_id)?)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|row| {
            Ok(ConversationRef {
                channel: row.try_get("channel")?,
                thread_id: row.try_get("thread_id")?,
            })
        })
        .transpose()
    }

    pub(super) async fn claim_agent_reply_row(
        &self,
        reply: &AgentReply,
    ) -> Result<bool, StoreError> {
        let inserted = sqlx::query(
            "INSERT INTO agent_replies \
             (comment_id, ticket_id, channel, thread_id, text, status, reason, subject, attachments) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (comment_id) DO NOTHING",
        )
        .bind(to_db_id(reply.comment_id)?)
        .bind(to_db_id(reply.ticket_id)?)
        .bind(&reply.conversation.channel)
        .bind(&reply.conversation.thread_id)
        .bind(&reply.text)
        .bind(reply.status.as_str())
        .bind(&reply.reason)
        .bind(&reply.subject)
        .bind(files_text(&reply.attachments))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(inserted == 1)
    }

    pub(super) async fn finish_agent_reply_row(
        &self,
        comment_id: u64,
        status: AgentReplyStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE agent_replies SET status = $1, reason = $2 WHERE comment_id = $3")
            .bind(status.as_str())
            .bind(reason)
            .bind(to_db_id(comment_id)?)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn pending_agent_reply_rows(&self) -> Result<Vec<AgentReply>, StoreError> {
        let rows = sqlx::query(
            "SELECT comment_id, ticket_id, channel, thread_id, text, status, reason, subject, attachments \
             FROM agent_replies WHERE status = 'pending' ORDER BY comment_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(read_reply).collect()
    }
}
