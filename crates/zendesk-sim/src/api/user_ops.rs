//! Deleting and merging users, applied to [`Data`] under its lock.
//!
//! What Zendesk documents (Users reference, "Delete User" and "Merge End
//! Users"; Help Center "Deleting end users" and "Merging a user's duplicate
//! account") and the simulator imitates:
//! - a deleted user is soft-deleted: `active: false`; it no longer matches
//!   by e-mail or external id, so the next `create_or_update` with its
//!   e-mail makes a **new** user; it cannot be a requester any more;
//! - an end user who requests a ticket that is not closed cannot be deleted;
//! - a merge moves the merging user's requested tickets and e-mail identities
//!   to the receiving user; everything else of the merging user is lost (its
//!   external id too) and it ends deleted; agents and admins cannot be merged.
//!
//! The error statuses and texts of refused deletes and merges are the
//! simulator's own (*unconfirmed*), kept here in one place.

use chrono::{DateTime, Utc};
use serde_json::json;

use crate::error::ApiError;
use crate::model::Audit;
use crate::state::Data;

/// Why a user cannot be deleted: it requests tickets that are not closed.
fn has_open_requests(count: usize) -> ApiError {
    ApiError::invalid(
        "base",
        format!("User is the requester of {count} ticket(s) that are not closed"),
    )
}

/// Soft-deletes user `id` (see the module doc); `owner` is the account
/// owner, who cannot be deleted.
pub fn delete(
    data: &mut Data,
    id: u64,
    owner: u64,
    lag: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let user = data.active_user(id).ok_or(ApiError::NotFound)?;
    if id == owner {
        return Err(ApiError::Forbidden);
    }
    if !user.is_agent() {
        let open = data
            .tickets
            .values()
            .filter(|t| t.requester_id == id && t.status != "closed")
            .count();
        if open > 0 {
            return Err(has_open_requests(open));
        }
    }
    let before = data.users.get(&id).cloned();
    data.remember_user(before, lag);
    if let Some(user) = data.users.get_mut(&id) {
        user.active = false;
        user.updated_at = now;
    }
    Ok(())
}

/// Merges end user `source` into end user `target` (see the module doc);
/// `author` is the agent making the change (recorded on the ticket audits).
pub fn merge(
    data: &mut Data,
    source: u64,
    target: u64,
    author: u64,
    lag: std::time::Duration,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    let from = data.active_user(source).ok_or(ApiError::NotFound)?;
    let into = data.active_user(target).ok_or(ApiError::NotFound)?;
    if from.is_agent() || into.is_agent() {
        return Err(ApiError::invalid(
            "base",
            "Agents and admins cannot be merged",
        ));
    }
    if source == target {
        return Err(ApiError::invalid(
            "base",
            "A user cannot be merged into itself",
        ));
    }
    let moved_emails: Vec<String> = from
        .email
        .iter()
        .chain(&from.extra_emails)
        .cloned()
        .collect();
    move_requests(data, source, target, author, lag, now);
    for id in [source, target] {
        let before = data.users.get(&id).cloned();
        data.remember_user(before, lag);
    }
    if let Some(from) = data.users.get_mut(&source) {
        from.active = false;
        from.email = None;
        from.extra_emails.clear();
        from.external_id = None;
        from.phone = None;
        from.updated_at = now;
    }
    if let Some(into) = data.users.get_mut(&target) {
        for email in moved_emails {
            if into.has_email(&email) {
                continue;
            }
            if into.email.is_none() {
                into.email = Some(email);
            } else {
                into.extra_emails.push(email);
            }
        }
        into.updated_at = now;
    }
    Ok(())
}

/// Every ticket `source` requests now has `target` as requester, with an
/// audit recording the change (as Zendesk's event log shows it).
fn move_requests(
    data: &mut Data,
    source: u64,
    target: u64,
    author: u64,
    lag: std::time::Duration,
    now: DateTime<Utc>,
) {
    let ids: Vec<u64> = data
        .tickets
        .values()
        .filter(|t| t.requester_id == source)
        .map(|t| t.id)
        .collect();
    for ticket_id in ids {
        let before = data.tickets.get(&ticket_id).cloned();
        data.remember_ticket(before, lag);
        let audit_id = data.next_id();
        let event_id = data.next_id();
        let Some(ticket) = data.tickets.get_mut(&ticket_id) else {
            continue;
        };
        ticket.requester_id = target;
        ticket.updated_at = now;
        ticket.audits.push(Audit {
            id: audit_id,
            author_id: author,
            created_at: now,
            custom_metadata: serde_json::Map::new(),
            comment_id: None,
            events: vec![json!({
                "id": event_id,
                "type": "Change",
                "field_name": "requester_id",
                "value": target.to_string(),
                "previous_value": source.to_string(),
            })],
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SimConfig;
    use std::time::Duration;

    fn account() -> (Data, u64, DateTime<Utc>) {
        let now = Utc::now();
        let data = Data::seeded(&SimConfig::default(), now);
        let owner = data.user_by_email("agent@intake-sim.test").unwrap().id;
        (data, owner, now)
    }

    #[test]
    fn a_deleted_user_no_longer_matches_and_the_owner_stays() {
        let (mut data, owner, now) = account();
        let id = data.add_user(
            "Ann",
            Some("ann@x.test".into()),
            Some("chat:a".into()),
            "end-user",
            now,
        );
        delete(&mut data, id, owner, Duration::ZERO, now).unwrap();
        assert!(data.user_by_email("ann@x.test").is_none());
        assert!(data.user_by_external_id("chat:a").is_none());
        assert!(data.active_user(id).is_none());
        assert!(!data.users[&id].active, "soft-deleted, still stored");
        assert_eq!(
            delete(&mut data, id, owner, Duration::ZERO, now),
            Err(ApiError::NotFound)
        );
        assert_eq!(
            delete(&mut data, owner, owner, Duration::ZERO, now),
            Err(ApiError::Forbidden)
        );
    }

    #[test]
    fn a_merge_moves_emails_and_leaves_the_external_id_behind() {
        let (mut data, owner, now) = account();
        let from = data.add_user(
            "Old",
            Some("old@x.test".into()),
            Some("chat:o".into()),
            "end-user",
            now,
        );
        let into = data.add_user("New", Some("new@x.test".into()), None, "end-user", now);
        merge(&mut data, from, into, owner, Duration::ZERO, now).unwrap();
        assert_eq!(data.user_by_email("old@x.test").unwrap().id, into);
        assert_eq!(data.user_by_email("new@x.test").unwrap().id, into);
        assert!(data.user_by_external_id("chat:o").is_none());
        assert!(data.active_user(from).is_none());
        assert_eq!(
            merge(&mut data, into, owner, owner, Duration::ZERO, now),
            Err(ApiError::invalid(
                "base",
                "Agents and admins cannot be merged"
            ))
        );
    }
}
