//! The pull conformance checks, proven on a tiny example pull channel over
//! an in-memory queue: the correct channel passes both checks, and a channel
//! that acknowledges before publishing fails each of them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use intake_channel::testing::{
    PullTestSource, check_ack_after_publish, check_replay_after_crash, pull_conformance,
};
use intake_channel::{ChannelContext, ChannelError, PullChannel, PullStatus, publish_event};
use intake_event::{Contact, TicketEvent};
use tokio_util::sync::CancellationToken;

/// An upstream queue: messages stay until acknowledged; every fetch offers
/// all unacknowledged ones.
#[derive(Debug, Default)]
struct MemoryQueue {
    messages: Mutex<Vec<(String, String, bool)>>,
}

impl MemoryQueue {
    fn unacknowledged(&self) -> Vec<(String, String)> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .filter(|(_, _, acked)| !acked)
            .map(|(id, text, _)| (id.clone(), text.clone()))
            .collect()
    }

    fn ack(&self, id: &str) {
        let mut messages = self.messages.lock().unwrap();
        for message in messages.iter_mut().filter(|m| m.0 == id) {
            message.2 = true;
        }
    }
}

impl PullTestSource for MemoryQueue {
    fn push(&self, id: &str, text: &str) {
        let mut messages = self.messages.lock().unwrap();
        messages.push((id.to_owned(), text.to_owned(), false));
    }

    fn acknowledged(&self) -> Vec<String> {
        let messages = self.messages.lock().unwrap();
        messages
            .iter()
            .filter(|(_, _, acked)| *acked)
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

/// How the example channel behaves: right, or with one of the bugs the
/// checks must catch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Correct,
    /// Acknowledges, then publishes.
    AcksFirst,
    /// Acknowledges even when the publish failed.
    IgnoresPublishErrors,
    /// Makes up a new message id on every delivery (so a new event id).
    FreshIdPerDelivery,
}

/// The example channel.
struct QueueChannel {
    queue: Arc<MemoryQueue>,
    flavour: Flavour,
}

#[async_trait]
impl PullChannel for QueueChannel {
    fn name(&self) -> &'static str {
        "queue"
    }

    async fn run(
        &mut self,
        ctx: ChannelContext,
        status: PullStatus,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        status.set_connected(true);
        loop {
            for (id, text) in self.queue.unacknowledged() {
                let contact = Contact {
                    key: "queue:customer-1".to_owned(),
                    ..Contact::default()
                };
                let received = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
                let message_id = match self.flavour {
                    Flavour::FreshIdPerDelivery => format!("{id}-{}", rand_suffix()),
                    _ => id.clone(),
                };
                let event = TicketEvent::new("queue", &message_id, contact, &text, received);
                if self.flavour == Flavour::AcksFirst {
                    self.queue.ack(&id);
                }
                let published = publish_event(&ctx, &event).await;
                if self.flavour == Flavour::IgnoresPublishErrors {
                    self.queue.ack(&id);
                }
                published?;
                if self.flavour != Flavour::AcksFirst {
                    self.queue.ack(&id);
                }
            }
            status.fetched();
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    }
}

/// A different suffix on every call (also across channel instances).
fn rand_suffix() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
}

fn correct(queue: Arc<MemoryQueue>) -> Box<dyn PullChannel> {
    Box::new(QueueChannel {
        queue,
        flavour: Flavour::Correct,
    })
}

fn acks_first(queue: Arc<MemoryQueue>) -> Box<dyn PullChannel> {
    Box::new(QueueChannel {
        queue,
        flavour: Flavour::AcksFirst,
    })
}

fn ignores_publish_errors(queue: Arc<MemoryQueue>) -> Box<dyn PullChannel> {
    Box::new(QueueChannel {
        queue,
        flavour: Flavour::IgnoresPublishErrors,
    })
}

fn fresh_id_per_delivery(queue: Arc<MemoryQueue>) -> Box<dyn PullChannel> {
    Box::new(QueueChannel {
        queue,
        flavour: Flavour::FreshIdPerDelivery,
    })
}

#[tokio::test]
async fn a_channel_that_acks_after_publish_passes_the_suite() {
    pull_conformance::<MemoryQueue>(&correct).await;
}

#[tokio::test]
async fn acking_before_publish_fails_the_ack_check() {
    let failure = check_ack_after_publish::<MemoryQueue>(&acks_first)
        .await
        .unwrap_err();
    assert!(failure.contains("acknowledged"), "{failure}");
}

#[tokio::test]
async fn acking_before_publish_fails_the_replay_check() {
    let failure = check_replay_after_crash::<MemoryQueue>(&acks_first)
        .await
        .unwrap_err();
    assert!(failure.contains("acknowledged"), "{failure}");
}

#[tokio::test]
#[should_panic(expected = "pull channel conformance failed")]
async fn the_suite_panics_for_a_channel_that_acks_first() {
    pull_conformance::<MemoryQueue>(&acks_first).await;
}

#[tokio::test]
async fn acking_after_a_refused_publish_fails_the_ack_check() {
    let failure = check_ack_after_publish::<MemoryQueue>(&ignores_publish_errors)
        .await
        .unwrap_err();
    assert!(failure.contains("bus refused"), "{failure}");
}

#[tokio::test]
async fn a_replay_with_another_event_id_fails_the_replay_check() {
    // It acknowledges only after publishing, so the ack check passes ...
    check_ack_after_publish::<MemoryQueue>(&fresh_id_per_delivery)
        .await
        .unwrap();
    // ... but its replay could not be suppressed by the router.
    let failure = check_replay_after_crash::<MemoryQueue>(&fresh_id_per_delivery)
        .await
        .unwrap_err();
    assert!(failure.contains("another event id"), "{failure}");
}
