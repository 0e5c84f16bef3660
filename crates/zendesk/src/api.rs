//! The calls of the Zendesk API the gateway uses.

use bytes::Bytes;
use reqwest::Method;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::time::Instant;

use crate::client::{Body, Call, Client};
use crate::endpoint_limits::{Endpoint, Limited};
use crate::error::Error;
use crate::headers;
use crate::retry::RetryPolicy;
use crate::types::{
    AgentAvailability, CreatedTicket, Group, GroupMembership, NewTicket, Ticket, TicketComment,
    TicketUpdate, Upload, User, UserInput,
};

/// How long Zendesk keeps an `Idempotency-Key` (2 hours): a repeat of a
/// keyed ticket creation within it returns the first ticket; after it the
/// same key creates a new one.
pub const IDEMPOTENCY_KEY_LIFE: std::time::Duration = std::time::Duration::from_secs(2 * 60 * 60);

/// Ids per `show_many` request (Zendesk's maximum).
pub const SHOW_MANY_MAX_IDS: usize = 100;
/// Pages followed by a list call before it stops (100 items each).
pub const MAX_PAGES: usize = 10;
/// Items per page Zendesk's offset pagination allows.
const PER_PAGE_MAX: usize = 100;

#[derive(Deserialize)]
struct TicketEnvelope {
    ticket: Ticket,
}

#[derive(Deserialize)]
struct UserEnvelope {
    user: User,
}

#[derive(Deserialize)]
struct UploadEnvelope {
    upload: Upload,
}

#[derive(serde::Serialize)]
struct TicketBody<'a, T> {
    ticket: &'a T,
}

#[derive(serde::Serialize)]
struct UserBody<'a> {
    user: &'a UserInput,
}

impl Client {
    /// `POST /api/v2/tickets`, with an `Idempotency-Key` header when given.
    ///
    /// With a key every retryable failure is retried (Zendesk answers a
    /// repeat from its idempotency store). Without one only failures that
    /// prove nothing was created (429, a connection that never opened) are,
    /// so a retry can never make a second ticket.
    pub async fn create_ticket(
        &self,
        ticket: &NewTicket,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedTicket, Error> {
        let mut call = Call::json(
            "create_ticket",
            Method::POST,
            "/api/v2/tickets".into(),
            &TicketBody { ticket },
        )?;
        match idempotency_key {
            Some(key) if !key.trim().is_empty() => call.idempotency_key = Some(key.to_owned()),
            Some(_) => return Err(Error::InvalidInput("empty idempotency key".into())),
            None => call.policy = RetryPolicy::OnlyUnprocessed,
        }
        let answer = self.execute(call).await?;
        let envelope: TicketEnvelope = answer.json()?;
        Ok(CreatedTicket {
            ticket: envelope.ticket,
            idempotency_hit: headers::idempotency_hit(&answer.headers),
        })
    }

    /// `PUT /api/v2/tickets/{id}`: comment, status, tags, ... Updates of one
    /// ticket run one at a time and within Zendesk's 30 per 10 minutes.
    ///
    /// Comments are not idempotent in Zendesk: an update that carries one is
    /// repeated only when the failure proves it was not processed (a 429, a
    /// connection that never opened), never after a timeout or a 5xx.
    pub async fn update_ticket(&self, id: u64, update: &TicketUpdate) -> Result<Ticket, Error> {
        let mut call = Call::json(
            "update_ticket",
            Method::PUT,
            format!("/api/v2/tickets/{id}"),
            &TicketBody { ticket: update },
        )?;
        call.ticket = Some(id);
        call.limited = Some(Limited {
            endpoint: Endpoint::UpdateTicket,
            user: None,
        });
        if update.comment.is_some() {
            call.policy = RetryPolicy::OnlyUnprocessed;
        }
        if update.safe_update == Some(true) {
            call.policy = RetryPolicy::SafeUpdate;
        }
        let envelope: TicketEnvelope = self.execute(call).await?.json()?;
        Ok(envelope.ticket)
    }

    /// `GET /api/v2/tickets/{id}`.
    pub async fn show_ticket(&self, id: u64) -> Result<Ticket, Error> {
        let call = Call::get("show_ticket", format!("/api/v2/tickets/{id}"));
        let envelope: TicketEnvelope = self.execute(call).await?.json()?;
        Ok(envelope.ticket)
    }

    /// `GET /api/v2/tickets/show_many?ids=..`, 100 ids per request; unknown ids are left out.
    pub async fn show_many(&self, ids: &[u64]) -> Result<Vec<Ticket>, Error> {
        let mut tickets = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(SHOW_MANY_MAX_IDS) {
            let list = chunk
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(",");
            let call =
                Call::get("show_many", "/api/v2/tickets/show_many".into()).query("ids", list);
            tickets.extend(self.list::<Ticket>(call, "tickets").await?);
        }
        Ok(tickets)
    }

    /// `GET /api/v2/tickets/{id}/comments`: up to `limit` comments (at most
    /// [`MAX_PAGES`] pages of 100), newest first or oldest first. A read, so
    /// every retryable failure is retried; an unknown ticket is a not-found error.
    pub async fn list_comments(
        &self,
        ticket_id: u64,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<TicketComment>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let order = if newest_first { "desc" } else { "asc" };
        let call = Call::get(
            "list_comments",
            format!("/api/v2/tickets/{ticket_id}/comments"),
        )
        .query("sort_order", order)
        .query("per_page", limit.min(PER_PAGE_MAX).to_string());
        self.list_up_to(call, "comments", limit).await
    }

    /// `GET /api/v2/tickets?external_id=..`: every ticket with that external id.
    pub async fn tickets_by_external_id(&self, external_id: &str) -> Result<Vec<Ticket>, Error> {
        if external_id.is_empty() {
            return Err(Error::InvalidInput("empty external_id".into()));
        }
        let call = Call::get("tickets_by_external_id", "/api/v2/tickets".into())
            .query("external_id", external_id);
        self.list(call, "tickets").await
    }

    /// `POST /api/v2/users/create_or_update`, matched by e-mail or external
    /// id. Results are cached by lower-cased e-mail and external id, so a
    /// busy customer costs one call per hour.
    pub async fn create_or_update_user(&self, user: &UserInput) -> Result<User, Error> {
        let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !has(&user.email) && !has(&user.external_id) {
            return Err(Error::InvalidInput(
                "create_or_update_user needs an email or an external_id to match on".into(),
            ));
        }
        if let Some(cached) = self.cached_user(user) {
            return Ok(cached);
        }
        let mut call = Call::json(
            "create_or_update_user",
            Method::POST,
            "/api/v2/users/create_or_update".into(),
            &UserBody { user },
        )?;
        // Zendesk counts per end-user profile: the one the e-mail or
        // external id matches.
        let profile = user
            .email
            .as_deref()
            .or(user.external_id.as_deref())
            .map(|key| key.trim().to_lowercase());
        call.limited = Some(Limited {
            endpoint: Endpoint::UserCreate,
            user: profile,
        });
        let envelope: UserEnvelope = self.execute(call).await?.json()?;
        self.users().insert(user, &envelope.user, Instant::now());
        Ok(envelope.user)
    }

    /// Forgets user `id` in the client's cache (Zendesk said it is gone or
    /// merged), so the next `create_or_update_user` for its e-mail or
    /// external id asks Zendesk again.
    pub fn forget_user(&self, id: u64) {
        self.users().forget(id);
    }

    fn cached_user(&self, user: &UserInput) -> Option<User> {
        self.users().get(user, Instant::now())
    }

    /// The user cache; a poisoned lock is taken over (the cache holds no invariants across calls).
    fn users(&self) -> std::sync::MutexGuard<'_, crate::user_cache::UserCache> {
        self.inner.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `GET /api/v2/users/search?query=..`. Fresh users take a while to be searchable.
    pub async fn search_users(&self, query: &str) -> Result<Vec<User>, Error> {
        let call = Call::get("search_users", "/api/v2/users/search".into()).query("query", query);
        self.list(call, "users").await
    }

    /// `POST /api/v2/uploads?filename=..[&token=..]` with the raw bytes.
    /// Passing the token of an earlier upload groups the files.
    pub async fn upload(
        &self,
        filename: &str,
        content_type: &str,
        bytes: Vec<u8>,
        token: Option<&str>,
    ) -> Result<Upload, Error> {
        if filename.trim().is_empty() {
            return Err(Error::InvalidInput("empty upload filename".into()));
        }
        let mut call = Call::get("upload", "/api/v2/uploads".into()).query("filename", filename);
        call.method = Method::POST;
        call.body = Body::Raw {
            bytes: Bytes::from(bytes),
            content_type: if content_type.trim().is_empty() {
                "application/octet-stream".to_owned()
            } else {
                content_type.to_owned()
            },
        };
        if let Some(token) = token {
            call = call.query("token", token);
            // A repeat would attach the file twice to the group.
            call.policy = RetryPolicy::OnlyUnprocessed;
        }
        let envelope: UploadEnvelope = self.execute(call).await?.json()?;
        Ok(envelope.upload)
    }

    /// `GET /api/v2/groups`.
    pub async fn groups(&self) -> Result<Vec<Group>, Error> {
        self.list(Call::get("groups", "/api/v2/groups".into()), "groups")
            .await
    }

    /// `GET /api/v2/users/{id}/group_memberships`.
    pub async fn user_group_memberships(
        &self,
        user_id: u64,
    ) -> Result<Vec<GroupMembership>, Error> {
        let call = Call::get(
            "user_group_memberships",
            format!("/api/v2/users/{user_id}/group_memberships"),
        );
        self.list(call, "group_memberships").await
    }

    /// `GET /api/v2/agent_availabilities/{id}` (omnichannel routing accounts).
    pub async fn agent_availability(&self, agent_id: u64) -> Result<AgentAvailability, Error> {
        let call = Call::get(
            "agent_availability",
            format!("/api/v2/agent_availabilities/{agent_id}"),
        );
        let answer = self.execute(call).await?;
        let value: Value = answer.json()?;
        availability_from_json(&value, agent_id).ok_or_else(|| {
            answer.decode_error(
                "agent_availability",
                "no agent_status name in the answer".into(),
            )
        })
    }

    /// Fetches a list, following `next_page` (offset) or `links.next` (cursor)
    /// for at most [`MAX_PAGES`] pages, always against the configured base URL.
    pub(crate) async fn list<T: DeserializeOwned>(
        &self,
        first: Call,
        key: &str,
    ) -> Result<Vec<T>, Error> {
        self.list_up_to(first, key, usize::MAX).await
    }

    /// [`Client::list`] that stops once it holds `limit` items.
    pub(crate) async fn list_up_to<T: DeserializeOwned>(
        &self,
        first: Call,
        key: &str,
        limit: usize,
    ) -> Result<Vec<T>, Error> {
        let endpoint = first.endpoint;
        let mut items = Vec::new();
        let mut call = first;
        for _ in 0..MAX_PAGES {
            let answer = self.execute(call).await?;
            let mut page: Value = answer.json()?;
            let list = page.get_mut(key).map(Value::take).unwrap_or(Value::Null);
            let batch: Vec<T> = match list {
                Value::Null => Vec::new(),
                list => serde_json::from_value(list).map_err(|e| {
                    answer.decode_error(endpoint, format!("{key}: {:?} error", e.classify()))
                })?,
            };
            items.extend(batch);
            if items.len() >= limit {
                items.truncate(limit);
                return Ok(items);
            }
            let Some(next) = next_page(&page) else {
                return Ok(items);
            };
            call = Call::get(endpoint, next.path().to_owned());
            call.query = next.query_pairs().into_owned().collect();
        }
        Ok(items)
    }
}

/// The next page's URL, if the answer says there is one under `/api/v2/`.
fn next_page(page: &Value) -> Option<url::Url> {
    let has_more = page
        .pointer("/meta/has_more")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    let link = page.get("next_page").and_then(Value::as_str).or_else(|| {
        page.pointer("/links/next")
            .and_then(Value::as_str)
            .filter(|_| has_more)
    })?;
    let url = url::Url::parse(link).ok()?;
    url.path().starts_with("/api/v2/").then_some(url)
}

/// Reads an availability in Zendesk's JSON:API form
/// (`data.attributes.agent_status.name`) or a flat `agent_availability` object.
fn availability_from_json(value: &Value, agent_id: u64) -> Option<AgentAvailability> {
    let attributes = value
        .pointer("/data/attributes")
        .or_else(|| value.get("agent_availability"))
        .unwrap_or(value);
    let status = attributes
        .pointer("/agent_status/name")
        .or_else(|| attributes.get("status"))
        .and_then(Value::as_str)?;
    let id = attributes
        .get("agent_id")
        .and_then(Value::as_u64)
        .unwrap_or(agent_id);
    let updated_at = attributes
        .pointer("/agent_status/updated_at")
        .and_then(Value::as_str)
        .and_then(|text| chrono::DateTime::parse_from_rfc3339(text).ok())
        .map(|at| at.with_timezone(&chrono::Utc));
    Some(AgentAvailability {
        agent_id: id,
        status: status.to_owned(),
        updated_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn availability_in_both_shapes() {
        let jsonapi = json!({"data": {"id": "5", "type": "agent_availabilities",
            "attributes": {"agent_id": 5, "agent_status": {"id": 2, "name": "away"}}}});
        assert_eq!(
            availability_from_json(&jsonapi, 5),
            Some(AgentAvailability {
                agent_id: 5,
                status: "away".into(),
                updated_at: None,
            })
        );
        let stamped = json!({"data": {"attributes": {"agent_id": 5, "agent_status":
            {"name": "Lunch", "updated_at": "2026-12-02T09:00:00Z"}}}});
        let lunch = availability_from_json(&stamped, 5).unwrap();
        assert_eq!(lunch.status, "Lunch");
        assert_eq!(
            lunch.updated_at.unwrap().to_rfc3339(),
            "2026-12-02T09:00:00+00:00"
        );
        let flat = json!({"agent_availability": {"agent_id": 6, "status": "online"}});
        assert_eq!(availability_from_json(&flat, 6).unwrap().status, "online");
        assert_eq!(availability_from_json(&json!({"data": {}}), 1), None);
    }

    #[test]
    fn next_page_only_for_api_paths() {
        let page = json!({"next_page": "https://acme.zendesk.com/api/v2/groups?page=2"});
        let next = next_page(&page).unwrap();
        assert_eq!(next.path(), "/api/v2/groups");
        assert_eq!(next.query(), Some("page=2"));
        assert!(next_page(&json!({"next_page": null})).is_none());
        assert!(next_page(&json!({"next_page": "https://evil.test/other"})).is_none());
        let cursor = json!({"meta": {"has_more": false}, "links": {"next": "https://a.zendesk.com/api/v2/groups?page[after]=x"}});
        assert!(next_page(&cursor).is_none());
        let cursor = json!({"meta": {"has_more": true}, "links": {"next": "https://a.zendesk.com/api/v2/groups?page[after]=x"}});
        assert!(next_page(&cursor).is_some());
    }
}
