//! Which pending dead letters `replay` and `drop` act on, and the account of
//! it per partition. Plain logic over the letters already read, so it is
//! tested without a bus.
//!
//! - No `--up-to`: every pending letter on every partition.
//! - `--up-to P:O` (repeatable, one per partition): only the named
//!   partitions, each up to and including its offset. A partition that is not
//!   named is not touched, whatever its letters.

use std::collections::BTreeMap;

use intake_bus::Delivery;

use super::LetterId;

/// The `--up-to` limits, at most one per partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpTo {
    /// Partition → last offset to act on. Empty: every partition, no limit.
    limits: BTreeMap<i32, i64>,
}

impl UpTo {
    /// Refuses two limits for the same partition: which one was meant is a guess.
    pub fn new(limits: &[LetterId]) -> Result<UpTo, String> {
        let mut by_partition = BTreeMap::new();
        for limit in limits {
            if let Some(earlier) = by_partition.insert(limit.partition, limit.offset) {
                return Err(format!(
                    "--up-to names partition {partition} twice ({partition}:{earlier} and {limit}): \
                     give one limit per partition",
                    partition = limit.partition
                ));
            }
        }
        Ok(UpTo {
            limits: by_partition,
        })
    }

    /// True when no `--up-to` was given: every pending letter is acted on.
    pub fn is_everything(&self) -> bool {
        self.limits.is_empty()
    }

    /// Whether `letter` is acted on.
    pub fn covers(&self, letter: &Delivery) -> bool {
        if self.is_everything() {
            return true;
        }
        self.limits
            .get(&letter.partition)
            .is_some_and(|last| letter.offset <= *last)
    }
}

/// What one command does on one partition of the DLQ topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionPlan {
    pub partition: i32,
    /// Pending letters read on this partition.
    pub pending: usize,
    /// Of those, the letters acted on.
    pub selected: usize,
    /// Offsets of the first and last letter acted on.
    pub range: Option<(i64, i64)>,
    /// The `--up-to` offset for this partition, if one was given.
    pub limit: Option<i64>,
    /// False when `--up-to` was given but does not name this partition.
    pub named: bool,
}

/// The letters to act on, in the order they were read (so in offset order
/// per partition, as `done` needs), and one plan per partition that has
/// pending letters or is named by `--up-to`, by partition number.
pub fn plan<'a>(letters: &'a [Delivery], up_to: &UpTo) -> (Vec<&'a Delivery>, Vec<PartitionPlan>) {
    let mut plans: BTreeMap<i32, PartitionPlan> = BTreeMap::new();
    let blank = |partition: i32| PartitionPlan {
        partition,
        pending: 0,
        selected: 0,
        range: None,
        limit: up_to.limits.get(&partition).copied(),
        named: up_to.is_everything() || up_to.limits.contains_key(&partition),
    };
    for partition in up_to.limits.keys() {
        plans.insert(*partition, blank(*partition));
    }
    let mut selected = Vec::new();
    for letter in letters {
        let entry = plans
            .entry(letter.partition)
            .or_insert_with(|| blank(letter.partition));
        entry.pending += 1;
        if up_to.covers(letter) {
            entry.selected += 1;
            entry.range = Some(match entry.range {
                None => (letter.offset, letter.offset),
                Some((first, last)) => (first.min(letter.offset), last.max(letter.offset)),
            });
            selected.push(letter);
        }
    }
    (selected, plans.into_values().collect())
}

/// `replay` or `drop`, for the words of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Replay,
    Drop,
}

impl Verb {
    fn base(self) -> &'static str {
        match self {
            Verb::Replay => "replay",
            Verb::Drop => "drop",
        }
    }

    fn past(self) -> &'static str {
        match self {
            Verb::Replay => "replayed",
            Verb::Drop => "dropped",
        }
    }

    /// "replayed" after the fact, "would replay" in a dry run.
    pub fn done(self, dry_run: bool) -> String {
        if dry_run {
            format!("would {}", self.base())
        } else {
            self.past().to_owned()
        }
    }
}

/// One line per partition: `partition 0: dropped 2 of 5 pending (offsets 3-5, --up-to 0:5)`.
pub fn describe(plan: &PartitionPlan, verb: Verb, dry_run: bool) -> String {
    let partition = plan.partition;
    if !plan.named {
        return format!(
            "partition {partition}: {} pending, not touched (not named by --up-to)",
            plan.pending
        );
    }
    let limit = plan
        .limit
        .map(|offset| format!("--up-to {partition}:{offset}"));
    let detail = match (plan.range, &limit) {
        (Some((first, last)), Some(limit)) => format!(" (offsets {first}-{last}, {limit})"),
        (Some((first, last)), None) => format!(" (offsets {first}-{last})"),
        (None, Some(limit)) => format!(" (no pending letter at or before {limit})"),
        (None, None) => String::new(),
    };
    format!(
        "partition {partition}: {} {} of {} pending{detail}",
        verb.done(dry_run),
        plan.selected,
        plan.pending
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn letter(partition: i32, offset: i64) -> Delivery {
        Delivery {
            topic: "intake.dlq".into(),
            partition,
            offset,
            key: format!("k{partition}-{offset}"),
            payload: Vec::new(),
            headers: Vec::new(),
        }
    }

    fn id(partition: i32, offset: i64) -> LetterId {
        LetterId { partition, offset }
    }

    /// Two partitions interleaved as a consumer reads them.
    fn letters() -> Vec<Delivery> {
        vec![
            letter(0, 3),
            letter(1, 0),
            letter(0, 4),
            letter(1, 1),
            letter(0, 6),
            letter(1, 2),
            letter(2, 9),
        ]
    }

    fn offsets(selected: &[&Delivery]) -> Vec<(i32, i64)> {
        selected.iter().map(|l| (l.partition, l.offset)).collect()
    }

    #[test]
    fn an_up_to_touches_only_its_own_partition() {
        let letters = letters();
        let up_to = UpTo::new(&[id(0, 5)]).unwrap();
        let (selected, plans) = plan(&letters, &up_to);
        assert_eq!(offsets(&selected), [(0, 3), (0, 4)]);
        let by_partition: Vec<(i32, usize, usize, bool)> = plans
            .iter()
            .map(|p| (p.partition, p.pending, p.selected, p.named))
            .collect();
        assert_eq!(
            by_partition,
            [(0, 3, 2, true), (1, 3, 0, false), (2, 1, 0, false)]
        );
    }

    #[test]
    fn several_up_tos_each_limit_their_partition() {
        let letters = letters();
        let up_to = UpTo::new(&[id(1, 1), id(0, 100)]).unwrap();
        let (selected, _) = plan(&letters, &up_to);
        assert_eq!(
            offsets(&selected),
            [(0, 3), (1, 0), (0, 4), (1, 1), (0, 6)],
            "read order kept, partition 2 untouched"
        );
    }

    #[test]
    fn no_up_to_means_every_letter_on_every_partition() {
        let letters = letters();
        let (selected, plans) = plan(&letters, &UpTo::default());
        assert_eq!(selected.len(), letters.len());
        assert!(plans.iter().all(|p| p.named && p.pending == p.selected));
    }

    #[test]
    fn a_partition_named_twice_is_refused() {
        let error = UpTo::new(&[id(0, 5), id(1, 2), id(0, 7)]).unwrap_err();
        assert!(error.contains("partition 0 twice"), "{error}");
        assert!(error.contains("0:5") && error.contains("0:7"), "{error}");
    }

    #[test]
    fn a_named_partition_without_letters_is_reported() {
        let letters = letters();
        let up_to = UpTo::new(&[id(7, 10), id(0, 2)]).unwrap();
        let (selected, plans) = plan(&letters, &up_to);
        assert!(selected.is_empty());
        let lines: Vec<String> = plans
            .iter()
            .map(|p| describe(p, Verb::Drop, true))
            .collect();
        assert_eq!(
            lines,
            [
                "partition 0: would drop 0 of 3 pending (no pending letter at or before --up-to 0:2)",
                "partition 1: 3 pending, not touched (not named by --up-to)",
                "partition 2: 1 pending, not touched (not named by --up-to)",
                "partition 7: would drop 0 of 0 pending (no pending letter at or before --up-to 7:10)",
            ]
        );
    }

    #[test]
    fn the_report_says_what_was_done_per_partition() {
        let letters = letters();
        let up_to = UpTo::new(&[id(0, 5)]).unwrap();
        let (_, plans) = plan(&letters, &up_to);
        assert_eq!(
            describe(&plans[0], Verb::Replay, false),
            "partition 0: replayed 2 of 3 pending (offsets 3-4, --up-to 0:5)"
        );
        let (_, all) = plan(&letters, &UpTo::default());
        assert_eq!(
            describe(&all[1], Verb::Drop, false),
            "partition 1: dropped 3 of 3 pending (offsets 0-2)"
        );
    }
}
