#![forbid(unsafe_code)]
//! The `intake.ticket_event/v1` contract: what every channel adapter writes to
//! the bus and what the router reads. Pure data, no I/O.

mod contact;
mod event;
mod raw;

pub use contact::{
    ContactKey, ContactKeyError, is_phone_region, is_valid_channel_name, normalise_email,
    normalise_phone, normalise_phone_in,
};
pub use event::{
    Attachment, BlobRef, Contact, Conversation, EVENT_ID_NAMESPACE, EventDecodeError,
    MAX_RECORD_BYTES, MAX_TEXT_CHARS, SCHEMA_ID, TicketEvent, event_id, json_schema,
};
pub use raw::{InlineRaw, InlineRawError, MAX_INLINE_RAW_BYTES, RawPayload};
