//! Conversation claims: the lease a router holds on a conversation (a
//! router lane) while it acts on Zendesk for it, so that two router
//! replicas never work on one conversation at the same time (issue 13
//! point 4, decision 39). A claim has a holder, an expiry kept by the
//! database's clock, and a fencing token that only ever grows: a claim
//! taken anew (by another holder, or after it expired) gets a higher token,
//! so a holder whose claim lapsed can tell it lost it even if it took it
//! back.

use std::time::Duration;

/// A claim this holder has on a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConversationClaim {
    /// The lane: `thread:<channel>:<thread id>`, `contact:<contact key>`, ...
    pub lane: String,
    /// Who holds it (one id per router process).
    pub holder: String,
    /// Grows every time the claim is taken anew; a renewal keeps it.
    pub token: i64,
}

/// How an attempt to take (or renew) a claim ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimAttempt {
    /// Held by the caller until the expiry it asked for.
    Held(ConversationClaim),
    /// Another holder has it for `remaining` more (at most).
    Busy { holder: String, remaining: Duration },
}

/// A duration in whole milliseconds for the database.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// A lease length in whole milliseconds for the database (at least 1).
pub(crate) fn ttl_millis(ttl: Duration) -> i64 {
    millis(ttl).max(1)
}

/// The claim `holder` took on `lane`.
pub(crate) fn held(lane: &str, holder: &str, token: i64) -> ClaimAttempt {
    ClaimAttempt::Held(ConversationClaim {
        lane: lane.to_owned(),
        holder: holder.to_owned(),
        token,
    })
}

/// A remaining time the database reported (negative: none).
pub(crate) fn remaining(millis: i64) -> Duration {
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}
