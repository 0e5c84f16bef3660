//! Conversation claims in SQLite (see `crate::claims`). One process uses a
//! SQLite store, so a claim is always free unless this process holds it;
//! the router goes through the same calls all the same.

use std::time::Duration;

use chrono::Utc;

use super::SqliteStore;
use crate::StoreError;
use crate::claims::{ClaimAttempt, ConversationClaim, held, millis, remaining, ttl_millis};

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl SqliteStore {
    pub(super) async fn claim_row(
        &self,
        lane: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<ClaimAttempt, StoreError> {
        let now = now_ms();
        let until = now.saturating_add(ttl_millis(ttl));
        // A renewal keeps the token.
        let renewed: Option<(i64,)> = sqlx::query_as(
            "UPDATE conversation_claims SET expires_at_ms = ? \
             WHERE lane = ? AND holder = ? AND expires_at_ms > ? RETURNING token",
        )
        .bind(until)
        .bind(lane)
        .bind(holder)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((token,)) = renewed {
            return Ok(held(lane, holder, token));
        }
        let (token,): (i64,) =
            sqlx::query_as("INSERT INTO conversation_claim_tokens DEFAULT VALUES RETURNING id")
                .fetch_one(&self.pool)
                .await?;
        sqlx::query("DELETE FROM conversation_claim_tokens WHERE id < ?")
            .bind(token)
            .execute(&self.pool)
            .await?;
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO conversation_claims (lane, holder, token, expires_at_ms) \
             VALUES (?, ?, ?, ?) \
             ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
             expires_at_ms = excluded.expires_at_ms \
             WHERE conversation_claims.expires_at_ms <= ? RETURNING token",
        )
        .bind(lane)
        .bind(holder)
        .bind(token)
        .bind(until)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((token,)) = taken {
            return Ok(held(lane, holder, token));
        }
        let other: Option<(String, i64)> =
            sqlx::query_as("SELECT holder, expires_at_ms FROM conversation_claims WHERE lane = ?")
                .bind(lane)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match other {
            Some((holder, expires)) => ClaimAttempt::Busy {
                holder,
                remaining: remaining(expires - now),
            },
            // Released in between: free now.
            None => ClaimAttempt::Busy {
                holder: String::new(),
                remaining: Duration::ZERO,
            },
        })
    }

    pub(super) async fn claim_held_row(
        &self,
        claim: &ConversationClaim,
        margin: Duration,
    ) -> Result<bool, StoreError> {
        let row: Option<(i64,)> = sqlx::query_as(
            "SELECT token FROM conversation_claims \
             WHERE lane = ? AND holder = ? AND token = ? AND expires_at_ms > ?",
        )
        .bind(&claim.lane)
        .bind(&claim.holder)
        .bind(claim.token)
        .bind(now_ms().saturating_add(millis(margin)))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub(super) async fn release_claim_row(
        &self,
        claim: &ConversationClaim,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM conversation_claims WHERE lane = ? AND holder = ? AND token = ?")
            .bind(&claim.lane)
            .bind(&claim.holder)
            .bind(claim.token)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
