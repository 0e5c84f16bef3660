//! Test doubles and the conformance suites for adapter tests (feature `test-util`).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use intake_bus::{BusError, Position, Publisher, Record};

/// A publisher that keeps every record in memory, or fails on demand.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    records: Mutex<Vec<Record>>,
    failing: AtomicBool,
}

impl RecordingPublisher {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// From now on every publish fails with [`BusError::Unavailable`] (or works again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// The records published so far, in order.
    pub fn records(&self) -> Vec<Record> {
        self.records.lock().expect("records lock").clone()
    }
}

#[async_trait]
impl Publisher for RecordingPublisher {
    async fn publish(&self, record: Record) -> Result<Position, BusError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(BusError::Unavailable("test publisher set to fail".into()));
        }
        let mut records = self.records.lock().expect("records lock");
        records.push(record);
        Ok(Position {
            partition: 0,
            offset: records.len() as i64 - 1,
        })
    }
}

/// A reply sender that records every reply and answers from a script
/// (delivered, unless a failure was queued with [`FakeReplySender::fail_next`]).
#[derive(Debug)]
pub struct FakeReplySender {
    channel: &'static str,
    sent: Mutex<Vec<crate::Reply>>,
    script: Mutex<std::collections::VecDeque<crate::ReplyError>>,
}

impl FakeReplySender {
    pub fn new(channel: &'static str) -> Arc<Self> {
        Arc::new(Self {
            channel,
            sent: Mutex::new(Vec::new()),
            script: Mutex::new(std::collections::VecDeque::new()),
        })
    }

    /// The next send fails with `error` (queued in order).
    pub fn fail_next(&self, error: crate::ReplyError) {
        self.script.lock().expect("script lock").push_back(error);
    }

    /// Every reply handed to this sender, delivered or not, in order.
    pub fn sent(&self) -> Vec<crate::Reply> {
        self.sent.lock().expect("sent lock").clone()
    }
}

#[async_trait]
impl crate::ReplySender for FakeReplySender {
    fn channel(&self) -> &'static str {
        self.channel
    }

    async fn send(&self, reply: &crate::Reply) -> Result<crate::Delivery, crate::ReplyError> {
        let count = {
            let mut sent = self.sent.lock().expect("sent lock");
            sent.push(reply.clone());
            sent.len()
        };
        if let Some(error) = self.script.lock().expect("script lock").pop_front() {
            return Err(error);
        }
        Ok(crate::Delivery {
            message_id: Some(format!("fake-{count}")),
        })
    }
}

pub use pull_conformance::{
    BusMode, ControlledPublisher, PullTestSource, check_ack_after_publish,
    check_replay_after_crash, pull_conformance,
};

mod pull_conformance;

pub use counting_blobs::CountingBlobStore;

pub use webhook_conformance::{
    WebhookTestSender, check_accepted_only_after_the_bus, check_authentication_required,
    check_malformed_optional_field_dropped, check_malformed_refused, check_oversized_refused,
    check_same_message_same_event_id, webhook_conformance,
};

mod webhook_conformance;

mod config_section;
mod stand_in;
pub use stand_in::{SeenRequest, api_stand_in, pypi_venv};
mod counting_blobs;
pub use config_section::load_channel_options;
