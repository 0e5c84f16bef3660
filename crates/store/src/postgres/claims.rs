//! Conversation claims in PostgreSQL (see `crate::claims`): the database's
//! clock decides expiry, so router replicas need not agree on the time.

use std::time::Duration;

use super::PostgresStore;
use crate::StoreError;
use crate::claims::{ClaimAttempt, ConversationClaim, held, millis, remaining, ttl_millis};

impl PostgresStore {
    pub(super) async fn claim_row(
        &self,
        lane: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<ClaimAttempt, StoreError> {
        let ttl = ttl_millis(ttl);
        // A renewal keeps the token.
        let renewed: Option<(i64,)> = sqlx::query_as(
            "UPDATE conversation_claims \
             SET expires_at = clock_timestamp() + $1 * interval '1 millisecond' \
             WHERE lane = $2 AND holder = $3 AND expires_at > clock_timestamp() RETURNING token",
        )
        .bind(ttl)
        .bind(lane)
        .bind(holder)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((token,)) = renewed {
            return Ok(held(lane, holder, token));
        }
        // Taken anew (free, expired or released): a new token. Two takers
        // race on the row lock; the loser sees an unexpired claim.
        let taken: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO conversation_claims (lane, holder, token, expires_at) \
             VALUES ($1, $2, nextval('conversation_claim_tokens'), \
             clock_timestamp() + $3 * interval '1 millisecond') \
             ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
             expires_at = excluded.expires_at \
             WHERE conversation_claims.expires_at <= clock_timestamp() RETURNING token",
        )
        .bind(lane)
        .bind(holder)
        .bind(ttl)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((token,)) = taken {
            return Ok(held(lane, holder, token));
        }
        let other: Option<(String, i64)> = sqlx::query_as(
            "SELECT holder, \
             (EXTRACT(EPOCH FROM (expires_at - clock_timestamp())) * 1000)::BIGINT \
             FROM conversation_claims WHERE lane = $1",
        )
        .bind(lane)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match other {
            Some((holder, left)) => ClaimAttempt::Busy {
                holder,
                remaining: remaining(left),
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
             WHERE lane = $1 AND holder = $2 AND token = $3 \
             AND expires_at > clock_timestamp() + $4 * interval '1 millisecond'",
        )
        .bind(&claim.lane)
        .bind(&claim.holder)
        .bind(claim.token)
        .bind(millis(margin))
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    pub(super) async fn release_claim_row(
        &self,
        claim: &ConversationClaim,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM conversation_claims WHERE lane = $1 AND holder = $2 AND token = $3",
        )
        .bind(&claim.lane)
        .bind(&claim.holder)
        .bind(claim.token)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
