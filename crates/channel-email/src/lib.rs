#![forbid(unsafe_code)]
//! The help@ mailbox: IMAP IDLE intake with a durable hand-off, MIME
//! normalisation in every charset, and replies over SMTP from the support
//! address. See `docs/email.md`.
//!
//! - [`config`]: `[channels.email]` (several accounts).
//! - [`normalise`]: pure bytes -> ticket event (with [`autoreply`] and
//!   [`quoting`]).
//! - [`EmailChannel`]: one account's [`intake_channel::PullChannel`], run by
//!   the pull runner.
//! - [`SmtpReplySender`]: the account's [`intake_channel::ReplySender`].

pub mod autoreply;
pub mod config;
pub mod normalise;
pub mod quoting;

pub use normalise::{CHANNEL, Normalised, NormaliseError, normalise};
