//! Test doubles for adapter tests (feature `test-util`).

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
