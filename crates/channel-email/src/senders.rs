//! [`AccountSenders`]: the email channel's reply sender with several
//! accounts. A reply goes out from the account the customer's mail came in
//! on (`Reply::account`, from the event's `channel_account` through the
//! outcome), over that account's own SMTP settings, so the customer hears
//! back from the address they wrote to. A reply that names no account, or
//! one without an `smtp` section (an account that does not reply), or one
//! that is no longer configured, goes from the first account with `smtp`.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use intake_channel::{Delivery, Reply, ReplyError, ReplySender};

use crate::config::EmailConfig;
use crate::normalise::CHANNEL;
use crate::{SmtpConfigError, SmtpReplySender};

/// One SMTP sender per account that has an `smtp` section.
#[derive(Debug)]
pub struct AccountSenders {
    by_account: BTreeMap<String, Arc<SmtpReplySender>>,
    /// The first account with `smtp`, in config order.
    fallback: Arc<SmtpReplySender>,
}

impl AccountSenders {
    /// The senders of every account with `smtp`; None when there is none.
    pub fn new(config: &EmailConfig) -> Result<Option<Self>, SmtpConfigError> {
        let mut by_account = BTreeMap::new();
        let mut fallback = None;
        for account in &config.accounts {
            if account.smtp.is_none() {
                continue;
            }
            let sender = Arc::new(SmtpReplySender::for_account(account)?);
            fallback.get_or_insert_with(|| Arc::clone(&sender));
            by_account.insert(account.name.clone(), sender);
        }
        Ok(fallback.map(|fallback| Self {
            by_account,
            fallback,
        }))
    }

    /// The sender for `reply`: its account's, else the first account's.
    pub fn sender_for(&self, reply: &Reply) -> &SmtpReplySender {
        reply
            .account
            .as_deref()
            .and_then(|name| self.by_account.get(name))
            .unwrap_or(&self.fallback)
    }
}

#[async_trait]
impl ReplySender for AccountSenders {
    fn channel(&self) -> &'static str {
        CHANNEL
    }

    async fn send(&self, reply: &Reply) -> Result<Delivery, ReplyError> {
        self.sender_for(reply).send(reply).await
    }
}
