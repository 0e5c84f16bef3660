//! The outcome wire contract: ids, JSON round trips, tolerant reading and
//! the checked-in JSON Schema.

use chrono::{TimeZone, Utc};
use intake_event::{
    AnswerDeadline, OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeEffect, TicketOutcome, event_id,
    outcome_id, record_outcome_id,
};

fn sample() -> TicketOutcome {
    let event = event_id("chat", "msg_1");
    TicketOutcome {
        schema: OUTCOME_SCHEMA_ID.to_owned(),
        outcome_id: outcome_id(event, OutcomeEffect::Created),
        event_id: Some(event),
        channel: "chat".into(),
        contact: OutcomeContact {
            key: "chat:v1".into(),
            locale: Some("ru".into()),
        },
        conversation_id: Some("conv-1".into()),
        effect: OutcomeEffect::Created,
        ticket_id: Some(42),
        deadline: Some(AnswerDeadline {
            due_at: Utc.with_ymd_and_hms(2026, 12, 7, 7, 2, 0).unwrap(),
            policy: "chat".into(),
            calendar: "default".into(),
        }),
        locale: Some("ru".into()),
        auto_submitted: false,
        received_at: Some(Utc.with_ymd_and_hms(2026, 12, 4, 14, 57, 0).unwrap()),
        dead_letter_reason: None,
        channel_account: None,
        omitted_attachments: Vec::new(),
    }
}

#[test]
fn outcome_id_is_uuid_v5_of_event_and_effect() {
    let event = event_id("chat", "msg_1");
    let created = outcome_id(event, OutcomeEffect::Created);
    assert_eq!(created.get_version_num(), 5);
    assert_eq!(created, outcome_id(event, OutcomeEffect::Created));
    assert_ne!(created, outcome_id(event, OutcomeEffect::DeadLettered));
    assert_ne!(
        created,
        outcome_id(event_id("chat", "msg_2"), OutcomeEffect::Created)
    );
    assert_ne!(created, event, "not the event id itself");
    let record = record_outcome_id("intake.events.chat", 0, 7);
    assert_eq!(record, record_outcome_id("intake.events.chat", 0, 7));
    assert_ne!(record, record_outcome_id("intake.events.chat", 0, 8));
}

#[test]
fn json_round_trip_uses_snake_case_effects_and_rfc3339() {
    let outcome = sample();
    let text = String::from_utf8(outcome.to_json()).unwrap();
    assert!(text.contains(r#""effect":"created""#), "{text}");
    assert!(
        text.contains(r#""due_at":"2026-12-07T07:02:00Z""#),
        "{text}"
    );
    assert!(
        !text.contains("dead_letter_reason"),
        "omitted when absent: {text}"
    );
    assert_eq!(TicketOutcome::from_json(text.as_bytes()).unwrap(), outcome);
    let mut follow = sample();
    follow.effect = OutcomeEffect::FollowUp;
    follow.outcome_id = outcome_id(follow.event_id.unwrap(), OutcomeEffect::FollowUp);
    let text = String::from_utf8(follow.to_json()).unwrap();
    assert!(text.contains(r#""effect":"follow_up""#), "{text}");
}

#[test]
fn unknown_fields_are_ignored_and_tampering_rejected() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["department"] = "billing".into();
    value["contact"]["tier"] = "gold".into();
    let read = TicketOutcome::from_json(&serde_json::to_vec(&value).unwrap()).unwrap();
    assert_eq!(read, sample());

    let mut wrong = sample();
    wrong.effect = OutcomeEffect::Commented;
    let err = TicketOutcome::from_json(&wrong.to_json()).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let mut foreign = sample();
    foreign.schema = "intake.ticket_outcome/v2".into();
    assert!(TicketOutcome::from_json(&foreign.to_json()).is_err());
}

#[test]
fn a_dead_letter_without_event_id_reads() {
    let json = format!(
        r#"{{"schema":"{OUTCOME_SCHEMA_ID}","outcome_id":"{}","channel":"chat",
            "contact":{{"key":"chat:v1"}},"effect":"dead_lettered","dead_letter_reason":"undecodable_event"}}"#,
        record_outcome_id("t", 0, 1)
    );
    let outcome = TicketOutcome::from_json(json.as_bytes()).unwrap();
    assert_eq!(outcome.effect, OutcomeEffect::DeadLettered);
    assert_eq!(outcome.event_id, None);
    assert!(!outcome.auto_submitted);
    assert_eq!(outcome.deadline, None);
}

#[test]
fn schema_lists_the_effects_and_accepts_unknown_fields() {
    let schema = intake_event::outcome_json_schema();
    let text = schema.to_string();
    for effect in [
        "created",
        "commented",
        "follow_up",
        "dead_lettered",
        "routed_to_department",
    ] {
        assert!(
            text.contains(&format!("\"{effect}\"")),
            "{effect} in {text}"
        );
    }
    assert_ne!(schema["additionalProperties"], false, "{schema}");
}

#[test]
fn checked_in_outcome_schema_is_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema/ticket_outcome.v1.json");
    let current =
        serde_json::to_string_pretty(&intake_event::outcome_json_schema()).unwrap() + "\n";
    if std::env::var_os("INTAKE_BLESS").is_some() {
        std::fs::write(&path, &current).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == current,
        "docs/schema/ticket_outcome.v1.json is stale; regenerate with INTAKE_BLESS=1 cargo test -p intake-event"
    );
}
