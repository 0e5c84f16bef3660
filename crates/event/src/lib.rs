#![forbid(unsafe_code)]
//! The `intake.ticket_event/v1` contract: what every channel adapter writes to
//! the bus and what the router reads, and the `intake.ticket_outcome/v1`
//! contract the router publishes after every effect. Pure data, no I/O.

mod contact;
mod event;
mod outcome;
mod raw;

pub use contact::{
    ContactKey, ContactKeyError, is_phone_region, is_valid_channel_name, normalise_email,
    normalise_phone, normalise_phone_in,
};
pub use event::{
    Attachment, BlobRef, Contact, Conversation, EVENT_ID_NAMESPACE, EventDecodeError,
    MAX_RECORD_BYTES, MAX_TEXT_CHARS, OMITTED_TOO_LARGE, OMITTED_TOO_MANY, OmittedAttachment,
    SCHEMA_ID, TicketEvent, ZendeskTicket, event_id, json_schema,
};
pub use outcome::{
    AnswerDeadline, OUTCOME_ID_NAMESPACE, OUTCOME_SCHEMA_ID, OutcomeContact, OutcomeDecodeError,
    OutcomeEffect, TicketOutcome, outcome_id, outcome_json_schema, record_outcome_id,
};
pub use raw::{InlineRaw, InlineRawError, MAX_INLINE_RAW_BYTES, RawPayload};
