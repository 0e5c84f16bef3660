//! The rulebook's hook in the create path (issue 14): before a new ticket
//! or follow-up is created the rulebook names its assignee, group and
//! extra tags (a department's ticket is recorded as `routed`, and its
//! outcome is `routed_to_department`); once it is recorded, the
//! department hears of it in Slack and the internal note is added as a
//! private comment. Both are best effort: a ticket whose note or notice
//! failed (or a crash before them) keeps its group, tags and assignee, and
//! the failure is logged and counted (`intake_rulebook_notes_total`,
//! `intake_rulebook_department_notices_total`).

use intake_rulebook::{Decision, Request, events::NoteWritten};
use intake_zendesk::{Comment, TicketUpdate};

use crate::process::{Draft, Processor};

impl Processor {
    /// The rulebook's decision for the ticket `draft` creates (nothing
    /// without a rulebook).
    pub(crate) async fn rulebook_decision(&self, draft: &Draft<'_>) -> Decision {
        let Some(rulebook) = &self.rulebook else {
            return Decision::default();
        };
        let request = Request {
            event: draft.event,
            requester_id: draft.requester.known(),
            channel_group_id: draft.route.group_id,
            deadline: draft.deadline.map(|d| d.due_at),
        };
        rulebook.decide(&request).await
    }

    /// After the ticket is recorded: the department's Slack notice, then
    /// the note (saying whether the notice went out).
    pub(crate) async fn after_create(&self, draft: &Draft<'_>, ticket_id: u64, rules: &Decision) {
        let (Some(rulebook), Some(note)) = (&self.rulebook, &rules.note) else {
            return;
        };
        let mut note = note.clone();
        if let Some(hit) = &rules.department
            && let Some(target) = &hit.rule.slack
        {
            match rulebook
                .notify_department(hit, draft.event, ticket_id)
                .await
            {
                Ok(()) => note.push_str(&format!(
                    " The department was told in Slack ({}).",
                    target.kind()
                )),
                Err(error) => note.push_str(&format!(
                    " The Slack notice to the department failed: {error}."
                )),
            }
        }
        self.add_rulebook_note(draft, ticket_id, &note).await;
    }

    /// Adds the rulebook's note to a created ticket (best effort).
    async fn add_rulebook_note(&self, draft: &Draft<'_>, ticket_id: u64, note: &str) {
        let update = TicketUpdate {
            comment: Some(Comment {
                body: Some(note.to_owned()),
                public: false,
                ..Comment::default()
            }),
            ..TicketUpdate::default()
        };
        let result = self.zendesk.update_ticket(ticket_id, &update).await;
        let error = result.err().map(|e| e.log_summary().to_string());
        NoteWritten {
            channel: &draft.route.name,
            event_id: &draft.event.event_id.to_string(),
            ticket_id,
            error: error.as_deref(),
        }
        .emit();
    }
}

/// The ticket's tags with the rulebook's added (no duplicates).
pub(crate) fn with_rule_tags(mut tags: Vec<String>, decision: &Decision) -> Vec<String> {
    for tag in &decision.tags {
        if !tags.contains(tag) {
            tags.push(tag.clone());
        }
    }
    tags
}
