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
    assert_eq!(schema["additionalProperties"], false);
}
