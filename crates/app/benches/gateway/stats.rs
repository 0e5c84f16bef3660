//! Percentiles of measured durations, and the few values the benchmark reads
//! from the service's Prometheus text.

use std::time::Duration;

/// Nearest-rank percentiles of a set of durations.
#[derive(Debug, Clone, Copy, Default)]
pub struct Percentiles {
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub mean: Duration,
}

impl Percentiles {
    pub fn of(mut samples: Vec<Duration>) -> Percentiles {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| {
            let index = (p * samples.len() as f64).ceil() as usize;
            samples[index.clamp(1, samples.len()) - 1]
        };
        let total: Duration = samples.iter().sum();
        Percentiles {
            p50: rank(0.50),
            p99: rank(0.99),
            max: samples[samples.len() - 1],
            mean: total / u32::try_from(samples.len()).unwrap_or(u32::MAX),
        }
    }
}

/// Count and sum of one histogram series.
#[derive(Debug, Clone, Copy, Default)]
pub struct Histogram {
    pub count: f64,
    pub sum_secs: f64,
}

impl Histogram {
    /// What was recorded between `earlier` and `self`.
    pub fn minus(&self, earlier: &Histogram) -> Histogram {
        Histogram {
            count: self.count - earlier.count,
            sum_secs: self.sum_secs - earlier.sum_secs,
        }
    }

    pub fn mean(&self) -> Option<Duration> {
        (self.count > 0.0).then(|| Duration::from_secs_f64(self.sum_secs / self.count))
    }
}

/// The value of `name{channel="<channel>"}`; 0 when absent.
pub fn counter_value(metrics: &str, name: &str, channel: &str) -> f64 {
    series_value(metrics, name, channel).unwrap_or(0.0)
}

/// Count and sum of the histogram `name` for `channel`.
pub fn histogram_value(metrics: &str, name: &str, channel: &str) -> Histogram {
    Histogram {
        count: series_value(metrics, &format!("{name}_count"), channel).unwrap_or(0.0),
        sum_secs: series_value(metrics, &format!("{name}_sum"), channel).unwrap_or(0.0),
    }
}

fn series_value(metrics: &str, name: &str, channel: &str) -> Option<f64> {
    let label = format!("channel=\"{channel}\"");
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix('{')?;
        let (labels, value) = rest.split_once('}')?;
        if !labels.split(',').any(|l| l == label) {
            return None;
        }
        value.trim().parse().ok()
    })
}

/// A duration in milliseconds with one decimal, for the table.
pub fn ms(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}
