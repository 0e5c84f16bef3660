//! What the rulebook reads about agents and requesters, behind a small
//! trait: Zendesk's API in production ([`intake_zendesk::Client`]), a
//! fixed answer in unit tests. Reads only, never a change.

use async_trait::async_trait;
use intake_zendesk::{AgentAvailability, Client, Ticket, User};

use crate::RulebookError;

/// Reads about agents and requesters.
#[async_trait]
pub trait AgentDirectory: Send + Sync {
    /// The requester's tickets (newest updated first is not required).
    async fn requested_tickets(&self, requester_id: u64) -> Result<Vec<Ticket>, RulebookError>;
    /// The user, None when Zendesk no longer has them (deleted).
    async fn user(&self, user_id: u64) -> Result<Option<User>, RulebookError>;
    /// Ids of the groups the agent is a member of.
    async fn group_ids(&self, agent_id: u64) -> Result<Vec<u64>, RulebookError>;
    /// The agent's unified status, None when the account has none
    /// (no omnichannel routing: Zendesk answers 404).
    async fn availability(&self, agent_id: u64)
    -> Result<Option<AgentAvailability>, RulebookError>;
}

fn not_found_as_none<T>(
    result: Result<T, intake_zendesk::Error>,
) -> Result<Option<T>, RulebookError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if e.status() == Some(404) => Ok(None),
        Err(e) => Err(RulebookError::Zendesk(e)),
    }
}

#[async_trait]
impl AgentDirectory for Client {
    async fn requested_tickets(&self, requester_id: u64) -> Result<Vec<Ticket>, RulebookError> {
        Ok(
            not_found_as_none(Client::requested_tickets(self, requester_id).await)?
                .unwrap_or_default(),
        )
    }

    async fn user(&self, user_id: u64) -> Result<Option<User>, RulebookError> {
        not_found_as_none(self.show_user(user_id).await)
    }

    async fn group_ids(&self, agent_id: u64) -> Result<Vec<u64>, RulebookError> {
        let memberships = not_found_as_none(self.user_group_memberships(agent_id).await)?;
        Ok(memberships
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.group_id)
            .collect())
    }

    async fn availability(
        &self,
        agent_id: u64,
    ) -> Result<Option<AgentAvailability>, RulebookError> {
        not_found_as_none(self.agent_availability(agent_id).await)
    }
}
