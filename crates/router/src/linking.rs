//! One person across channels: linking contact keys (decision 52).
//!
//! A **verified** contact may carry a detail its channel vouches for besides
//! its key: a Telegram user's own contact card puts the phone on
//! `telegram:<id>` (decision 38), a Slack member's profile e-mail on
//! `slack:<team>:<user>`, a signed chat identity a phone on `email:<addr>`.
//! When that detail (`phone:<E.164>`, `email:<addr>`) already belongs to a
//! Zendesk user — a contact of that key was resolved to the user before
//! (the state store knows), or Zendesk finds exactly one user holding it —
//! the key is **linked** to that user:
//! 1. the user gains the detail as an identity (`phone_number`, `email`) and
//!    the key as a `foreign` identity (User Identities API), unless it holds
//!    them already, so agents see every channel the person used;
//! 2. the link is recorded in the state store (`contact_links`) and the
//!    contact cache points the key at the user, so every later message of
//!    the key has that requester.
//!
//! Never linked: an unverified contact (a typed e-mail or phone, decision
//! 21: such a contact is never even sent to Zendesk with those details),
//! and a detail Zendesk says belongs to another user when the identity is
//! added (`is_identity_taken`): users are never merged by intake. That
//! refusal is recorded (so later messages do not ask again), logged and
//! counted, and the key keeps a requester of its own.

use chrono::Utc;
use intake_store::{ContactLink, LinkOutcome};
use intake_zendesk::{IdentityType, User};

use crate::dlq::DlqReason;
use crate::process::{Failure, Processor};
use crate::requester::{Detail, Identity};
use crate::telemetry::{ContactLinkRefused, ContactLinked};

/// Search hits checked for a detail (more means the detail is no one's own).
const MAX_SEARCH_HITS: usize = 5;

/// Why a link was refused (the `reason` label of
/// `intake_contact_links_refused_total`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusedReason {
    /// The identity belongs to another Zendesk user.
    IdentityTaken,
    /// Zendesk refused the identity for another reason (an invalid value).
    IdentityRejected,
}

impl RefusedReason {
    pub const ALL: [RefusedReason; 2] = [
        RefusedReason::IdentityTaken,
        RefusedReason::IdentityRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RefusedReason::IdentityTaken => "identity_taken",
            RefusedReason::IdentityRejected => "identity_rejected",
        }
    }
}

impl Processor {
    /// The requester of a contact: linked first when its verified detail
    /// belongs to another contact's user, else resolved as usual; an unowned
    /// verified detail is then remembered as this user's, so a later
    /// contact with the same detail links to it.
    pub(crate) async fn resolve_requester(
        &self,
        channel: &str,
        identity: &Identity,
    ) -> Result<u64, Failure> {
        if let Some(user_id) = self.link(channel, identity).await? {
            return Ok(user_id);
        }
        let user_id = self.requester(identity).await?;
        if let Some(detail) = &identity.detail
            && self.store.contact_user(&detail.key).await?.is_none()
        {
            self.store.set_contact_user(&detail.key, user_id).await?;
        }
        Ok(user_id)
    }

    /// Links the contact's key to the user its verified detail belongs to
    /// (see the module doc). None: no link made now (none needed, no owner,
    /// decided before, or refused); the contact cache then says who it is.
    async fn link(&self, channel: &str, identity: &Identity) -> Result<Option<u64>, Failure> {
        let key = identity.cache_key.as_str();
        let Some(detail) = identity.detail.as_ref().filter(|_| identity.verified) else {
            return Ok(None);
        };
        if key.is_empty() || self.store.contact_link(key).await?.is_some() {
            return Ok(None);
        }
        let Some(owner) = self.detail_owner(detail).await? else {
            return Ok(None);
        };
        if self.store.contact_user(key).await? == Some(owner) {
            return Ok(None);
        }
        let refused = match self.add_identities(owner, key, detail).await {
            Ok(()) => None,
            Err(e) if e.is_identity_taken() => Some(RefusedReason::IdentityTaken),
            Err(e) if e.is_retryable() || e.is_user_gone() => {
                return Err(Failure::zendesk(
                    "create_user_identity",
                    DlqReason::RequesterRejected,
                    e,
                ));
            }
            Err(_) => Some(RefusedReason::IdentityRejected),
        };
        let decided = self
            .store
            .record_contact_link(&ContactLink {
                contact_key: key.to_owned(),
                detail_key: detail.key.clone(),
                user_id: owner,
                outcome: if refused.is_some() {
                    LinkOutcome::Refused
                } else {
                    LinkOutcome::Linked
                },
                reason: refused.map(|r| r.as_str().to_owned()),
                created_at: Utc::now(),
            })
            .await?;
        if let Some(reason) = refused {
            ContactLinkRefused {
                channel,
                detail: detail.kind.as_str(),
                user_id: owner,
                reason,
            }
            .emit();
        }
        if decided.outcome != LinkOutcome::Linked {
            return Ok(None);
        }
        self.store.set_contact_user(key, decided.user_id).await?;
        if refused.is_none() {
            ContactLinked {
                channel,
                detail: detail.kind.as_str(),
                user_id: decided.user_id,
            }
            .emit();
        }
        Ok(Some(decided.user_id))
    }

    /// The Zendesk user a verified detail belongs to: the user a contact of
    /// that key was resolved to, else the single active user Zendesk's user
    /// search finds holding it (none, or several: no owner).
    async fn detail_owner(&self, detail: &Detail) -> Result<Option<u64>, Failure> {
        if let Some(user_id) = self.store.contact_user(&detail.key).await? {
            return Ok(Some(user_id));
        }
        let query = format!("{}:{}", search_field(detail.kind), detail.value);
        let users = self
            .zendesk
            .search_users(&query)
            .await
            .map_err(|e| Failure::zendesk("search_users", DlqReason::RequesterRejected, e))?;
        let mut holders = Vec::new();
        for user in users.iter().take(MAX_SEARCH_HITS) {
            if holds(user, detail) || self.holds_identity(user.id, detail).await? {
                holders.push(user.id);
            }
        }
        Ok(match holders.as_slice() {
            [one] => Some(*one),
            _ => None,
        })
    }

    /// Whether the user holds the detail as an identity (not only on its profile).
    async fn holds_identity(&self, user_id: u64, detail: &Detail) -> Result<bool, Failure> {
        match self.zendesk.user_identities(user_id).await {
            Ok(held) => Ok(held.iter().any(|i| i.is(detail.kind, &detail.value))),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(Failure::zendesk(
                "list_user_identities",
                DlqReason::RequesterRejected,
                e,
            )),
        }
    }

    /// Adds the detail and the contact key to the user's identities, each
    /// unless the user holds it already.
    async fn add_identities(
        &self,
        user_id: u64,
        key: &str,
        detail: &Detail,
    ) -> Result<(), intake_zendesk::Error> {
        let held = self.zendesk.user_identities(user_id).await?;
        let wanted = [
            (detail.kind, detail.value.as_str()),
            (IdentityType::Foreign, key),
        ];
        for (kind, value) in wanted {
            if !held.iter().any(|i| i.is(kind, value)) {
                self.zendesk.add_user_identity(user_id, kind, value).await?;
            }
        }
        Ok(())
    }
}

/// The user search field of a detail kind.
fn search_field(kind: IdentityType) -> &'static str {
    match kind {
        IdentityType::Email => "email",
        IdentityType::PhoneNumber => "phone",
        IdentityType::Foreign => "external_id",
    }
}

/// Whether a search hit really holds the detail (search also matches names
/// and partial values).
fn holds(user: &User, detail: &Detail) -> bool {
    match detail.kind {
        IdentityType::Email => user
            .email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&detail.value)),
        IdentityType::PhoneNumber => user.phone.as_deref() == Some(detail.value.as_str()),
        IdentityType::Foreign => user.external_id.as_deref() == Some(detail.value.as_str()),
    }
}
