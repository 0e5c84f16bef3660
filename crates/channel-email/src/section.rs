//! The registration of `[channels.email]` with the kit: the section
//! ([`ChannelSection`]: `enabled` and the routing keys are the config
//! crate's) and the adapter ([`Channel`]): every account in one pull channel.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt as _;
use intake_channel::{
    Adapter, BuildContext, BuildError, Channel, ChannelContext, ChannelError, ChannelSection,
    PullChannel, PullStatus, ReplySender, SectionContext,
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::config::{EmailConfig, RawAccount, RawEmailConfig, SecretReader};
use crate::{AccountSenders, CHANNEL, EmailChannel};

/// `[channels.email]` as written, without the keys the config crate owns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailSection {
    /// The support mailboxes, each a shared help@ address (rule 2).
    #[serde(default)]
    pub accounts: Vec<RawAccount>,
    /// `authserv-id`s of your own receiving servers whose
    /// `Authentication-Results` vouch for senders (decision 35).
    #[serde(default)]
    pub trusted_authserv_ids: Vec<String>,
    /// The ticket token of subjects, a template with one `{ticket}`
    /// (default `"[#{ticket}]"`).
    #[serde(default = "crate::config::default_ticket_token")]
    pub ticket_token: String,
}

/// The email channel, as the app's registration list names it.
#[derive(Debug)]
pub struct Email;

impl ChannelSection for Email {
    const NAME: &'static str = CHANNEL;
    type Raw = RawEmailSection;
    type Options = EmailConfig;

    fn validate(raw: RawEmailSection, ctx: &mut SectionContext<'_, '_>) -> Option<EmailConfig> {
        if !ctx.enabled() {
            // Nothing runs; passwords named for later are not read now.
            return None;
        }
        let full = RawEmailConfig {
            enabled: true,
            accounts: raw.accounts,
            trusted_authserv_ids: raw.trusted_authserv_ids,
            ticket_token: raw.ticket_token,
        };
        let mut secrets = SectionSecrets { ctx: &mut *ctx };
        let validated = full.validate_with(&mut secrets);
        match validated {
            Ok(config) => Some(config),
            Err(problems) => {
                let prefix = format!("channels.{CHANNEL}.");
                for problem in problems {
                    let key = problem.key.strip_prefix(&prefix).unwrap_or(&problem.key);
                    ctx.problem(key, problem.message);
                }
                None
            }
        }
    }
}

/// Secrets read by the loader's context (its environment, its problem list).
struct SectionSecrets<'s, 'a, 'b> {
    ctx: &'s mut SectionContext<'a, 'b>,
}

impl SecretReader for SectionSecrets<'_, '_, '_> {
    fn read(
        &mut self,
        key: &str,
        env: &Option<String>,
        file: &Option<std::path::PathBuf>,
        _problems: &mut Vec<crate::config::Problem>,
    ) -> Option<secrecy::SecretString> {
        let prefix = format!("channels.{CHANNEL}.");
        let relative = key.strip_prefix(&prefix).unwrap_or(key);
        self.ctx.secret(relative, env, file)
    }
}

impl Channel for Email {
    fn build(options: &EmailConfig, gateway: &BuildContext) -> Result<Adapter, BuildError> {
        let sender = Self::reply_sender(options)?;
        let cursors = gateway.cursors.clone();
        let mut accounts = Vec::new();
        for account in options.accounts.clone() {
            let channel = EmailChannel::new(
                account,
                options.trusted_authserv_ids.clone(),
                cursors.clone(),
                sender.clone(),
            )
            .map_err(BuildError::from_error)?;
            accounts.push(channel);
        }
        Ok(Adapter::Pull(Box::new(Accounts { accounts })))
    }

    fn reply_sender(options: &EmailConfig) -> Result<Option<Arc<dyn ReplySender>>, BuildError> {
        crate::events::describe_metrics();
        let senders = AccountSenders::new(options).map_err(BuildError::from_error)?;
        Ok(senders.map(|senders| Arc::new(senders) as Arc<dyn ReplySender>))
    }
}

/// Every account of the section, run side by side as one pull channel: one
/// account's failure ends the run of all (the runner restarts them together).
pub struct Accounts {
    accounts: Vec<EmailChannel>,
}

#[async_trait]
impl PullChannel for Accounts {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn run(
        &mut self,
        ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let stop = shutdown.child_token();
        let mut runs: futures::stream::FuturesUnordered<_> = self
            .accounts
            .iter_mut()
            .map(|account| account.run(ctx.clone(), status.clone(), stop.clone()))
            .collect();
        let mut failure = None;
        while let Some(result) = runs.next().await {
            if let Err(error) = result {
                stop.cancel();
                failure.get_or_insert(error);
            }
        }
        failure.map_or(Ok(()), Err)
    }
}
