#![forbid(unsafe_code)]
//! The help@ mailbox: IMAP IDLE intake with a durable hand-off, MIME
//! normalisation in every charset, and replies over SMTP from the support
//! address. See `docs/email.md`.
//!
//! - [`config`]: `[channels.email]` (several accounts).
//! - [`normalise()`]: pure bytes -> ticket event (with [`autoreply`] and
//!   [`quoting`]).
//! - [`EmailChannel`]: one account's [`intake_channel::PullChannel`], run by
//!   the pull runner; its UID cursor lives in the state store ([`cursor`]).
//! - [`SmtpReplySender`]: one account's SMTP sender; [`AccountSenders`]: the
//!   channel's [`intake_channel::ReplySender`], replying from the account a
//!   mail came in on.

pub mod autoreply;
pub mod charset;
pub mod config;
mod connect;
pub mod cursor;
mod error;
pub mod events;
mod intake;
pub mod normalise;
pub mod oauth;
pub mod quoting;
mod reply;
mod section;
mod senders;
mod take;
pub mod token;
mod xoauth2_smtp;

pub use connect::tls_config;
pub use error::EmailError;
pub use intake::{EmailChannel, PROCESSED_KEYWORD};
pub use normalise::{CHANNEL, NormaliseError, Normalised, normalise};
pub use reply::{SmtpConfigError, SmtpReplySender};
pub use section::{Accounts, Email, RawEmailSection};
pub use senders::AccountSenders;
pub use token::TicketToken;
