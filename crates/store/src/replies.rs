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
    /// The text to send (the comment's plain body).
    pub text: String,
    /// The ticket's subject, for channels that have one (mail).
    pub subject: Option<String>,
    /// The comment's files.
    pub attachments: Vec<ReplyFile>,
    pub status: AgentReplyStatus,
    /// Why it failed (a fixed code), none otherwise.
    pub reason: Option<String>,
}

/// A file of an agent reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyFile {
    pub file_name: String,
    pub url: String,
}

/// The stored form of a reply's files: one `<url> <file name>` per line
/// (a URL holds no whitespace; a name holds no line break once cleaned).
pub(crate) fn files_text(files: &[ReplyFile]) -> String {
    files
        .iter()
        .map(|f| {
            let name: String = f
                .file_name
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("{} {}", f.url.trim(), name.trim())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The files of [`files_text`].
pub(crate) fn parse_files(text: &str) -> Vec<ReplyFile> {
    text.lines()
        .filter_map(|line| {
            let (url, name) = line.split_once(' ').unwrap_or((line, ""));
            (!url.is_empty()).then(|| ReplyFile {
                file_name: name.to_owned(),
                url: url.to_owned(),
            })
        })
        .collect()
}

/// The customer's last message in a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The channel's id of the message (as on the ticket event).
    pub message_id: String,
    /// Who wrote it (the contact key, `email:…`, `telegram:…`).
    pub contact_key: String,
    /// When intake received it.
    pub received_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_through_their_text() {
        let files = vec![
            ReplyFile {
                file_name: "счёт за май.pdf".into(),
                url: "https://x.example/a?b=1".into(),
            },
            ReplyFile {
                file_name: "two\nlines".into(),
                url: "https://x.example/b".into(),
            },
        ];
        let back = parse_files(&files_text(&files));
        assert_eq!(back[0], files[0]);
        assert_eq!(back[1].file_name, "two lines");
        assert!(parse_files("").is_empty());
    }
}
