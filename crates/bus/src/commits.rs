//! Bus positions with many records in flight: the stored position of a
//! partition only ever moves over the contiguous prefix of finished records
//! (the `at_least_once` shape, extended to concurrency). A record finished
//! out of order waits until everything polled before it on its partition is
//! finished too; a crash meanwhile replays it, and the consumer's state
//! store makes that a suppressed duplicate. Used by the router's lanes and
//! the acknowledgements' per-channel queues.

use std::collections::{BTreeMap, HashMap};

/// Polled, unfinished and finished-but-not-stored records per partition.
#[derive(Debug, Default)]
pub struct Commits {
    partitions: HashMap<(String, i32), BTreeMap<i64, bool>>,
}

impl Commits {
    /// Starts tracking a polled record; false when that offset is tracked
    /// already (redelivered while the first copy is still held: drop it).
    pub fn track(&mut self, topic: &str, partition: i32, offset: i64) -> bool {
        let entries = self
            .partitions
            .entry((topic.to_owned(), partition))
            .or_default();
        if entries.contains_key(&offset) {
            return false;
        }
        entries.insert(offset, false);
        true
    }

    /// Marks a record finished; returns the highest offset of the contiguous
    /// finished prefix when that prefix grew (the position to store), None
    /// while an earlier record of the partition is unfinished.
    pub fn finish(&mut self, topic: &str, partition: i32, offset: i64) -> Option<i64> {
        let key = (topic.to_owned(), partition);
        let entries = self.partitions.get_mut(&key)?;
        *entries.get_mut(&offset)? = true;
        let mut stored = None;
        while let Some(entry) = entries.first_entry() {
            if !*entry.get() {
                break;
            }
            stored = Some(*entry.key());
            entry.remove();
        }
        if entries.is_empty() {
            self.partitions.remove(&key);
        }
        stored
    }

    /// Forgets a partition taken from this consumer: nothing polled from it
    /// before will store a position.
    pub fn forget(&mut self, topic: &str, partition: i32) {
        self.partitions.remove(&(topic.to_owned(), partition));
    }

    /// Whether the record at `offset` is tracked (held and not stored).
    pub fn is_tracked(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.partitions
            .get(&(topic.to_owned(), partition))
            .is_some_and(|entries| entries.contains_key(&offset))
    }

    /// Records held (polled and not yet stored), over all partitions.
    pub fn held(&self) -> usize {
        self.partitions.values().map(BTreeMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_position_moves_over_the_finished_prefix_only() {
        let mut commits = Commits::default();
        for offset in 10..14 {
            assert!(commits.track("t", 0, offset));
        }
        assert!(commits.track("t", 1, 5));
        // Finished out of order: nothing may be stored past the unfinished 10.
        assert_eq!(commits.finish("t", 0, 12), None);
        assert_eq!(commits.finish("t", 0, 11), None);
        assert_eq!(
            commits.finish("t", 1, 5),
            Some(5),
            "partitions are separate"
        );
        assert_eq!(commits.finish("t", 0, 10), Some(12));
        assert_eq!(commits.held(), 1);
        assert_eq!(commits.finish("t", 0, 13), Some(13));
        assert_eq!(commits.held(), 0);
    }

    #[test]
    fn a_redelivered_record_is_not_tracked_twice() {
        let mut commits = Commits::default();
        assert!(commits.track("t", 0, 1));
        assert!(!commits.track("t", 0, 1));
        assert_eq!(commits.finish("t", 0, 1), Some(1));
        // Unknown records change nothing.
        assert_eq!(commits.finish("t", 0, 1), None);
        assert_eq!(commits.finish("u", 3, 0), None);
    }

    #[test]
    fn a_forgotten_partition_stores_nothing_polled_before() {
        let mut commits = Commits::default();
        assert!(commits.track("t", 0, 1));
        assert!(commits.track("t", 0, 2));
        assert!(commits.track("t", 1, 7));
        commits.forget("t", 0);
        assert!(!commits.is_tracked("t", 0, 1));
        assert!(commits.is_tracked("t", 1, 7));
        assert_eq!(commits.finish("t", 0, 1), None, "revoked: not stored");
        assert_eq!(commits.held(), 1);
        // Read again from the committed position after the rejoin.
        assert!(commits.track("t", 0, 1));
        assert_eq!(commits.finish("t", 0, 1), Some(1));
    }
}
