//! What the app needs to run `[channels.email]`: one pull channel per
//! account (for the pull runner) and the reply sender (for the reply registry).

use std::sync::Arc;

use intake_channel::{PullChannel, ReplySender};
use intake_store::StateStore;

use crate::config::EmailConfig;
use crate::cursor::StoreCursors;
use crate::{EmailChannel, EmailError, SmtpReplySender};

/// The email channel's parts, built from its validated configuration.
pub struct EmailRegistration {
    /// One per account, each run by the pull runner.
    pub channels: Vec<Box<dyn PullChannel>>,
    /// The sender of acknowledgements and notices: the first account that
    /// has an `smtp` section (the [`intake_channel::Reply`] names no mailbox,
    /// so with several accounts every reply goes from that one; see docs/email.md).
    pub reply_sender: Option<Arc<dyn ReplySender>>,
}

impl std::fmt::Debug for EmailRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailRegistration")
            .field("channels", &self.channels.len())
            .field("reply_sender", &self.reply_sender.is_some())
            .finish()
    }
}

/// Builds every account's channel (cursors in `store`) and the reply sender.
/// A disabled section gives nothing.
pub fn register(
    config: EmailConfig,
    store: Arc<dyn StateStore>,
) -> Result<EmailRegistration, EmailError> {
    crate::events::describe_metrics();
    let mut registration = EmailRegistration {
        channels: Vec::new(),
        reply_sender: None,
    };
    if !config.enabled {
        return Ok(registration);
    }
    let cursors = Arc::new(StoreCursors(store));
    for account in config.accounts {
        let sender: Option<Arc<dyn ReplySender>> = match &account.smtp {
            Some(smtp) => Some(Arc::new(
                SmtpReplySender::new(&account.address, smtp)
                    .map_err(|e| EmailError::Config(e.to_string()))?,
            )),
            None => None,
        };
        if registration.reply_sender.is_none() {
            registration.reply_sender.clone_from(&sender);
        }
        let channel = EmailChannel::new(
            account,
            config.trusted_authserv_ids.clone(),
            cursors.clone(),
            sender,
        )?;
        registration.channels.push(Box::new(channel));
    }
    Ok(registration)
}
