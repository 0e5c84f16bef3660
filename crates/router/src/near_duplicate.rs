//! Two-channel near-duplicates (decision 53): the same requester sending the
//! same or nearly the same text on two channels within a window makes one
//! ticket; the later message becomes a comment on it that names its channel
//! and tags the ticket [`CROSS_CHANNEL_TAG`].
//!
//! # Normalised text and similarity
//! Quoted lines (`>` …, mail replies quoting the earlier message) are
//! dropped; the rest is lower-cased, every character that is not a letter or
//! digit becomes a space, and whitespace is collapsed. Two texts match when
//! their normalised forms are equal (compared by a SHA-256 hash) or when the
//! Jaccard similarity of their word sets, |A ∩ B| / |A ∪ B|, is at least the
//! configured threshold (default 0.8: "my printer is broken again" and
//! "printer is broken again!" share 4 of 5 words). A word set ignores order
//! and repetition, which is what retyping or a messenger's formatting
//! changes; a threshold well above one half keeps two different requests
//! that share a few words apart. Texts of fewer than `min_words` words never
//! match ("hi", "thanks": too little to tell).
//!
//! # Exactly one original, across routers
//! The two copies come on two channels, so on two partitions and maybe two
//! routers at once: per-conversation fencing does not cover them. The claim
//! is one state-store call ([`intake_store::StateStore::claim_cross_channel`])
//! that compares and records under a per-requester lock (PostgreSQL:
//! an advisory transaction lock), so exactly one copy is the original. A
//! duplicate finds the original's ticket in the original's event record; while
//! there is none yet it waits (its conversation is parked and retried) until
//! the original's router records it. An original that never gets a ticket
//! ([`ORIGINAL_WAIT`] past the window) frees the duplicate, which then makes
//! its own.

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::Utc;
use intake_event::TicketEvent;
use intake_store::{CrossChannelClaim, CrossChannelMessage};
use intake_zendesk::Status;
use sha2::{Digest, Sha256};

use crate::conversation::Target;
use crate::dlq::DlqReason;
use crate::process::{Failure, ParkReason, Processor};
use crate::telemetry::CrossChannelDuplicate;

/// Tag of a ticket that received a near-duplicate from a second channel.
pub const CROSS_CHANNEL_TAG: &str = "intake_cross_channel_duplicate";

/// How long past the window after the original's receipt a duplicate waits
/// for the original's ticket before it makes its own (the original was
/// dead-lettered, or its router is far behind).
pub const ORIGINAL_WAIT: Duration = Duration::from_secs(3600);

/// How near-duplicates across channels are recognised.
#[derive(Debug, Clone, PartialEq)]
pub struct CrossChannelOptions {
    /// Longest time between the two copies' receipts.
    pub window: Duration,
    /// Least Jaccard similarity of the two word sets (0 < s ≤ 1).
    pub min_similarity: f64,
    /// Texts with fewer words never match.
    pub min_words: usize,
}

impl Default for CrossChannelOptions {
    fn default() -> Self {
        Self {
            window: default_cross_channel_window(),
            min_similarity: default_cross_channel_min_similarity(),
            min_words: default_cross_channel_min_words(),
        }
    }
}

/// 10 minutes (issue 14).
pub fn default_cross_channel_window() -> Duration {
    Duration::from_secs(600)
}

pub fn default_cross_channel_min_similarity() -> f64 {
    0.8
}

pub fn default_cross_channel_min_words() -> usize {
    3
}

/// A text normalised for comparison: its words (in order) and their hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub words: Vec<String>,
    /// Lower-case hex SHA-256 of the words joined by single spaces.
    pub hash: String,
}

/// Normalises `text` (see the module doc).
pub fn normalise(text: &str) -> Normalised {
    let kept: String = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n");
    let spaced: String = kept
        .chars()
        .flat_map(char::to_lowercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let words: Vec<String> = spaced.split_whitespace().map(str::to_owned).collect();
    let hash = hex::encode(Sha256::digest(words.join(" ").as_bytes()));
    Normalised { words, hash }
}

/// Jaccard similarity of two word sets (1.0 for two empty sets).
pub fn similarity<'a>(
    a: impl IntoIterator<Item = &'a str>,
    b: impl IntoIterator<Item = &'a str>,
) -> f64 {
    let a: BTreeSet<&str> = a.into_iter().collect();
    let b: BTreeSet<&str> = b.into_iter().collect();
    let union = a.union(&b).count();
    if union == 0 {
        return 1.0;
    }
    a.intersection(&b).count() as f64 / union as f64
}

/// Whether an earlier message (hash and space-separated words) matches `text`.
pub fn matches(options: &CrossChannelOptions, text: &Normalised, hash: &str, words: &str) -> bool {
    if text.words.len() < options.min_words || words.split(' ').count() < options.min_words {
        return false;
    }
    hash == text.hash
        || similarity(text.words.iter().map(String::as_str), words.split(' '))
            >= options.min_similarity
}

/// The line put above a near-duplicate's text in its comment.
pub fn note(channel: &str, original_channel: &str) -> String {
    format!(
        "(The same request also came via {channel}; it was first received via \
         {original_channel}, so it is added here instead of a new ticket.)"
    )
}

/// The earlier original a near-duplicate was added to.
pub(crate) struct CrossChannel {
    pub(crate) original_channel: String,
}

/// The tags a comment adds: [`CROSS_CHANNEL_TAG`] for a near-duplicate.
pub(crate) fn comment_tags(cross: Option<&CrossChannel>) -> Vec<String> {
    cross
        .map(|_| vec![CROSS_CHANNEL_TAG.to_owned()])
        .unwrap_or_default()
}

impl CrossChannel {
    /// The event with [`note`] above its text (what the comment shows).
    pub(crate) fn noted(&self, event: &TicketEvent) -> TicketEvent {
        let mut noted = event.clone();
        noted.text = format!(
            "{}\n\n{}",
            note(&event.channel, &self.original_channel),
            event.text
        );
        noted
    }
}

impl Processor {
    /// Claims the event in the near-duplicate window. For a duplicate whose
    /// original's ticket is open, points `target` at that ticket and returns
    /// the original; a duplicate whose original has no ticket yet waits.
    pub(crate) async fn cross_channel(
        &self,
        event: &TicketEvent,
        requester_id: u64,
        target: &mut Target,
    ) -> Result<Option<CrossChannel>, Failure> {
        let Some(options) = &self.cross_channel else {
            return Ok(None);
        };
        let text = normalise(&event.text);
        if text.words.len() < options.min_words {
            return Ok(None);
        }
        let message = CrossChannelMessage {
            event_id: event.event_id,
            user_id: requester_id,
            channel: event.channel.clone(),
            text_hash: text.hash.clone(),
            tokens: text.words.join(" "),
            received_at: event.received_at,
            duplicate_of: None,
        };
        let similar = |m: &CrossChannelMessage| matches(options, &text, &m.text_hash, &m.tokens);
        let claim = self
            .store
            .claim_cross_channel(&message, options.window, &similar)
            .await?;
        let CrossChannelClaim::DuplicateOf(original) = claim else {
            return Ok(None);
        };
        let recorded = self.store.ticket_for_event(original.event_id).await?;
        let Some(ticket_id) = recorded.map(|link| link.ticket_id) else {
            let waited = (Utc::now() - original.received_at)
                .to_std()
                .unwrap_or_default();
            if waited > options.window + ORIGINAL_WAIT {
                // The original never got a ticket (dead-lettered): make our own.
                return Ok(None);
            }
            return Err(Failure::Retry {
                stage: "cross_channel",
                message: format!(
                    "waiting for the ticket of the {} copy of this message",
                    original.channel
                ),
                reason: ParkReason::CrossChannelOriginal,
                resume_in: Some(Duration::from_millis(500)),
            });
        };
        let ticket = match self.zendesk.show_ticket(ticket_id).await {
            Ok(ticket) => ticket,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => {
                return Err(Failure::zendesk(
                    "show_ticket",
                    DlqReason::ZendeskRejected,
                    e,
                ));
            }
        };
        if matches!(ticket.status, Status::Solved | Status::Closed) {
            return Ok(None);
        }
        target.stamp = ticket
            .updated_at
            .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        target.current = Some((ticket.id, ticket.status));
        CrossChannelDuplicate {
            channel: &event.channel,
            original_channel: &original.channel,
            event_id: &event.event_id.to_string(),
            ticket_id,
        }
        .emit();
        Ok(Some(CrossChannel {
            original_channel: original.channel,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_punctuation_whitespace_and_quoting_do_not_matter() {
        let a = normalise("My printer is BROKEN!!\n\n  Please help.");
        let b =
            normalise("my printer, is broken -- please   help\n> On Monday you wrote:\n> old text");
        assert_eq!(a.words, ["my", "printer", "is", "broken", "please", "help"]);
        assert_eq!(a, b);
        assert_ne!(a.hash, normalise("my printer is broken").hash);
        // Letters of any script are words.
        assert_eq!(normalise("Привет, мир!").words, ["привет", "мир"]);
    }

    #[test]
    fn nearly_the_same_text_matches_and_a_different_one_does_not() {
        let options = CrossChannelOptions::default();
        let check = |earlier: &str, later: &str| {
            let earlier = normalise(earlier);
            matches(
                &options,
                &normalise(later),
                &earlier.hash,
                &earlier.words.join(" "),
            )
        };
        assert!(check(
            "my printer is broken again",
            "My printer is broken again!"
        ));
        assert!(check(
            "my printer is broken again",
            "printer is broken again"
        ));
        assert!(!check(
            "my printer is broken again",
            "my invoice is wrong again"
        ));
        assert!(!check(
            "my printer is broken",
            "the printer works now, thanks"
        ));
        // Too short to tell, even when equal.
        assert!(!check("hi there", "hi there"));
    }

    #[test]
    fn the_threshold_is_the_jaccard_similarity() {
        assert_eq!(similarity(["a", "b", "c", "d"], ["a", "b", "c", "e"]), 0.6);
        assert_eq!(similarity(["a", "a", "b"], ["b", "a"]), 1.0);
        let strict = CrossChannelOptions {
            min_similarity: 1.0,
            ..CrossChannelOptions::default()
        };
        let earlier = normalise("printer is broken again");
        assert!(!matches(
            &strict,
            &normalise("my printer is broken again"),
            &earlier.hash,
            &earlier.words.join(" ")
        ));
    }
}
