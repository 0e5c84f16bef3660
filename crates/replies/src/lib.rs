#![forbid(unsafe_code)]
//! Agent replies (issue 16): an agent answers in Zendesk, the customer reads
//! it where they wrote.
//!
//! A Zendesk trigger posts each public comment to `POST /v1/zendesk/events`
//! (the body template is in docs/agent-replies.md). The route
//! ([`AgentReplies`], mounted on the data listener like a channel route):
//! 1. verifies the signature over the raw body before parsing it
//!    ([`signature`]); a wrong or stale one is 401, bad JSON 400, counted;
//! 2. keeps only public comments by agents that are not intake's own (intake
//!    writes its comments as the requester) on tickets the state store links
//!    to a conversation ([`payload`]);
//! 3. claims the comment id in the state store (first claim wins, so
//!    Zendesk's retries and redeliveries send nothing more), answers 200,
//!    and delivers through the channel's reply sender with the
//!    acknowledgements' retry policy ([`intake_ack::deliver`]). A reply that
//!    fails for good is recorded as failed and an internal note on the
//!    ticket says the customer did not receive it and why. Claimed replies
//!    still pending at a restart are resumed by [`AgentReplies::resume`]
//!    (at least once; the reply's `outcome_id` is derived from the comment
//!    id, so senders that pass it on as an idempotency key deliver once).

mod deliver;
pub mod native;
pub mod payload;
mod route;
pub mod signature;
pub mod telemetry;

use std::sync::Arc;
use std::time::Duration;

use intake_ack::deliver::RetryPolicy;
use intake_channel::ReplySenders;
use intake_store::StateStore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The route's path (reserved in the contract).
pub const ROUTE: &str = "/v1/zendesk/events";

/// The webhook's signing secret (never printed).
#[derive(Clone)]
pub struct SigningSecret(Vec<u8>);

impl SigningSecret {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self(secret.into())
    }

    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(<redacted>)")
    }
}

/// How the webhook is checked and its replies delivered.
#[derive(Debug, Clone)]
pub struct WebhookOptions {
    pub signing_secret: SigningSecret,
    /// A request whose signature timestamp is further than this from now is
    /// refused (a replayed request).
    pub replay_window: Duration,
    /// Retries of a reply send.
    pub retry: RetryPolicy,
    /// Agent replies to mail customers go out through intake (else
    /// Zendesk's own notifications carry them and intake skips them).
    pub send_mail: bool,
}

impl WebhookOptions {
    /// Defaults: a 5-minute replay window, backoff 1 s to 60 s, give up
    /// after an hour, mail left to Zendesk.
    pub fn new(signing_secret: SigningSecret) -> Self {
        Self {
            signing_secret,
            replay_window: Duration::from_secs(300),
            retry: RetryPolicy {
                initial_backoff: Duration::from_secs(1),
                max_backoff: Duration::from_secs(60),
                give_up_after: Duration::from_secs(3600),
            },
            send_mail: false,
        }
    }
}

/// The webhook route and the deliveries it starts.
pub struct AgentReplies {
    store: Arc<dyn StateStore>,
    senders: ReplySenders,
    /// For the internal note on a failed reply (none: the failure is only
    /// logged and counted).
    zendesk: Option<intake_zendesk::Client>,
    options: WebhookOptions,
    shutdown: CancellationToken,
    deliveries: TaskTracker,
    /// Where tickets Zendesk created go to the router (set when mounted).
    bus: std::sync::OnceLock<intake_channel::ChannelContext>,
}

impl AgentReplies {
    pub fn new(
        store: Arc<dyn StateStore>,
        senders: ReplySenders,
        zendesk: Option<intake_zendesk::Client>,
        options: WebhookOptions,
        shutdown: CancellationToken,
    ) -> Arc<Self> {
        telemetry::describe_metrics();
        Arc::new(Self {
            store,
            senders,
            zendesk,
            options,
            shutdown,
            deliveries: TaskTracker::new(),
            bus: std::sync::OnceLock::new(),
        })
    }

    /// Waits until every delivery started has ended (after `shutdown`, the
    /// unfinished ones stay pending for [`AgentReplies::resume`]).
    pub async fn close(&self) {
        self.deliveries.close();
        self.deliveries.wait().await;
    }
}
