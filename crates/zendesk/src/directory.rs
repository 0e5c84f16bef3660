//! Reads the rulebook needs about agents and requesters (issue 14): a user
//! by external id and a requester's tickets (one user by id, with
//! `suspended`, is `show_user` in `user_show.rs`). Reads only.

use crate::client::{Call, Client};
use crate::error::Error;
use crate::types::{Ticket, User};

/// Newest requested tickets read per requester (one page).
pub const REQUESTED_TICKETS_LIMIT: usize = 100;

impl Client {
    /// `GET /api/v2/users/search?external_id=..`: the user with that external id.
    pub async fn user_by_external_id(&self, external_id: &str) -> Result<Option<User>, Error> {
        let call = Call::get("search_users", "/api/v2/users/search".into())
            .query("external_id", external_id);
        let users: Vec<User> = self.list_up_to(call, "users", 1).await?;
        Ok(users.into_iter().next())
    }

    /// `GET /api/v2/users/{id}/tickets/requested`, newest updated first,
    /// at most [`REQUESTED_TICKETS_LIMIT`].
    pub async fn requested_tickets(&self, user_id: u64) -> Result<Vec<Ticket>, Error> {
        let call = Call::get(
            "requested_tickets",
            format!("/api/v2/users/{user_id}/tickets/requested"),
        )
        .query("sort_by", "updated_at")
        .query("sort_order", "desc")
        .query("per_page", REQUESTED_TICKETS_LIMIT.to_string());
        self.list_up_to(call, "tickets", REQUESTED_TICKETS_LIMIT)
            .await
    }
}
