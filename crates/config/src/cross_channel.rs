//! `[router.cross_channel]`: the two-channel near-duplicate window (issue 14
//! point 2, decision 53). The same requester sending the same or nearly the
//! same text on two channels within the window makes one ticket; the later
//! copy becomes a comment on it, tagged `intake_cross_channel_duplicate`.

use std::time::Duration;

use serde::Deserialize;

use crate::secret::Ctx;

/// `[router.cross_channel]` as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCrossChannel {
    /// Whether near-duplicates across channels are folded into one ticket.
    #[serde(default = "default_enabled")]
    enabled: bool,
    /// Longest time between the two copies' receipts, in seconds.
    #[serde(default = "default_window_secs")]
    window_secs: u64,
    /// Least similarity of the two texts' word sets (Jaccard index, from
    /// above 0 to 1; 1 means the same words), after case, punctuation,
    /// whitespace and quoted lines are taken out.
    #[serde(default = "default_min_similarity")]
    min_similarity: f64,
    /// Texts of fewer words never count as duplicates ("hi", "thanks").
    #[serde(default = "default_min_words")]
    min_words: u64,
}

fn default_enabled() -> bool {
    true
}
fn default_window_secs() -> u64 {
    600
}
fn default_min_similarity() -> f64 {
    0.8
}
fn default_min_words() -> u64 {
    3
}

impl Default for RawCrossChannel {
    fn default() -> Self {
        Self {
            enabled: default_enabled(),
            window_secs: default_window_secs(),
            min_similarity: default_min_similarity(),
            min_words: default_min_words(),
        }
    }
}

/// The near-duplicate window.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossChannelConfig {
    pub enabled: bool,
    pub window: Duration,
    /// In (0, 1].
    pub min_similarity: f64,
    /// At least 1.
    pub min_words: usize,
}

// `min_similarity` is validated to be a number in (0, 1], never NaN.
impl Eq for CrossChannelConfig {}

impl RawCrossChannel {
    pub(crate) fn validate(self, ctx: &mut Ctx<'_>) -> CrossChannelConfig {
        if self.window_secs == 0 {
            ctx.problem(
                "router.cross_channel.window_secs",
                "must be at least 1 (set enabled = false to turn the window off)",
            );
        }
        let similarity_ok = self.min_similarity > 0.0 && self.min_similarity <= 1.0;
        if !similarity_ok {
            ctx.problem(
                "router.cross_channel.min_similarity",
                "must be above 0 and at most 1",
            );
        }
        if self.min_words == 0 {
            ctx.problem("router.cross_channel.min_words", "must be at least 1");
        }
        CrossChannelConfig {
            enabled: self.enabled,
            window: Duration::from_secs(self.window_secs.max(1)),
            min_similarity: if similarity_ok {
                self.min_similarity
            } else {
                default_min_similarity()
            },
            min_words: usize::try_from(self.min_words.max(1)).unwrap_or(usize::MAX),
        }
    }
}
