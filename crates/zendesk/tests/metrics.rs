//! The client's metrics: fixed endpoint names, status classes, retries.

mod common;

use anyhow::Result;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use serde_json::json;

fn counter(
    snapshot: &[(metrics_util::CompositeKey, DebugValue)],
    name: &str,
    labels: &[(&str, &str)],
) -> u64 {
    snapshot
        .iter()
        .filter(|(key, _)| key.key().name() == name)
        .filter(|(key, _)| {
            labels.iter().all(|(k, v)| {
                key.key()
                    .labels()
                    .any(|label| label.key() == *k && label.value() == *v)
            })
        })
        .map(|(_, value)| match value {
            DebugValue::Counter(n) => *n,
            _ => 0,
        })
        .sum()
}

#[test]
fn calls_and_retries_are_counted_with_bounded_labels() -> Result<()> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let sim = common::start(common::config(None)).await?;
            sim.fault(json!({"status": 500, "count": 1, "path_prefix": "/api/v2/groups"}))
                .await?;
            let client = sim.client(700, 3);
            client.groups().await?;
            let missing = client.show_ticket(424_242).await;
            assert!(missing.is_err());
            anyhow::Ok(())
        })
    })?;
    let snapshot: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| (key, value))
        .collect();
    let calls = intake_zendesk::CALLS_TOTAL;
    assert_eq!(
        counter(
            &snapshot,
            calls,
            &[("endpoint", "groups"), ("status_class", "5xx")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            calls,
            &[("endpoint", "groups"), ("status_class", "2xx")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            calls,
            &[("endpoint", "show_ticket"), ("status_class", "4xx")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            intake_zendesk::RETRIES_TOTAL,
            &[("endpoint", "groups")]
        ),
        1
    );
    assert_eq!(
        counter(
            &snapshot,
            intake_zendesk::RETRIES_TOTAL,
            &[("endpoint", "show_ticket")]
        ),
        0
    );
    // No label carries an id, a URL or error text.
    for (key, _) in &snapshot {
        for label in key.key().labels() {
            assert!(
                !label.value().contains('/')
                    && !label
                        .value()
                        .chars()
                        .any(|c| c.is_ascii_digit() && label.key() == "endpoint"),
                "unbounded label {}={}",
                label.key(),
                label.value()
            );
        }
    }
    let gauge = snapshot
        .iter()
        .find(|(key, _)| key.key().name() == intake_zendesk::RATE_BUDGET_REMAINING);
    assert!(
        gauge.is_some(),
        "the budget gauge is set from the response headers"
    );
    Ok(())
}
