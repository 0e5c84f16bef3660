//! Consumer lag on Kafka: per assigned partition, the high watermark minus
//! the group's position (what this member marked done, else the group's
//! committed offset, else the low watermark where a new group starts).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::Offset;
use rdkafka::consumer::{Consumer as _, StreamConsumer};

use super::client::{GroupContext, classify};
use crate::{BusError, PartitionLag};

/// The least time left for one broker request within the overall budget.
const MIN_REQUEST_TIMEOUT: Duration = Duration::from_millis(100);

/// Measures the lag of every partition assigned to `consumer`, within
/// `budget` overall. Blocks on broker round trips: call off the async threads.
pub(super) fn measure(
    consumer: &StreamConsumer<GroupContext>,
    done_offsets: &HashMap<(String, i32), i64>,
    budget: Duration,
) -> Result<Vec<PartitionLag>, BusError> {
    let deadline = Instant::now() + budget;
    let assignment = consumer
        .assignment()
        .map_err(|e| classify("reading the consumer's assignment", &e))?;
    if assignment.count() == 0 {
        return Ok(Vec::new());
    }
    let committed = consumer
        .committed_offsets(assignment, remaining(deadline)?)
        .map_err(|e| classify("reading the group's committed offsets", &e))?;
    let mut lags = Vec::with_capacity(committed.count());
    for element in committed.elements() {
        let (topic, partition) = (element.topic(), element.partition());
        let (low, high) = consumer
            .fetch_watermarks(topic, partition, remaining(deadline)?)
            .map_err(|e| {
                classify(
                    &format!("reading the watermarks of {topic}/{partition}"),
                    &e,
                )
            })?;
        let committed_position = match element.offset() {
            Offset::Offset(offset) => Some(offset),
            _ => None,
        };
        let done_position = done_offsets
            .get(&(topic.to_owned(), partition))
            .map(|offset| offset + 1);
        let position = match (committed_position, done_position) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b).unwrap_or(low),
        };
        // Records below the low watermark are gone (retention): not lag.
        let position = position.max(low);
        lags.push(PartitionLag {
            topic: topic.to_owned(),
            partition,
            records: u64::try_from(high - position).unwrap_or(0),
        });
    }
    Ok(lags)
}

fn remaining(deadline: Instant) -> Result<Duration, BusError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < MIN_REQUEST_TIMEOUT {
        return Err(BusError::Unavailable(
            "kafka did not answer the lag requests in time".to_owned(),
        ));
    }
    Ok(left)
}
