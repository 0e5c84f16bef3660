//! Delivering one claimed reply: the channel's sender with retries, then
//! the outcome recorded; a failure for good leaves an internal note.

use std::sync::Arc;
use std::time::Duration;

use intake_ack::deliver::{Sent, send_with_retries};
use intake_channel::{Reply, ReplyAttachment, ReplyKind};
use intake_store::{AgentReply, AgentReplyStatus, Inbound};
use intake_zendesk::{Comment, TicketUpdate};
use uuid::Uuid;

use crate::AgentReplies;
use crate::telemetry::{ReplyDelivered, ReplyGaveUp, ReplyRetrying};

/// The router scopes a thread to a contact as `<thread>#contact=<key>`.
const SCOPED_THREAD_SEPARATOR: &str = "#contact=";
/// The namespace of reply ids derived from comment ids.
const REPLY_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6a1f_2c0e_5d7b_4e61_9b3a_16aa_b0c4_d2e9);
/// The mail channel's name (its replies thread on the conversation's root).
const MAIL_CHANNEL: &str = "email";
/// The `channel` label for a channel with no reply sender.
const OTHER_CHANNEL_LABEL: &str = "other";
/// Attempts at writing the internal note.
const NOTE_ATTEMPTS: u32 = 5;

/// The stable id of the reply for comment `comment_id` (a sender's idempotency key).
pub fn reply_id(comment_id: u64) -> Uuid {
    Uuid::new_v5(&REPLY_ID_NAMESPACE, &comment_id.to_be_bytes())
}

/// The channel's reply for a claimed agent reply, answering the customer's
/// last message in the conversation when the store knows it: Telegram
/// replies to it (in a group), mail threads under it (`In-Reply-To` the
/// last mail, `References` the conversation's root and the last mail), and
/// WhatsApp knows whether its 24-hour window is still open.
fn reply_of(claimed: &AgentReply, last: Option<&Inbound>) -> Reply {
    let thread = &claimed.conversation.thread_id;
    let (conversation_id, contact_key) = match thread.split_once(SCOPED_THREAD_SEPARATOR) {
        Some((thread, contact)) => (thread.to_owned(), contact.to_owned()),
        // The customer who last wrote (the requester of a group's ticket
        // may be someone else, but the group is where the reply goes).
        None => (
            thread.clone(),
            last.map(|l| l.contact_key.clone()).unwrap_or_default(),
        ),
    };
    let mut in_reply_to = Vec::new();
    if claimed.conversation.channel == MAIL_CHANNEL {
        in_reply_to.push(conversation_id.clone());
    }
    if let Some(last) = last
        && !in_reply_to.contains(&last.message_id)
    {
        in_reply_to.push(last.message_id.clone());
    }
    Reply {
        kind: ReplyKind::AgentReply,
        channel: claimed.conversation.channel.clone(),
        contact_key,
        conversation_id: Some(conversation_id),
        ticket_id: Some(claimed.ticket_id),
        text: claimed.text.clone(),
        subject: claimed.subject.clone(),
        in_reply_to,
        outcome_id: reply_id(claimed.comment_id),
        deadline: None,
        // The conversation does not record the mail account it came in on:
        // the channel sends from its first account with SMTP.
        account: None,
        last_inbound_at: last.map(|l| l.received_at),
        attachments: claimed
            .attachments
            .iter()
            .map(|f| ReplyAttachment {
                file_name: f.file_name.clone(),
                url: f.url.clone(),
            })
            .collect(),
    }
}

impl AgentReplies {
    /// Starts delivering every reply still pending in the store (claimed
    /// before a crash or a shutdown). Returns how many were started.
    pub async fn resume(self: &Arc<Self>) -> Result<usize, intake_store::StoreError> {
        let pending = self.store.pending_agent_replies().await?;
        let count = pending.len();
        for reply in pending {
            self.spawn_delivery(reply);
        }
        Ok(count)
    }

    pub(crate) fn spawn_delivery(self: &Arc<Self>, claimed: AgentReply) {
        let this = Arc::clone(self);
        self.deliveries
            .spawn(async move { this.deliver(claimed).await });
    }

    async fn deliver(&self, claimed: AgentReply) {
        // Without the last message the reply still goes out (unthreaded;
        // WhatsApp then learns of a closed window from the Cloud API).
        let last = match self.store.last_inbound(&claimed.conversation).await {
            Ok(last) => last,
            Err(error) => {
                tracing::warn!(error = %error, comment_id = claimed.comment_id, "the conversation's last message was not read");
                None
            }
        };
        let reply = reply_of(&claimed, last.as_ref());
        let channel = match self.senders.get(&reply.channel) {
            Some(sender) => sender.channel(),
            None => OTHER_CHANNEL_LABEL,
        };
        // Claimed and answered 200, nothing sent yet: a crash here leaves
        // the reply pending for the next start (the crash-safety test).
        intake_telemetry::crashpoint("replies.before_send");
        let sent = send_with_retries(
            &self.senders,
            &self.options.retry,
            &reply,
            &self.shutdown,
            |retry| {
                ReplyRetrying {
                    channel,
                    comment_id: claimed.comment_id,
                    attempt: retry.attempt,
                    reason: retry.reason,
                    retry_in_ms: u64::try_from(retry.retry_in.as_millis()).unwrap_or(u64::MAX),
                }
                .emit();
            },
        )
        .await;
        match sent {
            Sent::Delivered { attempts } => {
                ReplyDelivered {
                    channel,
                    ticket_id: claimed.ticket_id,
                    comment_id: claimed.comment_id,
                    attempts,
                }
                .emit();
                self.finish(claimed.comment_id, AgentReplyStatus::Sent, None)
                    .await;
            }
            Sent::Failed { reason, message } => {
                ReplyGaveUp {
                    channel,
                    ticket_id: claimed.ticket_id,
                    comment_id: claimed.comment_id,
                    reason,
                    message: &message,
                }
                .emit();
                self.note_failure(&claimed, reason, &message).await;
                self.finish(claimed.comment_id, AgentReplyStatus::Failed, Some(reason))
                    .await;
            }
            // Shutdown: left pending, resumed at the next start.
            Sent::Stopped => {}
        }
    }

    /// Records the outcome, retrying the store until shutdown (then the
    /// reply stays pending and is sent again at the next start).
    async fn finish(&self, comment_id: u64, status: AgentReplyStatus, reason: Option<&str>) {
        let mut wait = self.options.retry.initial_backoff;
        loop {
            match self
                .store
                .finish_agent_reply(comment_id, status, reason)
                .await
            {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(error = %error, comment_id, "recording an agent reply failed, retrying");
                    if !self.pause(wait).await {
                        return;
                    }
                    wait = (wait * 2).min(self.options.retry.max_backoff);
                }
            }
        }
    }

    /// The internal note saying the customer did not receive the reply.
    async fn note_failure(&self, claimed: &AgentReply, reason: &str, message: &str) {
        let Some(zendesk) = &self.zendesk else {
            return;
        };
        let body = format!(
            "intake could not deliver comment {} to the customer ({} conversation): {reason}: {message}. \
             The customer did not receive this reply.",
            claimed.comment_id, claimed.conversation.channel
        );
        let update = TicketUpdate {
            comment: Some(Comment {
                body: Some(body),
                public: false,
                ..Comment::default()
            }),
            ..TicketUpdate::default()
        };
        let mut wait = self.options.retry.initial_backoff;
        for attempt in 1..=NOTE_ATTEMPTS {
            match zendesk.update_ticket(claimed.ticket_id, &update).await {
                Ok(_) => return,
                Err(error) if error.is_retryable() && attempt < NOTE_ATTEMPTS => {
                    tracing::warn!(error = %error.log_summary(), ticket_id = claimed.ticket_id, "the failed-reply note was not added, retrying");
                    if !self.pause(error.retry_after().unwrap_or(wait)).await {
                        return;
                    }
                    wait = (wait * 2).min(self.options.retry.max_backoff);
                }
                Err(error) => {
                    tracing::error!(error = %error.log_summary(), ticket_id = claimed.ticket_id, "the failed-reply note was not added");
                    return;
                }
            }
        }
    }

    async fn pause(&self, wait: Duration) -> bool {
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(wait) => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_store::ConversationRef;

    #[test]
    fn a_scoped_thread_names_conversation_and_contact() {
        let claimed = AgentReply {
            comment_id: 9,
            ticket_id: 7,
            conversation: ConversationRef {
                channel: "chat".into(),
                thread_id: "conv-1#contact=chat:abc".into(),
            },
            text: "hi".into(),
            subject: None,
            attachments: Vec::new(),
            status: AgentReplyStatus::Pending,
            reason: None,
        };
        let reply = reply_of(&claimed, None);
        assert_eq!(reply.kind, ReplyKind::AgentReply);
        assert_eq!(reply.conversation_id.as_deref(), Some("conv-1"));
        assert_eq!(reply.contact_key, "chat:abc");
        assert_eq!(reply.outcome_id, reply_id(9));
        assert!(reply.in_reply_to.is_empty());
        assert_ne!(reply_id(9), reply_id(10));
    }

    #[test]
    fn the_reply_answers_the_last_message_and_mail_threads_on_the_root() {
        let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut claimed = AgentReply {
            comment_id: 9,
            ticket_id: 7,
            conversation: ConversationRef {
                channel: "telegram".into(),
                thread_id: "-100".into(),
            },
            text: "hi".into(),
            subject: Some("Заказ".into()),
            attachments: vec![intake_store::ReplyFile {
                file_name: "a.pdf".into(),
                url: "https://x.example/a.pdf".into(),
            }],
            status: AgentReplyStatus::Pending,
            reason: None,
        };
        let last = Inbound {
            message_id: "bot:-100:55".into(),
            contact_key: "telegram:42".into(),
            received_at: at,
        };
        let reply = reply_of(&claimed, Some(&last));
        assert_eq!(reply.in_reply_to, ["bot:-100:55"]);
        assert_eq!(reply.contact_key, "telegram:42");
        assert_eq!(reply.last_inbound_at, Some(at));
        assert_eq!(reply.subject.as_deref(), Some("Заказ"));
        assert_eq!(reply.attachments[0].file_name, "a.pdf");

        claimed.conversation = ConversationRef {
            channel: "email".into(),
            thread_id: "root@customer.test".into(),
        };
        let last = Inbound {
            message_id: "second@customer.test".into(),
            contact_key: "email:anna@customer.test".into(),
            received_at: at,
        };
        let reply = reply_of(&claimed, Some(&last));
        assert_eq!(
            reply.in_reply_to,
            ["root@customer.test", "second@customer.test"]
        );
    }
}
