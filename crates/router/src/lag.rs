//! Bus lag: how many records each channel's consumer group has not marked
//! done yet, sampled every [`LAG_SAMPLE_INTERVAL`] (not per message) into
//! the gauge `intake_bus_consumer_lag_records{topic}`.

use std::time::Duration;

use intake_bus::Consumer;
use tokio::time::Instant;

use crate::telemetry::{ConsumerLagSampled, LagSampleFailed};

/// How often every channel's lag is sampled.
pub(crate) const LAG_SAMPLE_INTERVAL: Duration = Duration::from_secs(10);
/// The longest one consumer's lag query may take (the Kafka backend bounds
/// its own broker requests well below this).
const LAG_TIMEOUT: Duration = Duration::from_secs(10);

/// When the next sample is due. The first one is due at once.
pub(crate) struct LagClock {
    next_at: Instant,
}

impl LagClock {
    pub(crate) fn new() -> Self {
        Self {
            next_at: Instant::now(),
        }
    }

    pub(crate) fn is_due(&self) -> bool {
        Instant::now() >= self.next_at
    }

    pub(crate) fn next_at(&self) -> Instant {
        self.next_at
    }

    /// Schedules the next sample one interval from now.
    pub(crate) fn sampled(&mut self) {
        self.next_at = Instant::now() + LAG_SAMPLE_INTERVAL;
    }
}

/// Samples `consumer`'s lag on `topic` and reports it (gauge + debug log);
/// a failure is reported and leaves the gauge at its last value. Returns
/// the records behind, when known.
pub(crate) async fn sample(topic: &str, consumer: &mut dyn Consumer) -> Option<u64> {
    match tokio::time::timeout(LAG_TIMEOUT, consumer.lag()).await {
        Ok(Ok(partitions)) => {
            let mine = partitions.iter().filter(|p| p.topic == topic);
            let records = mine.clone().map(|p| p.records).sum();
            ConsumerLagSampled {
                topic,
                records,
                partitions: mine.count(),
            }
            .emit();
            Some(records)
        }
        Ok(Err(error)) => {
            LagSampleFailed {
                topic,
                kind: error.kind(),
                message: &error.to_string(),
            }
            .emit();
            None
        }
        Err(_elapsed) => {
            LagSampleFailed {
                topic,
                kind: "timeout",
                message: "the bus did not report the lag in time",
            }
            .emit();
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use intake_bus::{Bus as _, EmbeddedBus, EmbeddedOptions, Record};

    use super::*;

    #[tokio::test]
    async fn samples_records_not_done_on_the_topic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let bus = EmbeddedBus::open(EmbeddedOptions::new(dir.path().join("bus.sqlite")))
            .await
            .expect("open");
        let topic = "intake.events.chat".to_owned();
        for i in 0..3u8 {
            bus.publisher()
                .publish(Record {
                    topic: topic.clone(),
                    key: "k".to_owned(),
                    payload: vec![i],
                    headers: Vec::new(),
                })
                .await
                .expect("publish");
        }
        let mut consumer = bus
            .consumer("router.chat", std::slice::from_ref(&topic))
            .await
            .expect("consumer");
        assert_eq!(sample(&topic, consumer.as_mut()).await, Some(3));
        let first = consumer
            .poll(Duration::from_secs(1))
            .await
            .expect("poll")
            .expect("a record");
        consumer.done(&first).await.expect("done");
        assert_eq!(sample(&topic, consumer.as_mut()).await, Some(2));
    }

    #[tokio::test]
    async fn the_clock_is_due_at_once_then_one_interval_later() {
        let mut clock = LagClock::new();
        assert!(clock.is_due());
        let before = Instant::now();
        clock.sampled();
        assert!(!clock.is_due());
        let wait = clock.next_at() - before;
        assert!(
            wait >= LAG_SAMPLE_INTERVAL && wait < LAG_SAMPLE_INTERVAL + Duration::from_secs(1),
            "next sample in {wait:?}"
        );
    }
}
