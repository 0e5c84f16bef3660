#![forbid(unsafe_code)]
//! Zendesk Support API client for the intake gateway.
//!
//! Typed calls for tickets, users, uploads, groups and agent availability;
//! pacing under the account's rate limit shared by all clones of a
//! [`Client`]; retries of retryable failures honouring `Retry-After`; the
//! per-ticket update limit; a cache of user look-ups. Secrets never appear in
//! logs, errors or `Debug` output.

mod api;
mod audits;
mod caller;
mod client;
mod directory;
pub mod endpoint_limits;
mod error;
mod events;
mod headers;
mod identities;
mod options;
pub mod pacer;
mod retry;
pub mod ticket_limit;
mod types;
mod user_cache;
mod user_show;
mod webhooks;

pub use api::{IDEMPOTENCY_KEY_LIFE, MAX_PAGES, SHOW_MANY_MAX_IDS};
pub use caller::{for_channel, with_ticket_wait_limit};
pub use client::Client;
pub use directory::REQUESTED_TICKETS_LIMIT;
pub use endpoint_limits::{EndpointLimitOptions, Turn, with_turn};
pub use error::{ApiErrorBody, Error, LogSummary, MAX_LOGGED_DESCRIPTION_CHARS};
pub use events::{
    CALLS_TOTAL, RATE_BUDGET_REMAINING, RATE_LIMIT_WAIT_SECONDS_TOTAL, RETRIES_TOTAL,
};
pub use headers::RateLimitInfo;
pub use identities::{IdentityType, UserIdentity};
pub use options::{
    Auth, ClientOptions, default_max_attempts, default_request_timeout, default_requests_per_minute,
};
pub use retry::{BACKOFF_BASE, BACKOFF_CAP};
pub use types::{
    AgentAvailability, Comment, CreatedTicket, CustomField, Group, GroupMembership, NewTicket,
    Priority, Requester, Status, Ticket, TicketAudit, TicketComment, TicketType, TicketUpdate,
    Upload, User, UserInput, Via,
};
pub use user_cache::{USER_CACHE_CAPACITY, USER_CACHE_TTL};
pub use webhooks::{Trigger, Webhook};
