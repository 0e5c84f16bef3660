//! The channel's own telemetry: typed events that log and count.

use metrics::counter;

use crate::normalise::Ignored;

/// Metric names.
pub mod names {
    /// Updates that made no event, by reason.
    pub const UPDATES_IGNORED: &str = "intake_telegram_updates_ignored_total";
    /// Files of a message not downloaded (named on the ticket instead), by reason.
    pub const FILES_NOT_DOWNLOADED: &str = "intake_telegram_files_not_downloaded_total";
}

/// An update was answered 200 without an event (`/start`, a group message
/// not for the bot, an update kind the channel does not take).
#[derive(Debug, Clone, Copy)]
pub struct UpdateIgnored {
    pub reason: Ignored,
}

impl UpdateIgnored {
    pub fn emit(&self) {
        tracing::debug!(
            channel = crate::CHANNEL,
            reason = self.reason.as_str(),
            "update ignored"
        );
        counter!(names::UPDATES_IGNORED, "reason" => self.reason.as_str()).increment(1);
    }
}

/// A file was not downloaded; the ticket names it.
#[derive(Debug, Clone, Copy)]
pub struct FileNotDownloaded<'a> {
    pub event_id: uuid::Uuid,
    /// `too_large` or `refused`.
    pub reason: &'static str,
    pub detail: &'a str,
}

impl FileNotDownloaded<'_> {
    pub fn emit(&self) {
        tracing::warn!(
            channel = crate::CHANNEL,
            event_id = %self.event_id,
            reason = self.reason,
            detail = self.detail,
            "file not downloaded, named on the ticket"
        );
        counter!(names::FILES_NOT_DOWNLOADED, "reason" => self.reason).increment(1);
    }
}
