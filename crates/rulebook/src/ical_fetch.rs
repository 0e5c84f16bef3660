//! Reading the iCalendar absence source (`ical.rs`) at start and every
//! `refresh_secs`: the rulebook's only I/O besides Zendesk and Slack.
//! A failed read keeps the last good copy; every read is logged (with the
//! source redacted to its scheme and host) and counted.

use chrono::Utc;
use tokio_util::sync::CancellationToken;

use crate::events::{AbsenceRefresh, RefreshOutcome};
use crate::ical::{AbsenceFeed, IcalLocation, parse_absences};

/// A client fit for the feed: no redirects (a redirect could lead from
/// https to a plain-text address), the feed's timeout.
pub fn feed_client(feed: &AbsenceFeed) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(feed.options().fetch_timeout)
        .build()
        .unwrap_or_default()
}

impl AbsenceFeed {
    /// Reads the source now and then every `refresh` until `shutdown`.
    pub async fn run(self, client: reqwest::Client, shutdown: CancellationToken) {
        loop {
            self.refresh_once(&client).await;
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(self.options().refresh) => {}
            }
        }
    }

    /// One read and, if good, one replacement. Returns how it ended.
    pub async fn refresh_once(&self, client: &reqwest::Client) -> RefreshOutcome {
        let options = self.options();
        let source = options.location.redacted();
        let read = match &options.location {
            IcalLocation::Url(url) => fetch(client, url, options.max_bytes).await,
            IcalLocation::File(path) => read_file(path, options.max_bytes).await,
        };
        let parsed = read.and_then(|text| {
            parse_absences(&text, options, Utc::now())
                .map_err(|detail| (RefreshOutcome::Invalid, detail))
        });
        match parsed {
            Ok(found) => {
                let absences = found.absences.len();
                AbsenceRefresh {
                    source: &source,
                    outcome: RefreshOutcome::Refreshed,
                    detail: &format!("{absences} absence(s), {} skipped", found.skipped.len()),
                    skipped: &found.skipped,
                }
                .emit();
                self.replace(found.absences);
                RefreshOutcome::Refreshed
            }
            Err((outcome, detail)) => {
                AbsenceRefresh {
                    source: &source,
                    outcome,
                    detail: &detail,
                    skipped: &[],
                }
                .emit();
                outcome
            }
        }
    }
}

async fn fetch(
    client: &reqwest::Client,
    url: &url::Url,
    max_bytes: usize,
) -> Result<String, (RefreshOutcome, String)> {
    let classify = |error: reqwest::Error| {
        let outcome = if error.is_timeout() {
            RefreshOutcome::Timeout
        } else {
            RefreshOutcome::Unreachable
        };
        // Without the URL: it may carry a token.
        (outcome, error.without_url().to_string())
    };
    let mut response = client.get(url.clone()).send().await.map_err(classify)?;
    let status = response.status();
    if !status.is_success() {
        return Err((
            RefreshOutcome::HttpStatus,
            format!("status {}", status.as_u16()),
        ));
    }
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes as u64)
    {
        return Err(too_large(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(classify)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(too_large(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| (RefreshOutcome::Invalid, "not UTF-8".to_owned()))
}

async fn read_file(
    path: &std::path::Path,
    max_bytes: usize,
) -> Result<String, (RefreshOutcome, String)> {
    let unreadable = |error: std::io::Error| (RefreshOutcome::Unreachable, error.to_string());
    let length = tokio::fs::metadata(path).await.map_err(unreadable)?.len();
    if length > max_bytes as u64 {
        return Err(too_large(max_bytes));
    }
    let bytes = tokio::fs::read(path).await.map_err(unreadable)?;
    String::from_utf8(bytes).map_err(|_| (RefreshOutcome::Invalid, "not UTF-8".to_owned()))
}

fn too_large(max_bytes: usize) -> (RefreshOutcome, String) {
    (
        RefreshOutcome::TooLarge,
        format!("over max_bytes ({max_bytes})"),
    )
}
