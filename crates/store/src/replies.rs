//! Agent replies (issue 16): a Zendesk comment carried back to the customer,
//! claimed once by comment id.

use crate::StoreError;

/// Where the delivery of one agent reply stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AgentReplyStatus {
    /// Claimed, not yet delivered or given up (resumed after a restart).
    Pending,
    /// Delivered by the channel's reply sender.
    Sent,
    /// Not delivered for good; the reason says why.
    Failed,
}

impl AgentReplyStatus {
    /// The stored spelling (stable; never rename).
    pub fn as_str(self) -> &'static str {
        match self {
            AgentReplyStatus::Pending => "pending",
            AgentReplyStatus::Sent => "sent",
            AgentReplyStatus::Failed => "failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(value: &str) -> Result<Self, StoreError> {
        match value {
            "pending" => Ok(AgentReplyStatus::Pending),
            "sent" => Ok(AgentReplyStatus::Sent),
            "failed" => Ok(AgentReplyStatus::Failed),
            other => Err(StoreError::Corrupt(format!(
                "unknown agent reply status {other:?}"
            ))),
        }
    }
}

/// One agent comment to deliver, as claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentReply {
    /// Zendesk's comment id: the de-duplication key.
    pub comment_id: u64,
    pub ticket_id: u64,
    /// The conversation the reply goes into.
    pub conversation: crate::ConversationRef,
    /// The text to send (attachments already as links).
    pub text: String,
    pub status: AgentReplyStatus,
    /// Why it failed (a fixed code), none otherwise.
    pub reason: Option<String>,
}
