//! Who the requester of an event is in Zendesk, and when to ask again.
//!
//! # Verified and unverified contacts
//! A **verified** contact (the channel vouches for its e-mail or phone) is
//! resolved as always: `create_or_update` by e-mail, else by `external_id` =
//! contact key, so chat and mail from one person meet in one Zendesk user.
//!
//! An **unverified** contact (a visitor typed the address) is resolved by
//! `external_id` only and its e-mail and phone are never sent to Zendesk:
//! `create_or_update` matches by e-mail, so sending a typed address would
//! put the message into the history of whoever owns it. The external id is
//! the contact key when the channel derived it from its own user id
//! (`chat:<visitor id>`); a key derived from a claimed identity (`email:…`,
//! from an event written before contacts carried `verified`) is replaced by
//! `<channel>:<channel user id>`, or `unverified:<key>` without one, so it
//! can never meet the verified user of that address. The claimed address is
//! shown to agents on the ticket instead (`plan::unverified_note`).
//!
//! # Inline on the ticket create
//! A **new** verified contact known by its e-mail alone (no phone, locale or
//! linkable detail to set, nothing cached for its key) costs no separate
//! `create_or_update`: its ticket create carries `requester: {name, email}`.
//! Zendesk documents that it uses the existing user with that e-mail and
//! updates nothing on it, or creates the user (name and e-mail required);
//! the create's answer names the `requester_id`, which is cached as a
//! `create_or_update` answer is (decision 57). Never inline: an unverified
//! contact (its typed e-mail is never sent, so it can never be filed under
//! the user owning that address), a messenger contact resolved by
//! `external_id` (the `requester` object has no external id), a contact
//! with a phone or locale (the object cannot carry them), and events whose
//! handling needs the id before the create (a subject token, a text the
//! near-duplicate window claims, rule 4's original agent).
//!
//! # Users that are gone
//! The contact → user id mapping is cached in the state store (and for an
//! hour in the client). When Zendesk says that user is gone (deleted, or
//! merged into another user: `Error::is_user_gone`), both caches drop it and
//! the contact is resolved again, so later messages and DLQ replays do not
//! keep naming a user that no longer exists.

use intake_event::{ContactKey, TicketEvent};
use intake_zendesk::{IdentityType, Requester, Ticket, UserInput};

use crate::dlq::{DeadLetter, DlqReason};
use crate::process::{Failure, Processor};
use crate::telemetry::RequesterForgotten;

/// How an event's contact is looked up in Zendesk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Identity {
    /// Key of the state store's contact → user cache (empty: not cached).
    pub cache_key: String,
    /// What `create_or_update_user` is sent.
    pub input: UserInput,
    /// The channel vouches for the e-mail/phone.
    pub verified: bool,
    /// A verified detail other than the key, which may link the key to
    /// another contact's user (`linking.rs`); never set when unverified.
    pub detail: Option<Detail>,
}

/// A verified e-mail or phone of a contact, besides its key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Detail {
    /// Its own contact key (`phone:+4915…`, `email:ann@…`).
    pub key: String,
    pub kind: IdentityType,
    /// The phone in E.164 or the lower-case address.
    pub value: String,
}

/// The first of the contact's phone and e-mail whose key is not the
/// contact's own key (a phone first: it is what messengers verify).
fn detail(key: &str, phone: Option<&str>, email: Option<&str>) -> Option<Detail> {
    let phone = phone
        .and_then(|p| ContactKey::phone(p).ok())
        .map(|k| (k, IdentityType::PhoneNumber));
    let email = email
        .and_then(|e| ContactKey::email(e).ok())
        .map(|k| (k, IdentityType::Email));
    phone
        .into_iter()
        .chain(email)
        .find(|(k, _)| k.as_str() != key)
        .map(|(k, kind)| {
            let key = k.into_string();
            let value = key.split_once(':').map_or("", |(_, v)| v).to_owned();
            Detail { key, kind, value }
        })
}

/// The Zendesk identity of the event's contact (see the module doc).
pub(crate) fn identity(event: &TicketEvent) -> Result<Identity, DeadLetter> {
    let contact = &event.contact;
    let key = contact.key.trim();
    let email = non_blank(contact.email.as_deref());
    let name = non_blank(contact.name.as_deref());
    if contact.verified {
        if key.is_empty() && email.is_none() {
            return Err(missing());
        }
        return Ok(Identity {
            cache_key: key.to_owned(),
            input: UserInput {
                name: Some(name.or(email).unwrap_or(key).to_owned()),
                email: email.map(str::to_owned),
                phone: contact.phone.clone(),
                external_id: email.is_none().then(|| key.to_owned()),
                locale: contact.locale.clone(),
            },
            verified: true,
            detail: detail(key, contact.phone.as_deref(), email),
        });
    }
    let external_id = unverified_external_id(event).ok_or_else(missing)?;
    Ok(Identity {
        cache_key: external_id.clone(),
        input: UserInput {
            name: Some(name.unwrap_or(&external_id).to_owned()),
            email: None,
            phone: None,
            external_id: Some(external_id),
            locale: contact.locale.clone(),
        },
        verified: false,
        detail: None,
    })
}

/// Who an event's requester is while it is handled.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Who {
    /// The Zendesk user id.
    Known(u64),
    /// Not looked up: a new ticket carries this `requester` object and
    /// Zendesk finds or creates the user; its id is then cached under
    /// `cache_key` (empty: not cached).
    Inline {
        requester: Requester,
        cache_key: String,
    },
}

impl Who {
    /// The user id, when known.
    pub(crate) fn known(&self) -> Option<u64> {
        match self {
            Who::Known(id) => Some(*id),
            Who::Inline { .. } => None,
        }
    }

    /// The `requester` object of an inline requester.
    pub(crate) fn inline(&self) -> Option<&Requester> {
        match self {
            Who::Known(_) => None,
            Who::Inline { requester, .. } => Some(requester),
        }
    }
}

impl Identity {
    /// The `requester` object a ticket create may carry instead of a
    /// separate `create_or_update` (see the module doc), if this identity
    /// loses nothing by it.
    pub(crate) fn inline_requester(&self) -> Option<Requester> {
        let input = &self.input;
        let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        if !self.verified
            || self.detail.is_some()
            || set(&input.phone)
            || set(&input.locale)
            || set(&input.external_id)
        {
            return None;
        }
        let email = non_blank(input.email.as_deref())?;
        Some(Requester {
            name: input.name.clone(),
            email: Some(email.to_owned()),
            locale_id: None,
        })
    }
}

fn missing() -> DeadLetter {
    DeadLetter::new(
        DlqReason::RequesterMissing,
        "event has neither a contact key nor an e-mail address",
    )
}

fn non_blank(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// Whether a contact key was derived from an e-mail or phone number.
fn is_claim_derived(key: &str) -> bool {
    key.starts_with("email:") || key.starts_with("phone:")
}

/// The external id of an unverified contact: never one a verified contact of
/// the same address could have.
fn unverified_external_id(event: &TicketEvent) -> Option<String> {
    let contact = &event.contact;
    let key = contact.key.trim();
    if !key.is_empty() && !is_claim_derived(key) {
        return Some(key.to_owned());
    }
    if let Some(user) = non_blank(contact.channel_user_id.as_deref()) {
        return Some(format!("{}:{user}", event.channel));
    }
    if !key.is_empty() {
        return Some(format!("unverified:{key}"));
    }
    let email = non_blank(contact.email.as_deref())?;
    Some(format!("unverified:email:{}", email.to_lowercase()))
}

impl Processor {
    /// The requester's Zendesk user id: cached per contact, else
    /// `create_or_update_user` with the identity's input.
    pub(crate) async fn requester(&self, identity: &Identity) -> Result<u64, Failure> {
        let key = identity.cache_key.as_str();
        if !key.is_empty()
            && let Some(user_id) = self.store.contact_user(key).await?
        {
            return Ok(user_id);
        }
        let user = self
            .zendesk
            .create_or_update_user(&identity.input)
            .await
            .map_err(|e| {
                Failure::zendesk("create_or_update_user", DlqReason::RequesterRejected, e)
            })?;
        if !key.is_empty() {
            self.store.set_contact_user(key, user.id).await?;
        }
        Ok(user.id)
    }

    /// The requester as a known id, or inline on the ticket create when the
    /// identity allows it ([`Identity::inline_requester`]), nothing is
    /// cached for it, and the event needs no id before the create
    /// ([`Processor::may_inline`]).
    pub(crate) async fn requester_or_inline(
        &self,
        channel: &str,
        identity: &Identity,
        event: &TicketEvent,
    ) -> Result<Who, Failure> {
        if let Some(requester) = identity
            .inline_requester()
            .filter(|_| self.may_inline(event))
        {
            let key = identity.cache_key.as_str();
            if !key.is_empty()
                && let Some(user_id) = self.store.contact_user(key).await?
            {
                return Ok(Who::Known(user_id));
            }
            return Ok(Who::Inline {
                requester,
                cache_key: key.to_owned(),
            });
        }
        Ok(Who::Known(self.resolve_requester(channel, identity).await?))
    }

    /// Whether nothing before the create needs the requester's id: no
    /// subject token to check against the named ticket's requester, no
    /// near-duplicate claim (claims are per user: a text long enough to be
    /// claimed, with the window on), no original-agent rule (it reads the
    /// requester's tickets).
    fn may_inline(&self, event: &TicketEvent) -> bool {
        let claimed = self.cross_channel.as_ref().is_some_and(|window| {
            crate::near_duplicate::normalise(&event.text).words.len() >= window.min_words
        });
        event.conversation.ticket_token.is_none()
            && !claimed
            && !self
                .rulebook
                .as_ref()
                .is_some_and(|rules| rules.options().original_agent.enabled)
    }

    /// The requester's id, looking an inline one up after all.
    pub(crate) async fn known_requester(
        &self,
        channel: &str,
        identity: &Identity,
        who: Who,
    ) -> Result<u64, Failure> {
        match who {
            Who::Known(user_id) => Ok(user_id),
            Who::Inline { .. } => self.resolve_requester(channel, identity).await,
        }
    }

    /// Caches the user Zendesk made the requester of a ticket created with
    /// an inline requester (nothing for a known one).
    pub(crate) async fn learn_inline_requester(
        &self,
        who: &Who,
        ticket: &Ticket,
    ) -> Result<(), Failure> {
        if let (Who::Inline { cache_key, .. }, Some(user_id)) = (who, ticket.requester_id)
            && !cache_key.is_empty()
        {
            self.store.set_contact_user(cache_key, user_id).await?;
        }
        Ok(())
    }

    /// Drops `user_id` from both caches (Zendesk said it is gone or merged)
    /// and resolves the contact again.
    pub(crate) async fn requester_again(
        &self,
        channel: &str,
        identity: &Identity,
        user_id: u64,
    ) -> Result<u64, Failure> {
        self.zendesk.forget_user(user_id);
        if !identity.cache_key.is_empty() {
            self.store
                .forget_contact_user(&identity.cache_key, user_id)
                .await?;
        }
        let fresh = self.requester(identity).await?;
        RequesterForgotten {
            channel,
            user_id,
            new_user_id: fresh,
        }
        .emit();
        Ok(fresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use intake_event::Contact;

    fn event(contact: Contact) -> TicketEvent {
        TicketEvent::new("chat", "m1", contact, "hi", Utc::now())
    }

    #[test]
    fn a_verified_contact_is_matched_by_email_as_before() {
        let id = identity(&event(Contact {
            key: "email:ann@x.test".into(),
            email: Some(" ann@x.test ".into()),
            phone: Some("+15550100".into()),
            verified: true,
            ..Contact::default()
        }))
        .unwrap();
        assert_eq!(id.cache_key, "email:ann@x.test");
        assert_eq!(id.input.email.as_deref(), Some("ann@x.test"));
        assert_eq!(id.input.phone.as_deref(), Some("+15550100"));
        assert_eq!(id.input.external_id, None);
        assert_eq!(id.input.name.as_deref(), Some("ann@x.test"));
        // Its e-mail is its own key and its phone is not a valid number:
        // nothing to link by.
        assert_eq!(id.detail, None);
    }

    #[test]
    fn a_messenger_contact_s_verified_phone_or_email_is_its_detail() {
        let telegram = identity(&event(Contact {
            key: "telegram:42".into(),
            phone: Some("+4915112345678".into()),
            verified: true,
            ..Contact::default()
        }))
        .unwrap();
        assert_eq!(telegram.detail.unwrap().key, "phone:+4915112345678");
        let slack = identity(&event(Contact {
            key: "slack:T1:U1".into(),
            email: Some("Ann@X.test".into()),
            verified: true,
            ..Contact::default()
        }))
        .unwrap();
        let detail = slack.detail.unwrap();
        assert_eq!(
            (detail.key.as_str(), detail.value.as_str()),
            ("email:ann@x.test", "ann@x.test")
        );
        let mail = identity(&event(Contact {
            key: "email:ann@x.test".into(),
            email: Some("ann@x.test".into()),
            verified: true,
            ..Contact::default()
        }))
        .unwrap();
        assert_eq!(mail.detail, None);
    }

    #[test]
    fn an_unverified_contact_sends_no_claimed_identity() {
        let id = identity(&event(Contact {
            key: "chat:v1".into(),
            name: Some("Mallory".into()),
            email: Some("ann@x.test".into()),
            phone: Some("+15550100".into()),
            ..Contact::default()
        }))
        .unwrap();
        assert!(!id.verified);
        assert_eq!(id.cache_key, "chat:v1");
        assert_eq!(id.input.external_id.as_deref(), Some("chat:v1"));
        assert_eq!((id.input.email, id.input.phone), (None, None));
        assert_eq!(id.detail, None, "a typed e-mail or phone never links");
        assert_eq!(id.input.name.as_deref(), Some("Mallory"));
    }

    #[test]
    fn an_unverified_claim_derived_key_never_meets_the_verified_one() {
        let legacy = |channel_user_id: Option<&str>| {
            identity(&event(Contact {
                key: "email:ann@x.test".into(),
                email: Some("ann@x.test".into()),
                channel_user_id: channel_user_id.map(str::to_owned),
                ..Contact::default()
            }))
            .unwrap()
        };
        assert_eq!(legacy(Some("v9")).cache_key, "chat:v9");
        let without = legacy(None);
        assert_eq!(without.cache_key, "unverified:email:ann@x.test");
        assert_eq!(without.input.email, None);
        assert_eq!(
            without.input.name.as_deref(),
            Some("unverified:email:ann@x.test")
        );
        let email_only = identity(&event(Contact {
            email: Some("Ann@X.test".into()),
            ..Contact::default()
        }))
        .unwrap();
        assert_eq!(email_only.cache_key, "unverified:email:ann@x.test");
    }

    #[test]
    fn only_a_verified_email_alone_goes_inline() {
        let contact = |verified: bool, phone: Option<&str>, locale: Option<&str>| Contact {
            key: "email:ann@x.test".into(),
            name: Some("Ann".into()),
            email: Some("Ann@X.test".into()),
            phone: phone.map(str::to_owned),
            locale: locale.map(str::to_owned),
            verified,
            ..Contact::default()
        };
        let inline = identity(&event(contact(true, None, None)))
            .unwrap()
            .inline_requester()
            .unwrap();
        assert_eq!(inline.email.as_deref(), Some("Ann@X.test"));
        assert_eq!(inline.name.as_deref(), Some("Ann"));
        // A typed (unverified) e-mail is never sent, inline or not.
        let claimed = identity(&event(contact(false, None, None))).unwrap();
        assert_eq!(claimed.inline_requester(), None);
        // The object cannot carry a phone or a locale string: not inline.
        let phone = identity(&event(contact(true, Some("+4915112345678"), None))).unwrap();
        assert_eq!(phone.inline_requester(), None);
        let locale = identity(&event(contact(true, None, Some("de")))).unwrap();
        assert_eq!(locale.inline_requester(), None);
        // A messenger contact is resolved by external id.
        let telegram = identity(&event(Contact {
            key: "telegram:42".into(),
            verified: true,
            ..Contact::default()
        }))
        .unwrap();
        assert_eq!(telegram.inline_requester(), None);
    }

    #[test]
    fn a_contact_without_key_or_email_is_missing() {
        for verified in [true, false] {
            let letter = identity(&event(Contact {
                verified,
                ..Contact::default()
            }))
            .unwrap_err();
            assert_eq!(letter.reason, DlqReason::RequesterMissing);
        }
    }
}
