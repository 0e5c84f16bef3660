//! The pull conformance suite of the channel kit, run on the email channel
//! over the real Dovecot: a mailbox per check, mails APPENDed by Python's
//! imaplib, "acknowledged" meaning moved to the processed folder.

mod common;

use std::sync::Arc;

use common::*;
use intake_channel::PullChannel;
use intake_channel::testing::{PullTestSource, pull_conformance};
use intake_channel_email::EmailChannel;
use intake_channel_email::cursor::MemoryCursors;

/// A fresh Dovecot mailbox; its cursor outlives a channel "crash".
struct DovecotMailbox {
    user: String,
    cursors: Arc<MemoryCursors>,
}

impl Default for DovecotMailbox {
    fn default() -> Self {
        Self {
            user: fresh_user(),
            cursors: Arc::new(MemoryCursors::default()),
        }
    }
}

impl PullTestSource for DovecotMailbox {
    fn push(&self, id: &str, text: &str) {
        append(
            &self.user,
            "INBOX",
            &mail(
                &self.user,
                &format!("{id}@conformance.test"),
                "conformance",
                text,
            ),
        );
    }

    fn acknowledged(&self) -> Vec<String> {
        list(&self.user, "Processed")
            .into_iter()
            .filter_map(|m| {
                m.message_id
                    .trim_matches(['<', '>'])
                    .strip_suffix("@conformance.test")
                    .map(str::to_owned)
            })
            .collect()
    }
}

fn channel(mailbox: Arc<DovecotMailbox>) -> Box<dyn PullChannel> {
    let account = account(&mailbox.user, "", "");
    Box::new(EmailChannel::new(account, Vec::new(), mailbox.cursors.clone(), None).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_email_channel_passes_the_pull_conformance_suite_on_dovecot() {
    let Some(()) = servers(false) else { return };
    pull_conformance::<DovecotMailbox>(&channel).await;
}
