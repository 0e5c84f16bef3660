//! The checked-in JSON Schema of the webhook body matches the types.

#[test]
fn checked_in_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema/chat_message.v1.json");
    let current = serde_json::to_string_pretty(&intake_channel_chat::json_schema()).unwrap() + "\n";
    if std::env::var_os("INTAKE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/schema/chat_message.v1.json is stale; regenerate with INTAKE_BLESS=1 cargo test -p intake-channel-chat --test schema"
    );
}

#[test]
fn schema_documents_the_required_fields() {
    let schema = intake_channel_chat::json_schema();
    let required = schema["required"].as_array().unwrap();
    assert!(required.contains(&"conversation_id".into()));
    assert!(required.contains(&"author".into()));
    assert!(!required.contains(&"text".into()));
    // Unknown fields are accepted (and counted), so a vendor's new field
    // does not make intake refuse the message.
    assert_ne!(schema["additionalProperties"], false);
    assert_ne!(schema["$defs"]["ChatAuthor"]["additionalProperties"], false);
}

#[test]
fn schema_publishes_the_limits_the_code_enforces() {
    use intake_channel_chat::message::{
        MAX_EMAIL_CHARS, MAX_FILENAME_CHARS, MAX_ID_CHARS, MAX_IDENTITY_TOKEN_CHARS,
        MAX_LOCALE_CHARS, MAX_NAME_CHARS, MAX_PHONE_CHARS, MAX_URL_CHARS,
    };
    let schema = intake_channel_chat::json_schema();
    let top = &schema["properties"];
    let author = &schema["$defs"]["ChatAuthor"]["properties"];
    let attachment = &schema["$defs"]["ChatAttachment"]["properties"];
    let cases = [
        (&top["text"], intake_event::MAX_TEXT_CHARS),
        (&top["conversation_id"], MAX_ID_CHARS),
        (&top["message_id"], MAX_ID_CHARS),
        (&top["page_url"], MAX_URL_CHARS),
        (&top["locale"], MAX_LOCALE_CHARS),
        (&author["id"], MAX_ID_CHARS),
        (&author["name"], MAX_NAME_CHARS),
        (&author["email"], MAX_EMAIL_CHARS),
        (&author["phone"], MAX_PHONE_CHARS),
        (&author["identity_token"], MAX_IDENTITY_TOKEN_CHARS),
        (&attachment["filename"], MAX_FILENAME_CHARS),
        (&attachment["url"], MAX_URL_CHARS),
    ];
    for (property, max) in cases {
        assert_eq!(property["maxLength"], max, "{property}");
    }
    assert_eq!(intake_event::MAX_TEXT_CHARS, 10_000);
    assert_eq!(author["id"]["minLength"], 1);
}
