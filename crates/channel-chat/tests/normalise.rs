//! Table-driven normalisation tests from raw body bytes.

use chrono::{TimeZone, Utc};
use intake_channel::RejectReason;
use intake_channel_chat::{
    AttachmentLimits, CHANNEL, MessageRules, NormaliseError, Normalised, normalise_bytes,
};
use intake_event::event_id;

const LIMITS: AttachmentLimits = AttachmentLimits {
    max_attachment_bytes: 16,
    max_attachments: 2,
};

fn rules() -> MessageRules {
    MessageRules::new(LIMITS)
}

fn normalise(body: &str) -> Result<Normalised, NormaliseError> {
    normalise_bytes("wh", body.as_bytes(), received(), &rules())
}

fn received() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap()
}

#[test]
fn full_message_with_cyrillic_and_emoji() {
    let body = r#"{
        "message_id": "widget-77",
        "conversation_id": "conv-1",
        "sent_at": "2026-11-22T12:59:58+03:00",
        "author": {"id": "visitor-42", "name": " Ольга 👩‍💻 ", "email": "Olga@Example.COM", "phone": "+7 (999) 123-45-67"},
        "text": "Здравствуйте! Оплата не проходит 😢",
        "attachments": [{"filename": "счёт.txt", "content_type": "Text/Plain", "data_base64": "0J/RgNC40LLQtdGC"}],
        "page_url": "https://shop.example/корзина",
        "locale": "ru-RU"
    }"#;
    let n = normalise_bytes("wh_1", body.as_bytes(), received(), &rules()).unwrap();
    let e = &n.event;
    assert_eq!(e.channel, CHANNEL);
    assert_eq!(e.channel_message_id, "wh_1");
    assert_eq!(e.event_id, event_id("chat", "wh_1"));
    assert_eq!(e.received_at, received());
    assert_eq!(
        e.sent_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 22, 9, 59, 58).unwrap())
    );
    // No identity token: the typed e-mail is a claim, the key is the visitor's.
    assert_eq!(e.contact.key, "chat:visitor-42");
    assert!(!e.contact.verified);
    assert_eq!(e.contact.email.as_deref(), Some("olga@example.com"));
    assert_eq!(e.contact.phone.as_deref(), Some("+79991234567"));
    assert_eq!(e.contact.name.as_deref(), Some("Ольга 👩‍💻"));
    assert_eq!(e.contact.channel_user_id.as_deref(), Some("visitor-42"));
    assert_eq!(e.contact.locale.as_deref(), Some("ru-RU"));
    assert_eq!(e.conversation.thread_id.as_deref(), Some("conv-1"));
    assert_eq!(e.subject, None);
    assert_eq!(e.text, "Здравствуйте! Оплата не проходит 😢");
    assert_eq!(e.metadata["page_url"], "https://shop.example/корзина");
    assert_eq!(e.metadata["sender_message_id"], "widget-77");
    assert_eq!(e.attachments.len(), 1);
    let a = &e.attachments[0];
    assert_eq!(n.attachment_bytes[0], "Привет".as_bytes());
    assert_eq!(
        (a.filename.as_str(), a.content_type.as_str()),
        ("счёт.txt", "text/plain")
    );
    assert_eq!(a.size, "Привет".len() as u64);
    assert_eq!(a.sha256, intake_blob::sha256_hex("Привет".as_bytes()));
    assert_eq!(a.blob, intake_blob::content_ref("Привет".as_bytes()));
    assert!(e.raw.is_none(), "raw is set by the handler after storing");
    assert!(e.dropped_fields.is_empty(), "{:?}", e.dropped_fields);
    assert!(n.unknown_fields.is_empty());
}

#[test]
fn minimal_message_defaults() {
    let cases: [(&str, &str, &str); 4] = [
        (
            r#"{"conversation_id":"c","author":{"id":"v1"},"text":"hi"}"#,
            "chat:v1",
            "hi",
        ),
        // null optionals and blank email/phone/name are absent
        (
            r#"{"conversation_id":"c","author":{"id":" v1 ","email":"  ","phone":null,"name":""},"text":"hi","attachments":null,"locale":null}"#,
            "chat:v1",
            "hi",
        ),
        // only an emoji
        (
            r#"{"conversation_id":"c","author":{"id":"v1"},"text":"🙂"}"#,
            "chat:v1",
            "🙂",
        ),
        // the sender's message id equal to the webhook id is not repeated in metadata
        (
            r#"{"message_id":"wh","conversation_id":"c","author":{"id":"v1"},"text":"x"}"#,
            "chat:v1",
            "x",
        ),
    ];
    for (body, key, text) in cases {
        let e = normalise(body)
            .unwrap_or_else(|err| panic!("{body}: {err}"))
            .event;
        assert_eq!(e.contact.key, key, "{body}");
        assert_eq!(e.text, text, "{body}");
        assert_eq!(e.contact.name, None, "{body}");
        assert!(e.metadata.is_empty(), "{body}: {:?}", e.metadata);
        assert!(e.attachments.is_empty());
        assert_eq!(e.sent_at, None);
        assert!(
            e.dropped_fields.is_empty(),
            "{body}: {:?}",
            e.dropped_fields
        );
    }
}

#[test]
fn url_attachments_become_links_to_fetch_in_body_order() {
    let body = r#"{"conversation_id":"c","author":{"id":"v1"},"text":"files",
        "attachments":[
            {"filename":"photo.jpg","url":"https://cdn.example/p.jpg"},
            {"filename":"a.txt","content_type":"text/plain","data_base64":"QQ=="},
            {"filename":"doc.pdf","content_type":"Application/PDF","url":"https://cdn.example/d.pdf"}]}"#;
    let limits = AttachmentLimits {
        max_attachments: 3,
        ..LIMITS
    };
    let n = normalise_bytes(
        "wh",
        body.as_bytes(),
        received(),
        &MessageRules::new(limits),
    )
    .unwrap();
    // Only the base64 one is in the event so far; the text is untouched and
    // no URL is kept in the event.
    assert_eq!(n.event.attachments.len(), 1);
    assert_eq!(n.event.attachments[0].filename, "a.txt");
    assert_eq!(n.event.text, "files");
    assert!(n.event.metadata.keys().all(|k| !k.contains("url")));
    assert_eq!(n.links.len(), 2);
    let (first, second) = (&n.links[0], &n.links[1]);
    assert_eq!(first.position, 0);
    assert_eq!(first.field, "attachments[0].url");
    assert_eq!(first.content_type, None);
    assert_eq!(first.url.as_str(), "https://cdn.example/p.jpg");
    assert_eq!(second.position, 2);
    assert_eq!(second.content_type.as_deref(), Some("application/pdf"));

    // The sender's type wins over the response's; the response's over the default.
    let fetched = first.to_attachment(b"jpeg", Some("image/jpeg".into()));
    assert_eq!(fetched.content_type, "image/jpeg");
    assert_eq!(fetched.size, 4);
    assert_eq!(fetched.sha256, intake_blob::sha256_hex(b"jpeg"));
    assert_eq!(
        first.to_attachment(b"x", None).content_type,
        "application/octet-stream"
    );
    assert_eq!(
        second
            .to_attachment(b"x", Some("text/html".into()))
            .content_type,
        "application/pdf"
    );
}

#[test]
fn bad_input_names_the_field() {
    let att = |data: &str| {
        format!(
            r#"{{"conversation_id":"c","author":{{"id":"v"}},"attachments":[{{"filename":"f","content_type":"text/plain",{data}}}]}}"#
        )
    };
    let cases: Vec<(String, RejectReason, &str)> = vec![
        ("{".into(), RejectReason::BadJson, "JSON"),
        ("".into(), RejectReason::BadJson, "JSON"),
        (r#"{"conversation_id":"c","author":{"id":"v"},"text":"x"} trailing"#.into(), RejectReason::BadJson, "JSON"),
        ("[]".into(), RejectReason::Schema, "body"),
        (r#"{"author":{"id":"v"},"text":"x"}"#.into(), RejectReason::Schema, "conversation_id"),
        (r#"{"conversation_id":"c","author":{},"text":"x"}"#.into(), RejectReason::Schema, "author"),
        (r#"{"conversation_id":"c","author":{"id":"  "},"text":"x"}"#.into(), RejectReason::Schema, "author.id"),
        (r#"{"conversation_id":"","author":{"id":"v"},"text":"x"}"#.into(), RejectReason::Schema, "conversation_id"),
        (r#"{"conversation_id":"c","author":{"id":"v"}}"#.into(), RejectReason::Schema, "text"),
        (r#"{"conversation_id":"c","author":{"id":"v"},"text":"  \n"}"#.into(), RejectReason::Schema, "text"),
        (r#"{"conversation_id":"c","author":{"id":"v"},"text":42}"#.into(), RejectReason::Schema, "text"),
        (r#"{"conversation_id":"c","author":"v","text":"x"}"#.into(), RejectReason::Schema, "author"),
        (r#"{"conversation_id":7,"author":{"id":"v"},"text":"x"}"#.into(), RejectReason::Schema, "conversation_id"),
        (att(r#""url":"https://x/a","filename":7"#), RejectReason::Schema, "filename"),
        (att(r#""data_base64":"***""#), RejectReason::Attachment, "attachments[0].data_base64"),
        (att(r#""data_base64":"QUFBQUFBQUFBQUFBQUFBQUFBQUFB""#), RejectReason::Attachment, "larger than 16 bytes"),
        (att(r#""url":"file:///etc/passwd""#), RejectReason::Attachment, "attachments[0].url"),
        (att(r#""url":"https://x/a","data_base64":"QQ==""#), RejectReason::Attachment, "not both"),
        (att(r#""url":"https://""#), RejectReason::Attachment, "attachments[0].url"),
        (
            r#"{"conversation_id":"c","author":{"id":"v"},"attachments":[{"filename":"f","data_base64":"QQ=="}]}"#.into(),
            RejectReason::Attachment,
            "attachments[0].content_type: required with data_base64",
        ),
        (
            r#"{"conversation_id":"c","author":{"id":"v"},"attachments":[{"filename":"f","content_type":"text/plain"}]}"#.into(),
            RejectReason::Attachment,
            "data_base64 or url",
        ),
        (
            r#"{"conversation_id":"c","author":{"id":"v"},"attachments":[{"filename":"","content_type":"text/plain","data_base64":"QQ=="}]}"#.into(),
            RejectReason::Attachment,
            "attachments[0].filename",
        ),
        (
            r#"{"conversation_id":"c","author":{"id":"v"},"attachments":[{"filename":"f","content_type":"plain","data_base64":"QQ=="}]}"#.into(),
            RejectReason::Attachment,
            "attachments[0].content_type",
        ),
        (
            format!(
                r#"{{"conversation_id":"c","author":{{"id":"v"}},"attachments":[{a},{a},{a}]}}"#,
                a = r#"{"filename":"f","content_type":"text/plain","data_base64":"QQ=="}"#
            ),
            RejectReason::Attachment,
            "3 attachments, at most 2",
        ),
    ];
    for (body, reason, needle) in cases {
        let err: NormaliseError = normalise(&body).expect_err(&body);
        assert_eq!(err.reason(), reason, "{body}: {err}");
        assert!(
            err.to_string().contains(needle),
            "{body}: {err} lacks {needle:?}"
        );
        assert!(!err.is_retryable());
    }
}

#[test]
fn invalid_utf8_is_bad_json_and_webhook_id_is_checked() {
    let err = normalise_bytes(
        "wh",
        b"{\"conversation_id\":\"\xff\"}",
        received(),
        &rules(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), RejectReason::BadJson, "{err}");

    let ok = br#"{"conversation_id":"c","author":{"id":"v"},"text":"x"}"#;
    let too_long = "w".repeat(257);
    let err = normalise_bytes(&too_long, ok, received(), &rules()).unwrap_err();
    assert!(err.to_string().contains("webhook-id"), "{err}");
}

#[test]
fn base64_with_line_breaks_is_accepted() {
    let body = r#"{"conversation_id":"c","author":{"id":"v"},
        "attachments":[{"filename":"a.bin","content_type":"application/octet-stream","data_base64":"AAEC\r\nAwQF"}]}"#;
    let n = normalise(body).unwrap();
    assert_eq!(n.attachment_bytes, vec![vec![0u8, 1, 2, 3, 4, 5]]);
    assert_eq!(n.event.text, "");
}
