//! [`EmailChannel`]: one support mailbox as a [`PullChannel`]. A run
//! connects, catches up by UID (cursor in the state store), then waits in
//! IDLE (re-issued before the configured renewal, at most 29 minutes) or
//! polls, and hands every mail off (flag, then move) only after the bus
//! confirmed its event.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryStreamExt as _;
use intake_channel::{ChannelContext, ChannelError, PullChannel, PullStatus, ReplySender};
use tokio_rustls::rustls::ClientConfig;
use tokio_util::sync::CancellationToken;

use crate::config::{AccountConfig, ForeignRecipientPolicy};
use crate::connect::{ImapSession, open_session, tls_config};
use crate::cursor::{CursorStore, UidCursor, scope};
use crate::error::EmailError;
use crate::events;
use crate::normalise::{CHANNEL, Mailbox};

/// The keyword set on every handed-off mail (before it is moved), so an
/// interrupted move is finished, and a flag-only mailbox is not read twice.
pub const PROCESSED_KEYWORD: &str = "$IntakeProcessed";

/// What the server can do, from its CAPABILITY answer.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Capabilities {
    pub idle: bool,
    pub mv: bool,
    pub uidplus: bool,
}

/// One support mailbox, read over IMAP.
pub struct EmailChannel {
    pub(crate) account: Arc<AccountConfig>,
    pub(crate) mailbox: Mailbox,
    pub(crate) cursors: Arc<dyn CursorStore>,
    pub(crate) pointer_sender: Option<Arc<dyn ReplySender>>,
    pub(crate) tls: Arc<ClientConfig>,
    pub(crate) raw_inline_max_bytes: usize,
    pub(crate) tokens: Option<Arc<crate::oauth::TokenSource>>,
}

impl std::fmt::Debug for EmailChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("account", &self.account.name)
            .field("address", &self.account.address)
            .finish_non_exhaustive()
    }
}

impl EmailChannel {
    /// The channel of `account`. `pointer_sender` sends the rule-2 pointer
    /// replies (required when the account refuses foreign mail with a pointer).
    pub fn new(
        account: AccountConfig,
        trusted_authserv_ids: Vec<String>,
        cursors: Arc<dyn CursorStore>,
        pointer_sender: Option<Arc<dyn ReplySender>>,
    ) -> Result<Self, EmailError> {
        if account.foreign_recipient == ForeignRecipientPolicy::RefuseWithPointer
            && (pointer_sender.is_none() || account.smtp.is_none())
        {
            return Err(EmailError::Config(format!(
                "account {}: foreign_recipient = \"refuse_with_pointer\" needs an smtp section",
                account.name
            )));
        }
        let tls = tls_config(account.imap.ca_file.as_deref())?;
        // Shared with the account's SMTP sender (`AccountSenders`).
        let tokens = match &account.imap.auth {
            crate::config::ImapAuth::XOAuth2(oauth2) => Some(match &account.tokens {
                Some(tokens) => Arc::clone(tokens),
                None => Arc::new(crate::oauth::TokenSource::new(
                    &account.name,
                    oauth2.clone(),
                )?),
            }),
            crate::config::ImapAuth::Password(_) => None,
        };
        let mailbox = Mailbox::of_account(&account, trusted_authserv_ids);
        Ok(Self {
            account: Arc::new(account),
            mailbox,
            cursors,
            pointer_sender,
            tls,
            raw_inline_max_bytes: intake_channel::DEFAULT_RAW_INLINE_MAX_BYTES,
            tokens,
        })
    }

    /// Bounds one server exchange by the command timeout.
    pub(crate) async fn timed<T>(
        &self,
        what: &str,
        future: impl Future<Output = Result<T, async_imap::error::Error>>,
    ) -> Result<T, EmailError> {
        let limit = self.account.imap.command_timeout;
        match tokio::time::timeout(limit, future).await {
            Ok(result) => result.map_err(EmailError::from),
            Err(_) => Err(EmailError::Stalled(format!(
                "{what}: no answer within {} s",
                limit.as_secs()
            ))),
        }
    }

    async fn capabilities(&self, session: &mut ImapSession) -> Result<Capabilities, EmailError> {
        let caps = self.timed("CAPABILITY", session.capabilities()).await?;
        Ok(Capabilities {
            idle: caps.has_str("IDLE"),
            mv: caps.has_str("MOVE"),
            uidplus: caps.has_str("UIDPLUS"),
        })
    }

    /// Creates the processed folder unless it exists.
    async fn ensure_folder(&self, session: &mut ImapSession) -> Result<(), EmailError> {
        let Some(folder) = &self.account.imap.processed_folder else {
            return Ok(());
        };
        match self.timed("CREATE", session.create(folder)).await {
            Ok(()) => Ok(()),
            // Already there: [ALREADYEXISTS] (RFC 5530), or servers that just say NO.
            Err(EmailError::Protocol(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One session: connect, then catch up and wait until shutdown or an error.
    async fn session(
        &self,
        ctx: &ChannelContext,
        status: &PullStatus,
        shutdown: &CancellationToken,
    ) -> Result<(), EmailError> {
        let token = match &self.tokens {
            Some(tokens) => Some(tokens.access_token().await?),
            None => None,
        };
        let opened = open_session(&self.account.imap, &self.tls, token).await;
        if let (Err(EmailError::Token(message)), Some(tokens)) = (&opened, &self.tokens) {
            // Refused by the server (revoked, expired early): fetch a new one next time.
            tokens.invalidate().await;
            events::token_failed(&self.account.name, "rejected", message);
        }
        let mut session = opened?;
        status.set_connected(true);
        events::connected(&self.account.name, true);
        tracing::info!(channel = CHANNEL, account = %self.account.name, "imap session open");
        let caps = self.capabilities(&mut session).await?;
        self.ensure_folder(&mut session).await?;
        loop {
            let selected = self
                .timed("SELECT", session.select(&self.account.imap.mailbox))
                .await?;
            let validity = selected
                .uid_validity
                .ok_or_else(|| EmailError::Protocol("SELECT gave no UIDVALIDITY".to_owned()))?;
            self.catch_up(&mut session, ctx, caps, validity, shutdown)
                .await?;
            status.fetched();
            let new_mail = drain_unsolicited(&mut session);
            if shutdown.is_cancelled() {
                let _ = self.timed("LOGOUT", session.logout()).await;
                return Ok(());
            }
            if new_mail {
                continue;
            }
            if caps.idle {
                let (next, stop) = self.idle(session, shutdown).await?;
                session = next;
                if stop {
                    let _ = self.timed("LOGOUT", session.logout()).await;
                    return Ok(());
                }
            } else {
                tokio::select! {
                    () = shutdown.cancelled() => {
                        let _ = self.timed("LOGOUT", session.logout()).await;
                        return Ok(());
                    }
                    () = tokio::time::sleep(self.account.imap.poll_interval) => {}
                }
            }
        }
    }

    /// Waits in IDLE until the server reports a change, the renewal time
    /// passes, or shutdown. Returns the session and whether to stop.
    async fn idle(
        &self,
        session: ImapSession,
        shutdown: &CancellationToken,
    ) -> Result<(ImapSession, bool), EmailError> {
        let renew = self.account.imap.idle_renew;
        let mut handle = session.idle();
        self.timed("IDLE", handle.init()).await?;
        let stop = {
            let (wait, interrupt) = handle.wait_with_timeout(renew);
            let outcome = tokio::select! {
                () = shutdown.cancelled() => None,
                // Our own clock too: keep-alives reset the library's timeout,
                // and the IDLE must still be re-issued in time.
                waited = tokio::time::timeout(renew, wait) => Some(waited),
            };
            drop(interrupt);
            match outcome {
                None => true,
                Some(Ok(Err(e))) => return Err(e.into()),
                Some(Ok(Ok(_)) | Err(_)) => false,
            }
        };
        let session = self.timed("DONE", handle.done()).await?;
        Ok((session, stop))
    }

    /// Hands off every mail not handed off yet, oldest first.
    async fn catch_up(
        &self,
        session: &mut ImapSession,
        ctx: &ChannelContext,
        caps: Capabilities,
        validity: u32,
        shutdown: &CancellationToken,
    ) -> Result<(), EmailError> {
        let name = &self.account.name;
        let scope = scope(name, &self.account.imap.mailbox);
        let stored = self
            .cursors
            .cursor(&scope)
            .await?
            .as_deref()
            .and_then(UidCursor::parse);
        let last_uid = match stored {
            Some(cursor) if cursor.uid_validity == validity => cursor.last_uid,
            Some(cursor) => {
                // Old UIDs mean nothing now; what is not flagged is not handed off.
                events::uidvalidity_changed(name, cursor.uid_validity, validity);
                0
            }
            None => 0,
        };
        if self.account.imap.processed_folder.is_some() {
            // Flagged but still here: a move interrupted by a crash or a drop.
            let query = format!("KEYWORD {PROCESSED_KEYWORD}");
            for uid in self.search(session, &query).await? {
                self.move_out(session, caps, uid).await?;
            }
        }
        let query = if last_uid == 0 {
            format!("UNKEYWORD {PROCESSED_KEYWORD}")
        } else {
            format!("UID {}:* UNKEYWORD {PROCESSED_KEYWORD}", last_uid + 1)
        };
        let uids: Vec<u32> = self
            .search(session, &query)
            .await?
            .into_iter()
            .filter(|uid| *uid > last_uid)
            .collect();
        events::backlog(name, uids.len());
        if stored.is_none_or(|c| c.uid_validity != validity) {
            let fresh = UidCursor {
                uid_validity: validity,
                last_uid,
            };
            self.cursors.set_cursor(&scope, &fresh.render()).await?;
        }
        for (done, uid) in uids.iter().enumerate() {
            if shutdown.is_cancelled() {
                events::backlog(name, uids.len() - done);
                return Ok(());
            }
            self.take(session, ctx, caps, *uid).await?;
            let cursor = UidCursor {
                uid_validity: validity,
                last_uid: *uid,
            };
            self.cursors.set_cursor(&scope, &cursor.render()).await?;
            events::backlog(name, uids.len() - done - 1);
        }
        events::synced(name, 0);
        Ok(())
    }

    /// UIDs matching `query`, ascending.
    async fn search(&self, session: &mut ImapSession, query: &str) -> Result<Vec<u32>, EmailError> {
        let found = self.timed("UID SEARCH", session.uid_search(query)).await?;
        let mut uids: Vec<u32> = found.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// Flags `uid` as handed off, then moves it to the processed folder.
    pub(crate) async fn hand_off(
        &self,
        session: &mut ImapSession,
        caps: Capabilities,
        uid: u32,
    ) -> Result<(), EmailError> {
        let flags = format!("+FLAGS.SILENT (\\Seen {PROCESSED_KEYWORD})");
        self.timed("UID STORE", async {
            session
                .uid_store(uid.to_string(), &flags)
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if self.account.imap.processed_folder.is_none() {
            events::handed_off(&self.account.name, uid, "flagged");
            return Ok(());
        }
        self.move_out(session, caps, uid).await
    }

    async fn move_out(
        &self,
        session: &mut ImapSession,
        caps: Capabilities,
        uid: u32,
    ) -> Result<(), EmailError> {
        let Some(folder) = &self.account.imap.processed_folder else {
            return Ok(());
        };
        let set = uid.to_string();
        if caps.mv {
            self.timed("UID MOVE", session.uid_mv(&set, folder)).await?;
            events::handed_off(&self.account.name, uid, "moved");
            return Ok(());
        }
        self.timed("UID COPY", session.uid_copy(&set, folder))
            .await?;
        self.timed("UID STORE", async {
            session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?
                .try_collect::<Vec<_>>()
                .await
        })
        .await?;
        if caps.uidplus {
            self.timed("UID EXPUNGE", async {
                session
                    .uid_expunge(&set)
                    .await?
                    .try_collect::<Vec<_>>()
                    .await
            })
            .await?;
        } else {
            self.timed("EXPUNGE", async {
                session.expunge().await?.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        events::handed_off(&self.account.name, uid, "copied");
        Ok(())
    }
}

/// Empties the queue of unsolicited responses (it must not fill up); true
/// when one announced new mail (EXISTS, RECENT) that arrived during the
/// catch-up, so the caller catches up again instead of waiting in IDLE.
fn drain_unsolicited(session: &mut ImapSession) -> bool {
    use async_imap::types::UnsolicitedResponse;
    let mut new_mail = false;
    while let Ok(response) = session.unsolicited_responses.try_recv() {
        new_mail |= matches!(
            response,
            UnsolicitedResponse::Exists(_) | UnsolicitedResponse::Recent(_)
        );
    }
    new_mail
}

/// Longest wait for the pointer reply of a refused foreign mail.
pub(crate) const POINTER_DEADLINE: Duration = Duration::from_secs(60);

#[async_trait]
impl PullChannel for EmailChannel {
    fn name(&self) -> &'static str {
        CHANNEL
    }

    async fn run(
        &mut self,
        ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        let result = self.session(&ctx, &status, &shutdown).await;
        events::connected(&self.account.name, false);
        status.set_connected(false);
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                events::connection_failed(&self.account.name, &error);
                Err(error.into())
            }
        }
    }
}
