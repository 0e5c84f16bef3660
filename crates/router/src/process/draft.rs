//! The parts of a ticket or comment that do not depend on the action, and
//! how they make the comment, first message, tags and custom fields.

use intake_calendar::Deadline;
use intake_event::TicketEvent;
use intake_store::ConversationRef;
use intake_zendesk::Comment;

use crate::deadline;
use crate::options::ChannelRoute;
use crate::plan;
use crate::requester::Who;

/// The parts of a ticket or comment that do not depend on the action.
pub(crate) struct Draft<'a> {
    pub(crate) route: &'a ChannelRoute,
    pub(crate) event: &'a TicketEvent,
    /// The requester: a Zendesk user id, or (a new ticket only) the
    /// `requester` object the create carries (`requester.rs`).
    pub(crate) requester: Who,
    pub(crate) upload_token: Option<String>,
    pub(crate) conversation: Option<&'a ConversationRef>,
    pub(crate) deadline: Option<&'a Deadline>,
    /// The conversation ticket's `updated_at` a comment is sent against
    /// (`safe_update`), and whether it is the stamp of an earlier attempt.
    pub(crate) stamp: Option<Stamp>,
    /// An internal note (not public, written by the API user) instead of
    /// the requester's public comment.
    pub(crate) note: Option<NoteKind>,
    /// A line for agents under the first message of a new ticket (a subject
    /// token that did not attach the message, see `token.rs`).
    pub(crate) mention: Option<String>,
    /// Tags a comment adds to its ticket (a cross-channel near-duplicate's).
    pub(crate) comment_tags: Vec<String>,
}

/// What an internal note is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteKind {
    /// An automatic message (`automatic.rs`): its body introduced as such.
    Automatic,
    /// A note whose body is the event's text as is (`omitted.rs`).
    Plain,
}

/// The `updated_stamp` of a comment.
#[derive(Debug, Clone)]
pub(crate) struct Stamp {
    pub(crate) value: String,
    /// Taken from the pending row: an earlier attempt may have sent it.
    pub(crate) resend: bool,
}

impl Draft<'_> {
    pub(crate) fn comment(&self, body: String) -> Comment {
        if let Some(kind) = self.note {
            let body = match kind {
                NoteKind::Automatic => crate::automatic::note_body(self.event, &body),
                NoteKind::Plain => body,
            };
            return Comment {
                body: Some(body),
                public: false,
                uploads: self.upload_token.iter().cloned().collect(),
                ..Comment::default()
            };
        }
        Comment {
            body: Some(body),
            public: true,
            author_id: self.requester.known(),
            uploads: self.upload_token.iter().cloned().collect(),
            ..Comment::default()
        }
    }

    /// The first comment of a new ticket: [`plan::first_comment`], then the
    /// mention, if any.
    pub(super) fn first_comment(&self) -> String {
        let first = plan::first_comment(self.event);
        match &self.mention {
            Some(mention) => format!("{first}\n\n---\n{mention}"),
            None => first,
        }
    }

    /// The new ticket's tags: the channel's, [`plan::UNVERIFIED_TAG`]
    /// when the requester claimed details the channel does not vouch for,
    /// and `intake_sla_<policy>` when it has a deadline.
    pub(super) fn tags(&self) -> Vec<String> {
        let mut extra = self.route.tags.clone();
        if plan::unverified_note(&self.event.contact).is_some() {
            extra.push(plan::UNVERIFIED_TAG.to_owned());
        }
        extra.extend(self.deadline.map(deadline::tag));
        plan::tags(&self.route.name, &extra)
    }

    /// The deadline in the configured custom field (none without either).
    pub(super) fn custom_fields(&self, field_id: Option<u64>) -> Vec<intake_zendesk::CustomField> {
        match (field_id, self.deadline) {
            (Some(id), Some(deadline)) => vec![deadline::field(id, deadline)],
            _ => Vec::new(),
        }
    }
}
