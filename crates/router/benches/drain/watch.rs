//! When each event's outcome appeared on the bus: the benchmark's clock
//! for "the ticket exists" (the router publishes an event's outcome right
//! after its Zendesk effect). Reading the outcomes topic keeps the
//! benchmark off the simulator while it runs: rendering every ticket of the
//! simulator under its lock, as an earlier version did every 20 ms, slowed
//! the simulator's answers and took CPU from the router being measured.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use intake_bus::Bus;

/// Outcomes seen so far, by event id (the first sighting of each).
#[derive(Clone, Default)]
pub struct Seen(Arc<Mutex<HashMap<String, Instant>>>);

impl Seen {
    pub fn count(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    pub fn at(&self, event_id: &str) -> Option<Instant> {
        self.0.lock().unwrap().get(event_id).copied()
    }
}

/// Reads `outcomes` from its beginning with a group of its own until
/// `stop` is set; returns what it has seen (filled as it goes).
pub async fn outcomes(bus: &Arc<dyn Bus>, outcomes: String, stop: Arc<AtomicBool>) -> Seen {
    let mut consumer = bus
        .consumer("bench-outcome-watch", &[outcomes])
        .await
        .unwrap();
    let seen = Seen::default();
    let filled = seen.clone();
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            let Ok(Some(delivery)) = consumer.poll(Duration::from_millis(100)).await else {
                continue;
            };
            let now = Instant::now();
            let outcome: serde_json::Value =
                serde_json::from_slice(&delivery.payload).unwrap_or_default();
            if let Some(id) = outcome["event_id"].as_str() {
                filled.0.lock().unwrap().entry(id.to_owned()).or_insert(now);
            }
        }
    });
    seen
}

/// Moves chats whose outcome was seen from `pending` to `latencies`
/// (publish to outcome).
pub fn collect(seen: &Seen, pending: &mut Vec<(String, Instant)>, latencies: &mut Vec<Duration>) {
    pending.retain(|(id, sent)| match seen.at(id) {
        Some(at) => {
            latencies.push(at.saturating_duration_since(*sent));
            false
        }
        None => true,
    });
}
