//! Has an agent answered publicly? A public comment counts when its author
//! is not the requester, is an agent or admin (Zendesk's `role`), and the
//! comment is not one intake posted for a customer (those carry the event
//! id in their custom metadata and the customer as author; a second person
//! in a group chat is an end user and does not count either).

use std::collections::HashMap;

use intake_zendesk::{Client, Error, Ticket};

/// The custom metadata key the router puts on every comment it posts.
const INTAKE_EVENT_METADATA_KEY: &str = "intake_event_id";
/// Comments read per check (the newest first, where an answer would be).
const COMMENTS_PER_CHECK: usize = 100;
/// Authors remembered; past it the memory starts afresh.
const MAX_REMEMBERED_AUTHORS: usize = 10_000;

/// Which authors are agents, as Zendesk said (a role rarely changes).
#[derive(Debug, Default)]
pub struct AuthorRoles {
    agents: HashMap<u64, bool>,
}

impl AuthorRoles {
    async fn is_agent(&mut self, client: &Client, user_id: u64) -> Result<bool, Error> {
        if let Some(known) = self.agents.get(&user_id) {
            return Ok(*known);
        }
        let agent = match client.show_user(user_id).await {
            Ok(user) => matches!(user.role.as_deref(), Some("agent" | "admin")),
            // A deleted author answered nobody we can count on.
            Err(error) if error.is_not_found() => false,
            Err(error) => return Err(error),
        };
        if self.agents.len() >= MAX_REMEMBERED_AUTHORS {
            self.agents.clear();
        }
        self.agents.insert(user_id, agent);
        Ok(agent)
    }
}

/// True when an agent has answered `ticket` publicly.
pub async fn agent_answered(
    client: &Client,
    ticket: &Ticket,
    roles: &mut AuthorRoles,
) -> Result<bool, Error> {
    let comments = client
        .list_comments(ticket.id, true, COMMENTS_PER_CHECK)
        .await?;
    for comment in comments {
        let Some(author) = comment.author_id else {
            continue;
        };
        let by_intake = comment.custom_metadata(INTAKE_EVENT_METADATA_KEY).is_some();
        if !comment.public || by_intake || Some(author) == ticket.requester_id {
            continue;
        }
        if roles.is_agent(client, author).await? {
            return Ok(true);
        }
    }
    Ok(false)
}
