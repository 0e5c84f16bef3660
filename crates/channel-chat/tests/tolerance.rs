//! Optional fields are kept when valid and dropped when not; unknown fields
//! are ignored; required fields and the text cap stay strict; the contact is
//! verified only by a signed identity token.

use chrono::{TimeZone, Utc};
use intake_channel::RejectReason;
use intake_channel_chat::{
    AttachmentLimits, DroppedField, IdentityVerifier, MessageRules, Normalised, normalise_bytes,
};
use intake_event::MAX_TEXT_CHARS;
use jsonwebtoken::{EncodingKey, Header};
use secrecy::SecretString;
use serde_json::json;

const IDENTITY_SECRET: &str = "site-identity-secret-0123456789abcdef";

fn rules() -> MessageRules {
    let mut rules = MessageRules::new(AttachmentLimits {
        max_attachment_bytes: 16,
        max_attachments: 3,
    });
    rules.identity = Some(IdentityVerifier::new(&SecretString::from(IDENTITY_SECRET)).unwrap());
    rules
}

fn normalise_with(rules: &MessageRules, body: &serde_json::Value) -> Normalised {
    let received = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
    normalise_bytes("wh", body.to_string().as_bytes(), received, rules)
        .unwrap_or_else(|e| panic!("{body}: {e}"))
}

fn normalise(body: &serde_json::Value) -> Normalised {
    normalise_with(&rules(), body)
}

fn identity_token(claims: serde_json::Value, secret: &str) -> String {
    jsonwebtoken::encode(
        &Header::default(),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn in_an_hour() -> i64 {
    Utc::now().timestamp() + 3600
}

#[test]
fn invalid_optional_fields_are_dropped_and_the_message_kept() {
    let body = json!({
        "message_id": "m".repeat(300),
        "conversation_id": "c",
        "sent_at": "yesterday at noon",
        "author": {"id": "v1", "name": 42, "email": "not-an-address", "phone": "8 999 123-45-67"},
        "text": "Оплата не проходит",
        "page_url": format!("https://shop.example/{}", "p".repeat(3000)),
        "locale": "ru RU",
        "attachments": [{"filename": "a.pdf", "content_type": "pdf please", "url": "https://cdn.example/a.pdf"}],
    });
    let n = normalise(&body);
    let e = &n.event;
    assert_eq!(
        e.text, "Оплата не проходит",
        "the customer's words are kept"
    );
    assert_eq!(e.contact.key, "chat:v1");
    assert_eq!(
        (
            &e.contact.name,
            &e.contact.email,
            &e.contact.phone,
            &e.contact.locale
        ),
        (&None, &None, &None, &None)
    );
    assert_eq!(e.sent_at, None);
    assert!(!e.metadata.contains_key("page_url"));
    assert!(!e.metadata.contains_key("sender_message_id"));
    // No region to read the national number with: kept as typed, not on the contact.
    assert_eq!(e.metadata["phone_as_typed"], "8 999 123-45-67");
    assert_eq!(
        n.links[0].content_type, None,
        "the response's type will be used"
    );
    let mut dropped = e.dropped_fields.clone();
    dropped.sort();
    assert_eq!(
        dropped,
        [
            "attachments[].content_type",
            "author.email",
            "author.name",
            "author.phone",
            "locale",
            "message_id",
            "page_url",
            "sent_at",
        ]
    );
    assert_eq!(n.dropped_labels().len(), dropped.len());
    assert!(
        n.dropped
            .iter()
            .all(|field| DroppedField::ALL.contains(field)),
        "labels come from the fixed list"
    );
}

#[test]
fn a_domestic_phone_is_normalised_with_a_region() {
    let body = |locale: &str| {
        json!({"conversation_id": "c", "author": {"id": "v", "phone": "8 999 123-45-67"},
            "text": "x", "locale": locale})
    };
    let by_locale = normalise(&body("ru-RU")).event;
    assert_eq!(by_locale.contact.phone.as_deref(), Some("+79991234567"));
    assert!(by_locale.dropped_fields.is_empty());

    let mut configured = rules();
    configured.phone_region = Some("RU".into());
    let by_config = normalise_with(&configured, &body("ru")).event;
    assert_eq!(by_config.contact.phone.as_deref(), Some("+79991234567"));
    assert!(by_config.dropped_fields.is_empty());
}

#[test]
fn unknown_fields_are_ignored_and_listed_by_name() {
    let body = json!({
        "conversation_id": "c",
        "author": {"id": "v", "avatar_url": "https://x/a.png"},
        "text": "hi",
        "colour": "red",
        "widget": {"version": 3},
        "attachments": [{"filename": "f", "content_type": "text/plain", "data_base64": "QQ==", "width": 9}],
    });
    let n = normalise(&body);
    assert_eq!(n.event.text, "hi");
    let mut unknown = n.unknown_fields.clone();
    unknown.sort();
    assert_eq!(
        unknown,
        [
            "attachments[0].width",
            "author.avatar_url",
            "colour",
            "widget"
        ]
    );
    assert!(
        n.event.dropped_fields.is_empty(),
        "unknown fields are not invalid ones"
    );
    assert!(
        !n.event.to_json().windows(3).any(|w| w == b"red"),
        "values of unknown fields are not carried"
    );
}

#[test]
fn text_is_capped_at_the_documented_length() {
    let received = Utc::now();
    let body = |chars: usize| {
        json!({"conversation_id": "c", "author": {"id": "v"}, "text": "я".repeat(chars)})
            .to_string()
    };
    let at_limit = normalise_bytes("wh", body(MAX_TEXT_CHARS).as_bytes(), received, &rules())
        .expect("the limit itself is accepted");
    assert_eq!(at_limit.event.text.chars().count(), MAX_TEXT_CHARS);
    let err = normalise_bytes(
        "wh",
        body(MAX_TEXT_CHARS + 1).as_bytes(),
        received,
        &rules(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), RejectReason::Schema, "{err}");
    assert_eq!(err.field(), Some("text"));
    assert!(err.to_string().contains("at most 10000"), "{err}");
}

#[test]
fn a_signed_identity_makes_a_verified_contact_keyed_by_its_email() {
    let token = identity_token(
        json!({"external_id": "user-77", "email": "Olga@Example.com", "name": "Ольга", "exp": in_an_hour()}),
        IDENTITY_SECRET,
    );
    let body = json!({"conversation_id": "c", "text": "x",
        "author": {"id": "visitor-1", "email": "someone-else@example.com", "identity_token": token}});
    let e = normalise(&body).event;
    assert!(e.contact.verified);
    assert_eq!(e.contact.key, "email:olga@example.com");
    assert_eq!(
        e.contact.email.as_deref(),
        Some("olga@example.com"),
        "the token's, not the typed one"
    );
    assert_eq!(e.contact.name.as_deref(), Some("Ольга"));
    assert_eq!(e.contact.channel_user_id.as_deref(), Some("visitor-1"));
    assert_eq!(e.metadata["identity_external_id"], "user-77");
    assert!(e.dropped_fields.is_empty());
}

#[test]
fn a_typed_email_is_only_a_claim() {
    let body = json!({"conversation_id": "c", "text": "x",
        "author": {"id": "visitor-1", "email": "Victim@Example.com"}});
    let e = normalise(&body).event;
    assert!(!e.contact.verified);
    assert_eq!(
        e.contact.key, "chat:visitor-1",
        "never keyed by a typed e-mail"
    );
    assert_eq!(
        e.contact.email.as_deref(),
        Some("victim@example.com"),
        "kept as claimed"
    );
}

#[test]
fn a_bad_identity_token_is_dropped_and_the_visitor_unverified() {
    let forged = identity_token(
        json!({"external_id": "u", "email": "victim@example.com", "exp": in_an_hour()}),
        "not-the-site-secret-0123456789abcdef",
    );
    let expired = identity_token(
        json!({"external_id": "u", "email": "olga@example.com", "exp": Utc::now().timestamp() - 600}),
        IDENTITY_SECRET,
    );
    for token in [forged, expired, "garbage".to_owned()] {
        let body = json!({"conversation_id": "c", "text": "x",
            "author": {"id": "visitor-1", "email": "victim@example.com", "identity_token": token}});
        let e = normalise(&body).event;
        assert!(!e.contact.verified);
        assert_eq!(e.contact.key, "chat:visitor-1");
        assert_eq!(e.dropped_fields, ["author.identity_token"]);
    }

    // Without an identity secret no token can be checked: dropped too.
    let good = identity_token(
        json!({"external_id": "u", "email": "olga@example.com", "exp": in_an_hour()}),
        IDENTITY_SECRET,
    );
    let body = json!({"conversation_id": "c", "text": "x",
        "author": {"id": "visitor-1", "identity_token": good}});
    let unconfigured = MessageRules::new(AttachmentLimits {
        max_attachment_bytes: 16,
        max_attachments: 3,
    });
    let e = normalise_with(&unconfigured, &body).event;
    assert!(!e.contact.verified);
    assert_eq!(e.dropped_fields, ["author.identity_token"]);
}
