//! The event's contact from the message's `author` (decision 2, Zendesk
//! messaging's model of authenticated visitors):
//!
//! - with a valid `identity_token` that carries an e-mail (or a phone), the
//!   site vouches for it: `verified = true`, contact key `email:<address>`
//!   (else `phone:<E.164>`), e-mail, phone and name from the token;
//! - otherwise the visitor is who the chat says, nothing more:
//!   `verified = false`, contact key `chat:<author id>`, and the typed
//!   e-mail and phone are kept on the contact as claimed.
//!
//! A typed phone that cannot be read as a number (nor as a national number
//! of the locale's or the configured region) is dropped from the contact
//! and kept as typed in the metadata `phone_as_typed`; so is a typed phone
//! that differs from a verified one.

use std::collections::BTreeMap;

use intake_event::{Contact, ContactKey, normalise_email, normalise_phone_in};

use crate::identity::{IdentityError, VerifiedIdentity};
use crate::message::{
    ChatAuthor, MAX_EMAIL_CHARS, MAX_IDENTITY_TOKEN_CHARS, MAX_NAME_CHARS, MAX_PHONE_CHARS,
};
use crate::normalise::{CHANNEL, DroppedField, MessageRules, NormaliseError, lenient_text, schema};

/// The region subtag of a BCP 47 tag (`ru-RU` → `RU`, `zh-Hant-TW` → `TW`).
pub fn locale_region(tag: &str) -> Option<String> {
    tag.split(['-', '_'])
        .skip(1)
        .find(|part| part.len() == 2 && part.chars().all(|c| c.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase)
}

/// Digits, spaces and `+-().` only: something a person typed as a phone.
fn looks_like_phone(text: &str) -> bool {
    text.chars().any(|c| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

pub(crate) fn contact(
    author: ChatAuthor,
    author_id: &str,
    locale: Option<String>,
    rules: &MessageRules,
    dropped: &mut Vec<DroppedField>,
    metadata: &mut BTreeMap<String, String>,
) -> Result<Contact, NormaliseError> {
    let name = lenient_text(
        author.name,
        MAX_NAME_CHARS,
        DroppedField::AuthorName,
        dropped,
    );
    let email = lenient_text(
        author.email,
        MAX_EMAIL_CHARS,
        DroppedField::AuthorEmail,
        dropped,
    )
    .and_then(|address| match normalise_email(&address) {
        Ok(address) => Some(address),
        Err(_) => {
            dropped.push(DroppedField::AuthorEmail);
            None
        }
    });
    let typed_phone = lenient_text(
        author.phone,
        MAX_PHONE_CHARS,
        DroppedField::AuthorPhone,
        dropped,
    );
    let region = locale
        .as_deref()
        .and_then(locale_region)
        .or_else(|| rules.phone_region.clone());
    let phone =
        typed_phone
            .as_ref()
            .and_then(|typed| match normalise_phone_in(typed, region.as_deref()) {
                Ok(number) => Some(number),
                Err(_) => {
                    dropped.push(DroppedField::AuthorPhone);
                    if looks_like_phone(typed) {
                        metadata.insert("phone_as_typed".into(), typed.clone());
                    }
                    None
                }
            });
    let identity = lenient_text(
        author.identity_token,
        MAX_IDENTITY_TOKEN_CHARS,
        DroppedField::AuthorIdentityToken,
        dropped,
    )
    .and_then(|token| match verify(rules, &token) {
        Ok(identity) => Some(identity),
        Err(error) => {
            tracing::debug!(channel = CHANNEL, error = %error, "identity token dropped");
            dropped.push(DroppedField::AuthorIdentityToken);
            None
        }
    });

    let unverified = || Contact {
        key: String::new(),
        verified: false,
        name: name.clone(),
        email: email.clone(),
        phone: phone.clone(),
        channel_user_id: Some(author_id.to_owned()),
        locale: locale.clone(),
    };
    let contact = match identity {
        Some(identity) if identity.email.is_some() || identity.phone.is_some() => {
            metadata.insert("identity_external_id".into(), identity.external_id.clone());
            if let Some(typed) = typed_phone.filter(|_| phone != identity.phone) {
                metadata.insert("phone_as_typed".into(), typed);
            }
            verified_contact(identity, name.clone(), author_id, locale.clone())?
        }
        Some(identity) => {
            metadata.insert("identity_external_id".into(), identity.external_id);
            channel_keyed(unverified(), author_id)?
        }
        None => channel_keyed(unverified(), author_id)?,
    };
    Ok(contact)
}

fn verify(rules: &MessageRules, token: &str) -> Result<VerifiedIdentity, IdentityError> {
    match &rules.identity {
        Some(verifier) => verifier.verify(token),
        None => Err(IdentityError::NotConfigured),
    }
}

fn channel_keyed(mut contact: Contact, author_id: &str) -> Result<Contact, NormaliseError> {
    contact.key = ContactKey::channel_user(CHANNEL, author_id)
        .map_err(|e| schema("author.id", e.to_string()))?
        .into_string();
    Ok(contact)
}

fn verified_contact(
    identity: VerifiedIdentity,
    typed_name: Option<String>,
    author_id: &str,
    locale: Option<String>,
) -> Result<Contact, NormaliseError> {
    let key = match (&identity.email, &identity.phone) {
        (Some(address), _) => ContactKey::email(address),
        (None, Some(number)) => ContactKey::phone(number),
        (None, None) => ContactKey::channel_user(CHANNEL, author_id),
    }
    .map_err(|e| schema("author.identity_token", e.to_string()))?;
    Ok(Contact {
        key: key.into_string(),
        verified: true,
        name: identity.name.or(typed_name),
        email: identity.email,
        phone: identity.phone,
        channel_user_id: Some(author_id.to_owned()),
        locale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_subtags() {
        assert_eq!(locale_region("ru-RU").as_deref(), Some("RU"));
        assert_eq!(locale_region("zh-Hant-TW").as_deref(), Some("TW"));
        assert_eq!(locale_region("en_gb").as_deref(), Some("GB"));
        assert_eq!(locale_region("ru"), None);
        assert_eq!(locale_region("es-419"), None);
    }

    #[test]
    fn phone_like_text() {
        assert!(looks_like_phone("8 (999) 123-45-67"));
        assert!(!looks_like_phone("call me"));
        assert!(!looks_like_phone("+-()"));
    }
}
