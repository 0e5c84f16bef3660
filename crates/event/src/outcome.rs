//! The `intake.ticket_outcome/v1` contract: what the router publishes on
//! `<prefix>.outcomes` after every effect, for whoever answers the customer
//! (acknowledgements) or watches deadlines. Pure data, no I/O.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The schema identifier carried in every outcome (`schema` field); on the
/// bus the CloudEvents `ce_type` header says `intake.ticket_outcome.v1`.
pub const OUTCOME_SCHEMA_ID: &str = "intake.ticket_outcome/v1";

/// Namespace of the UUID v5 outcome ids: `uuid5(NAMESPACE_URL, "urn:intake:ticket-outcome")`.
/// Fixed forever: consumers de-duplicate by outcome id across restarts.
pub const OUTCOME_ID_NAMESPACE: Uuid = Uuid::from_u128(0x8e0f_41a2_9c37_5b16_a4d2_7f3e_19c0_6b58);

/// What the router did with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeEffect {
    /// A new ticket.
    Created,
    /// A public comment on the conversation's open ticket.
    Commented,
    /// A new ticket that follows up the conversation's closed one.
    FollowUp,
    /// The event could not be handled and went to the dead-letter topic.
    DeadLettered,
    /// Reserved: the ticket was handed to a department (a later issue).
    RoutedToDepartment,
}

impl OutcomeEffect {
    /// The wire name (`created`, `follow_up`, ...), also used in the outcome id.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Commented => "commented",
            Self::FollowUp => "follow_up",
            Self::DeadLettered => "dead_lettered",
            Self::RoutedToDepartment => "routed_to_department",
        }
    }

    /// True for the effects that open a ticket (and so get a deadline).
    pub fn opens_ticket(self) -> bool {
        matches!(self, Self::Created | Self::FollowUp)
    }
}

/// The deterministic id of an outcome: UUID v5 of `<event id>:<effect>`, so
/// an outcome republished after a crash has the same id.
pub fn outcome_id(event_id: Uuid, effect: OutcomeEffect) -> Uuid {
    let name = format!("{event_id}:{}", effect.as_str());
    Uuid::new_v5(&OUTCOME_ID_NAMESPACE, name.as_bytes())
}

/// The outcome id of a dead letter whose record carried no readable event
/// id: UUID v5 of `record:<topic>:<partition>:<offset>:dead_lettered`
/// (stable, since a redelivered record keeps its position).
pub fn record_outcome_id(topic: &str, partition: i32, offset: i64) -> Uuid {
    let name = format!("record:{topic}:{partition}:{offset}:dead_lettered");
    Uuid::new_v5(&OUTCOME_ID_NAMESPACE, name.as_bytes())
}

/// Who the outcome concerns.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct OutcomeContact {
    /// The event's contact key (also the bus partition key).
    pub key: String,
    /// The contact's BCP 47 language tag, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// When the first answer is due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AnswerDeadline {
    /// RFC 3339, UTC.
    pub due_at: DateTime<Utc>,
    /// The SLA policy that set it (`chat`, `email`, ...).
    pub policy: String,
    /// The working-time calendar it was counted on (for "we are back at ...").
    pub calendar: String,
}

/// What the router did with one event.
///
/// Readers ignore fields they do not know (no `deny_unknown_fields`), as for
/// the event. Delivered at least once: de-duplicate by `outcome_id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "What the router did with one ticket event. Delivered at least once: de-duplicate by outcome_id. Readers ignore unknown fields."
)]
pub struct TicketOutcome {
    /// Always `intake.ticket_outcome/v1`.
    pub schema: String,
    /// UUID v5 of `<event id>:<effect>` (see [`outcome_id`]).
    pub outcome_id: Uuid,
    /// The event's id; absent only for a dead letter whose record carried
    /// no readable event id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    /// The channel name (`chat`, `email`, ...).
    pub channel: String,
    pub contact: OutcomeContact,
    /// The channel's conversation/thread id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conversation_id: Option<String>,
    pub effect: OutcomeEffect,
    /// The Zendesk ticket (absent for `dead_lettered`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<u64>,
    /// The first-response deadline, for `created` and `follow_up` when an
    /// SLA policy covers the channel; absent for comments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<AnswerDeadline>,
    /// The language to answer in, best known: the contact's locale for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// True for auto-replies, bounces and other machine-sent messages.
    #[serde(default)]
    pub auto_submitted: bool,
    /// When the gateway received the event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// For `dead_lettered`: the reason code (`zendesk_rejected`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter_reason: Option<String>,
    /// The event's `channel_account`: the reply goes out from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_account: Option<String>,
    /// The event's attachments that were left out, for the acknowledgement
    /// to name (for `created` and `follow_up`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub omitted_attachments: Vec<crate::OmittedAttachment>,
}

impl TicketOutcome {
    /// Serialises to the JSON carried on the bus.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("TicketOutcome always serialises")
    }

    /// Parses bus JSON, checking the schema id and, when the event id is
    /// there, that the outcome id is derived from it and the effect.
    pub fn from_json(bytes: &[u8]) -> Result<Self, OutcomeDecodeError> {
        let outcome: TicketOutcome = serde_json::from_slice(bytes)?;
        if outcome.schema != OUTCOME_SCHEMA_ID {
            return Err(OutcomeDecodeError::Schema(outcome.schema));
        }
        if let Some(event_id) = outcome.event_id {
            let expected = outcome_id(event_id, outcome.effect);
            if outcome.outcome_id != expected {
                return Err(OutcomeDecodeError::OutcomeId {
                    found: outcome.outcome_id,
                    expected,
                });
            }
        }
        Ok(outcome)
    }
}

/// Why bytes from the bus are not a valid outcome.
#[derive(Debug, thiserror::Error)]
pub enum OutcomeDecodeError {
    #[error("not a ticket outcome: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported schema {0:?}, expected {OUTCOME_SCHEMA_ID}")]
    Schema(String),
    #[error("outcome id {found} does not match event id and effect (expected {expected})")]
    OutcomeId { found: Uuid, expected: Uuid },
}

/// The JSON Schema of [`TicketOutcome`], as checked in at `docs/schema/ticket_outcome.v1.json`.
pub fn outcome_json_schema() -> serde_json::Value {
    let schema = schemars::schema_for!(TicketOutcome);
    serde_json::to_value(schema).expect("schema serialises")
}
