//! The process-wide Prometheus recorder behind the `metrics` facade.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Bucket upper bounds, in seconds, for every histogram named `*_seconds`:
/// from fast webhook handling to a mail that waited out a Zendesk outage.
pub const SECONDS_BUCKETS: &[f64] = &[
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0,
];

/// How often histogram samples are folded in even when nobody scrapes.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

static HANDLE: OnceLock<MetricsHandle> = OnceLock::new();

/// Renders the metrics recorded through the `metrics` facade.
#[derive(Debug, Clone)]
pub struct MetricsHandle {
    inner: PrometheusHandle,
}

impl MetricsHandle {
    /// Everything recorded so far, in the Prometheus text format.
    pub fn render(&self) -> String {
        self.inner.render()
    }
}

/// Installs the Prometheus recorder (once per process) and returns the handle
/// to render it. It opens no listener: the gateway serves `GET /metrics`.
///
/// If another global recorder was installed first, the returned handle
/// renders an empty registry and a warning is logged.
pub fn metrics() -> MetricsHandle {
    HANDLE.get_or_init(install).clone()
}

fn install() -> MetricsHandle {
    let builder = match PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), SECONDS_BUCKETS)
    {
        Ok(builder) => builder,
        // Only fails for an empty bucket list, which SECONDS_BUCKETS is not.
        Err(error) => {
            tracing::warn!(error = %error, "histogram buckets rejected, using summaries");
            PrometheusBuilder::new()
        }
    };
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if let Err(error) = metrics::set_global_recorder(recorder) {
        tracing::warn!(error = %error, "another metrics recorder is installed, /metrics stays empty");
    }
    spawn_upkeep(handle.clone());
    MetricsHandle { inner: handle }
}

fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".to_owned())
        .spawn(move || {
            loop {
                pause_upkeep_thread();
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(error = %error, "metrics upkeep thread not started");
    }
}

#[expect(
    clippy::disallowed_methods,
    reason = "runs on the dedicated upkeep OS thread, never in async code"
)]
fn pause_upkeep_thread() {
    std::thread::sleep(UPKEEP_INTERVAL);
}
