//! The Prometheus recorder: installed once, renders what the facade recorded.

use intake_telemetry::events::ShutdownStarted;
use intake_telemetry::{ShutdownReason, metrics};

#[test]
fn render_shows_a_counter_after_it_is_incremented() {
    let handle = metrics();
    let before = handle.render();
    assert!(!before.contains("intake_test_widgets_total"), "{before}");

    metrics::counter!("intake_test_widgets_total", "channel" => "chat").increment(3);
    let after = metrics().render();
    assert!(
        after.contains("intake_test_widgets_total{channel=\"chat\"} 3"),
        "{after}"
    );
}

#[test]
fn seconds_histograms_have_buckets() {
    let handle = metrics();
    metrics::histogram!("intake_test_latency_seconds").record(0.2);
    metrics::histogram!("intake_test_latency_seconds").record(42.0);
    let text = handle.render();
    assert!(
        text.contains("# TYPE intake_test_latency_seconds histogram"),
        "{text}"
    );
    assert!(
        text.contains("intake_test_latency_seconds_bucket{le=\"0.25\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("intake_test_latency_seconds_bucket{le=\"60\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("intake_test_latency_seconds_count 2"),
        "{text}"
    );
}

#[test]
fn typed_events_count_what_they_log() {
    let handle = metrics();
    ShutdownStarted {
        reason: ShutdownReason::Requested,
    }
    .emit();
    let text = handle.render();
    assert!(
        text.contains("intake_shutdowns_total{reason=\"requested\"} 1"),
        "{text}"
    );
}
