//! Taking one mail: fetch, normalise, store attachments and the raw mail,
//! publish, and only then hand it off. A mail that cannot become an event
//! (unparseable, too large, refused by rule 2) is dead-lettered or answered,
//! counted, and handed off too, so the next mail flows.

use chrono::Utc;
use futures::TryStreamExt as _;
use intake_bus::{BusError, Record};
use intake_channel::events::MessageReceived;
use intake_channel::{ChannelContext, ChannelError, Reply, attach_raw, publish_event};
use intake_event::{Attachment, TicketEvent};
use sha2::{Digest as _, Sha256};

use crate::config::ForeignRecipientPolicy;
use crate::connect::ImapSession;
use crate::error::EmailError;
use crate::events;
use crate::intake::{Capabilities, EmailChannel, POINTER_DEADLINE};
use crate::normalise::{CHANNEL, Normalised, normalise};

/// Largest raw mail carried inside a dead letter; a larger one goes to the
/// blob store and the letter names it (header `intake_payload_blob`).
const DEAD_LETTER_INLINE_BYTES: usize = 512 * 1024;

impl EmailChannel {
    /// Fetches, publishes and hands off the mail `uid`.
    pub(crate) async fn take(
        &self,
        session: &mut ImapSession,
        ctx: &ChannelContext,
        caps: Capabilities,
        uid: u32,
    ) -> Result<(), EmailError> {
        let set = uid.to_string();
        let sizes = self
            .timed("UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID RFC822.SIZE)")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        let Some(size) = sizes.iter().find(|f| f.uid == Some(uid)).map(|f| f.size) else {
            // Gone meanwhile (another client expunged it): nothing to hand off.
            return Ok(());
        };
        let size = u64::from(size.unwrap_or(0));
        if size > self.account.max_message_bytes {
            events::rejected(
                &self.account.name,
                uid,
                "too_large",
                &format!("{size} bytes, limit {}", self.account.max_message_bytes),
            );
            return self.hand_off(session, caps, uid).await;
        }
        let fetched = self
            .timed("UID FETCH", async {
                session
                    .uid_fetch(&set, "(UID INTERNALDATE BODY.PEEK[])")
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        let Some(fetch) = fetched.iter().find(|f| f.uid == Some(uid)) else {
            return Ok(());
        };
        let Some(body) = fetch.body() else {
            // The server answered without the body: try again, never dead-letter a mail unread.
            return Err(EmailError::Protocol(format!(
                "UID FETCH {uid} returned no body"
            )));
        };
        let raw = body.to_vec();
        let received_at = fetch
            .internal_date()
            .map(|d| d.with_timezone(&Utc))
            .unwrap_or_else(Utc::now);
        MessageReceived { channel: CHANNEL }.emit();
        let normalised = match normalise(&raw, &self.mailbox, received_at) {
            Ok(normalised) => normalised,
            Err(error) => {
                self.dead_letter(ctx, &raw, error.as_str(), &error.to_string())
                    .await?;
                events::rejected(&self.account.name, uid, error.as_str(), &error.to_string());
                return self.hand_off(session, caps, uid).await;
            }
        };
        if normalised.foreign_recipient {
            let refused =
                self.account.foreign_recipient == ForeignRecipientPolicy::RefuseWithPointer;
            if refused && normalised.auto_reason.is_some() {
                // Never answer an automatic mail; no ticket either.
                events::foreign_recipient(&self.account.name, uid, "ignored_automatic");
                return self.hand_off(session, caps, uid).await;
            }
            if refused && self.send_pointer(&normalised).await {
                events::foreign_recipient(&self.account.name, uid, "pointer_sent");
                return self.hand_off(session, caps, uid).await;
            }
            let action = if refused {
                "pointer_failed_accepted"
            } else {
                "accepted_tagged"
            };
            events::foreign_recipient(&self.account.name, uid, action);
        }
        if let Some(reason) = normalised.auto_reason {
            events::auto_submitted(&self.account.name, uid, reason);
        }
        if !normalised.omitted.is_empty() {
            events::attachments_omitted(&self.account.name, uid, normalised.omitted.len());
        }
        let event = self.complete(ctx, normalised, &raw).await?;
        match publish_event(ctx, &event).await {
            Ok(_) => {}
            Err(BusError::TooLarge { limit_bytes }) => {
                let slim = self.slimmed(ctx, event, &raw).await?;
                if let Err(error) = publish_event(ctx, &slim).await {
                    if !matches!(error, BusError::TooLarge { .. }) {
                        return Err(ChannelError::Bus(error).into());
                    }
                    let why = format!("the event exceeds the bus limit of {limit_bytes} bytes");
                    self.dead_letter(ctx, &raw, "event_too_large", &why).await?;
                    events::rejected(&self.account.name, uid, "event_too_large", &why);
                }
            }
            Err(error) => return Err(ChannelError::Bus(error).into()),
        }
        // The crash-safety test stops here: on the bus, not yet handed off.
        intake_telemetry::crashpoint("email.after_publish");
        self.hand_off(session, caps, uid).await
    }

    /// Stores the attachments and the raw mail; returns the event to publish.
    async fn complete(
        &self,
        ctx: &ChannelContext,
        normalised: Normalised,
        raw: &[u8],
    ) -> Result<TicketEvent, EmailError> {
        let mut event = normalised.event;
        // Replies to it go out from this account (`AccountSenders`).
        event.channel_account = Some(self.account.name.clone());
        for attachment in normalised.attachments {
            let blob = ctx
                .blobs
                .put(&attachment.bytes)
                .await
                .map_err(ChannelError::Blob)?;
            event.attachments.push(Attachment {
                filename: attachment.filename,
                content_type: attachment.content_type,
                size: attachment.bytes.len() as u64,
                sha256: hex::encode(Sha256::digest(&attachment.bytes)),
                blob,
            });
        }
        attach_raw(
            ctx.blobs.as_ref(),
            &mut event,
            raw,
            self.raw_inline_max_bytes,
        )
        .await
        .map_err(ChannelError::Blob)?;
        Ok(event)
    }

    /// The event without html and full text, the raw mail in the blob store.
    async fn slimmed(
        &self,
        ctx: &ChannelContext,
        mut event: TicketEvent,
        raw: &[u8],
    ) -> Result<TicketEvent, EmailError> {
        event.html = None;
        event.text_full = None;
        event
            .dropped_fields
            .extend(["html".to_owned(), "text_full".to_owned()]);
        attach_raw(ctx.blobs.as_ref(), &mut event, raw, 0)
            .await
            .map_err(ChannelError::Blob)?;
        Ok(event)
    }

    /// Puts the raw mail on the dead-letter queue with the reason.
    async fn dead_letter(
        &self,
        ctx: &ChannelContext,
        raw: &[u8],
        reason: &'static str,
        message: &str,
    ) -> Result<(), EmailError> {
        let mut headers = vec![
            ("intake_error_reason".to_owned(), format!("email_{reason}")),
            ("intake_error_message".to_owned(), message.to_owned()),
            (
                "intake_source_topic".to_owned(),
                format!("imap:{}/{}", self.account.name, self.account.imap.mailbox),
            ),
            ("content-type".to_owned(), "message/rfc822".to_owned()),
        ];
        let payload = if raw.len() <= DEAD_LETTER_INLINE_BYTES {
            raw.to_vec()
        } else {
            let blob = ctx.blobs.put(raw).await.map_err(ChannelError::Blob)?;
            headers.push(("intake_payload_blob".to_owned(), blob.as_str().to_owned()));
            Vec::new()
        };
        let record = Record {
            topic: ctx.topics.dlq(),
            key: format!("email:{}", self.account.name),
            payload,
            headers,
        };
        let published = tokio::time::timeout(
            intake_channel::PUBLISH_DEADLINE,
            ctx.publisher.publish(record),
        )
        .await
        .unwrap_or_else(|_| {
            Err(BusError::Unavailable(
                "the bus did not confirm the dead letter".into(),
            ))
        });
        published.map_err(|e| EmailError::Channel(ChannelError::Bus(e)))?;
        Ok(())
    }

    /// Tells the sender of a mail addressed only to someone else where to
    /// write instead. True when the pointer was sent.
    async fn send_pointer(&self, normalised: &Normalised) -> bool {
        let Some(sender) = &self.pointer_sender else {
            return false;
        };
        let event = &normalised.event;
        let address = &self.account.address;
        let subject = event.subject.as_deref().unwrap_or("your message");
        let reply = Reply {
            channel: CHANNEL.to_owned(),
            contact_key: event.contact.key.clone(),
            conversation_id: event.conversation.thread_id.clone(),
            ticket_id: None,
            text: format!(
                "Hello,\n\nthank you for your message. It reached our support team through a \
                 personal address, and we can only take requests sent to {address}. Please \
                 write to {address} and we will answer you there.\n\nKind regards,\nSupport"
            ),
            subject: Some(format!("Re: {subject}")),
            in_reply_to: vec![event.channel_message_id.clone()],
            outcome_id: uuid::Uuid::new_v5(&event.event_id, b"email:pointer"),
            account: Some(self.account.name.clone()),
            kind: intake_channel::ReplyKind::Notice,
            ..Reply::default()
        };
        match tokio::time::timeout(POINTER_DEADLINE, sender.send(&reply)).await {
            Ok(Ok(_)) => true,
            Ok(Err(error)) => {
                tracing::warn!(channel = CHANNEL, error = %error, "pointer reply not sent; mail accepted with a tag");
                false
            }
            Err(_) => false,
        }
    }
}
