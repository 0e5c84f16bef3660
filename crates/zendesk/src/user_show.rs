//! `GET /api/v2/users/{id}`: one user, for telling an agent's comment from a
//! customer's (the SLA watch reads the author's `role`).

use serde::Deserialize;

use crate::client::{Call, Client};
use crate::error::Error;
use crate::types::User;

#[derive(Deserialize)]
struct UserEnvelope {
    user: User,
}

impl Client {
    /// `GET /api/v2/users/{id}`. A read, so every retryable failure is
    /// retried; an unknown or deleted user is a not-found error.
    pub async fn show_user(&self, user_id: u64) -> Result<User, Error> {
        let call = Call::get("show_user", format!("/api/v2/users/{user_id}"));
        let envelope: UserEnvelope = self.execute(call).await?.json()?;
        Ok(envelope.user)
    }
}
