//! Periodic refresh of iCalendar URLs (`calendars.<name>.ical_url`), the one
//! part of this crate that does I/O (feature `refresh`).
//!
//! [`LivePolicies`] holds the current [`SlaPolicies`]; [`run_feed`] fetches
//! a feed at start and every `refresh_secs`, and on success replaces that
//! calendar's iCalendar layer. A failed fetch or an unparsable document
//! keeps the last good copy (or none, before the first success), and is
//! logged and counted (`intake_calendar_refreshes_total{calendar,outcome}`);
//! [`LivePolicies::status`] reports the same.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use metrics::counter;
use tokio_util::sync::CancellationToken;

use crate::calendar::Layer;
use crate::config::IcalFeed;
use crate::ical::parse_ical;
use crate::sla::SlaPolicies;

/// Metric names.
pub mod names {
    pub const CALENDAR_REFRESHES: &str = "intake_calendar_refreshes_total";
}

/// Largest iCalendar document accepted, in bytes.
pub const MAX_FEED_BYTES: usize = 5 * 1024 * 1024;

/// Timeout of one fetch.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Registers the help text with the installed recorder.
pub fn describe_metrics() {
    metrics::describe_counter!(
        names::CALENDAR_REFRESHES,
        "iCalendar feed fetches by calendar and outcome; on failure the last good copy stays in use"
    );
}

/// How one refresh ended. The label value is [`Outcome::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Fetched and parsed; the calendar now uses it.
    Refreshed,
    /// The server answered with a non-2xx status.
    HttpStatus,
    /// No answer in time.
    Timeout,
    /// Connection refused, DNS failure, broken transfer.
    Unreachable,
    /// Larger than [`MAX_FEED_BYTES`].
    TooLarge,
    /// Not an iCalendar document (or not UTF-8).
    Invalid,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refreshed => "refreshed",
            Self::HttpStatus => "http_status",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::TooLarge => "too_large",
            Self::Invalid => "invalid",
        }
    }
}

/// What the refresh of one calendar has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefreshStatus {
    pub successes: u64,
    pub failures: u64,
    /// The last failure's outcome and detail (no URL credentials: the
    /// detail is the status code or the error kind).
    pub last_failure: Option<(Outcome, String)>,
    /// Days the last good copy contributed.
    pub days: usize,
}

/// The current SLA policies and calendars, shared by readers and the
/// refresh tasks. Reads clone an `Arc` under a short lock, never across an
/// `.await`.
#[derive(Debug, Clone)]
pub struct LivePolicies {
    current: Arc<RwLock<Arc<SlaPolicies>>>,
    status: Arc<RwLock<BTreeMap<String, RefreshStatus>>>,
}

impl LivePolicies {
    pub fn new(policies: SlaPolicies) -> Self {
        Self {
            current: Arc::new(RwLock::new(Arc::new(policies))),
            status: Arc::default(),
        }
    }

    /// The policies as of now.
    pub fn current(&self) -> Arc<SlaPolicies> {
        match self.current.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// The refresh status of `calendar` (default when never refreshed).
    pub fn status(&self, calendar: &str) -> RefreshStatus {
        let map = match self.status.read() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(calendar).cloned().unwrap_or_default()
    }

    fn record(&self, calendar: &str, update: impl FnOnce(&mut RefreshStatus)) {
        let mut map = match self.status.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        update(map.entry(calendar.to_owned()).or_default());
    }

    /// Replaces the iCalendar layer of `calendar` with `text`'s days.
    fn apply(&self, calendar: &str, text: &str) -> Result<usize, String> {
        let days = parse_ical(text).map_err(|error| error.to_string())?;
        let count = days.rules.len();
        let mut guard = match self.current.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let Some(existing) = guard.calendars().get(calendar) else {
            return Err(format!("no calendar {calendar:?}"));
        };
        let mut updated = (**existing).clone();
        updated.set_layer(Layer::Ical, days.rules);
        let mut policies = (**guard).clone();
        policies.replace_calendar(updated);
        *guard = Arc::new(policies);
        Ok(count)
    }
}

/// Fetches `feed` now and then every `feed.refresh` until `shutdown`.
pub async fn run_feed(
    live: LivePolicies,
    feed: IcalFeed,
    client: reqwest::Client,
    shutdown: CancellationToken,
) {
    loop {
        refresh_once(&live, &feed, &client).await;
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(feed.refresh) => {}
        }
    }
}

/// One fetch and, if good, one update. Returns how it ended.
pub async fn refresh_once(
    live: &LivePolicies,
    feed: &IcalFeed,
    client: &reqwest::Client,
) -> Outcome {
    let result = match fetch(client, &feed.url).await {
        Ok(text) => live
            .apply(&feed.calendar, &text)
            .map_err(|detail| (Outcome::Invalid, detail)),
        Err(failure) => Err(failure),
    };
    let outcome = match result {
        Ok(days) => {
            live.record(&feed.calendar, |status| {
                status.successes += 1;
                status.days = days;
            });
            tracing::info!(calendar = %feed.calendar, days, "calendar feed refreshed");
            Outcome::Refreshed
        }
        Err((outcome, detail)) => {
            live.record(&feed.calendar, |status| {
                status.failures += 1;
                status.last_failure = Some((outcome, detail.clone()));
            });
            tracing::warn!(
                calendar = %feed.calendar,
                outcome = outcome.as_str(),
                error = %detail,
                "calendar feed refresh failed, keeping the last good copy"
            );
            outcome
        }
    };
    counter!(
        names::CALENDAR_REFRESHES,
        "calendar" => feed.calendar.clone(),
        "outcome" => outcome.as_str()
    )
    .increment(1);
    outcome
}

async fn fetch(client: &reqwest::Client, url: &url::Url) -> Result<String, (Outcome, String)> {
    let classify = |error: reqwest::Error| {
        let outcome = if error.is_timeout() {
            Outcome::Timeout
        } else {
            Outcome::Unreachable
        };
        // Without the URL: it may carry a token in its query.
        (outcome, error.without_url().to_string())
    };
    let mut response = client
        .get(url.clone())
        .timeout(FETCH_TIMEOUT)
        .send()
        .await
        .map_err(classify)?;
    let status = response.status();
    if !status.is_success() {
        return Err((Outcome::HttpStatus, format!("status {}", status.as_u16())));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > MAX_FEED_BYTES {
            return Err((Outcome::TooLarge, format!("over {MAX_FEED_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| (Outcome::Invalid, "not UTF-8".to_owned()))
}
