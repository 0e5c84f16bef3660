//! `intake dlq list|show|replay|drop`: the dead-letter queue.
//!
//! Pending dead letters are the records of `<prefix>.dlq` past the stored
//! position of the consumer group `<router.consumer_group>.dlq`. `list` and
//! `show` read without moving that position; `replay` republishes each letter
//! to its source topic (without the error headers) and then moves past it;
//! `drop` moves past it. A dead letter is identified as `partition:offset`.
//!
//! `replay` and `drop` act on every pending letter, or with `--up-to P:O`
//! (one per partition) only on the named partitions up to and including
//! their offsets; `--dry-run` prints what they would do and changes nothing.

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use intake_bus::{Consumer, Delivery, Record, Topics};
use tokio_util::sync::CancellationToken;

mod raw;
mod select;

use select::{UpTo, Verb};

/// What to do with the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlqAction {
    List,
    Show {
        id: LetterId,
    },
    /// Republish to the source topic, then move past.
    Replay {
        /// At most one per partition; empty means every pending letter.
        up_to: Vec<LetterId>,
        /// Print what would be replayed; change nothing.
        dry_run: bool,
    },
    /// Move past without republishing.
    Drop {
        /// At most one per partition; empty means every pending letter.
        up_to: Vec<LetterId>,
        /// Print what would be dropped; change nothing.
        dry_run: bool,
    },
}

/// A dead letter's place on the DLQ topic: `partition:offset` (or `offset` for partition 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LetterId {
    pub partition: i32,
    pub offset: i64,
}

impl FromStr for LetterId {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || {
            format!(
                "{text:?} is not a dead-letter id (PARTITION:OFFSET as printed by `intake dlq list`)"
            )
        };
        let (partition, offset): (i32, i64) = match text.split_once(':') {
            Some((p, o)) => (p.parse().map_err(|_| bad())?, o.parse().map_err(|_| bad())?),
            None => (0, text.parse().map_err(|_| bad())?),
        };
        if partition < 0 || offset < 0 {
            return Err(bad());
        }
        Ok(LetterId { partition, offset })
    }
}

impl std::fmt::Display for LetterId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.partition, self.offset)
    }
}

/// How long one poll waits before the queue's lag is consulted.
const POLL: Duration = Duration::from_millis(500);
/// Longest time spent reading; past it the command says the list may be
/// incomplete (a Kafka group join takes a few seconds, a broker may be slow).
const READ_LIMIT: Duration = Duration::from_secs(45);
/// Most letters one command touches.
const MAX_LETTERS: usize = 10_000;

pub async fn dlq(config_path: Option<&Path>, action: DlqAction) -> anyhow::Result<ExitCode> {
    // Checked before anything is opened: a bad command line changes nothing.
    let settle = match &action {
        DlqAction::Replay { up_to, dry_run } => Some((Verb::Replay, up_to, *dry_run)),
        DlqAction::Drop { up_to, dry_run } => Some((Verb::Drop, up_to, *dry_run)),
        DlqAction::List | DlqAction::Show { .. } => None,
    };
    let settle = settle
        .map(|(verb, up_to, dry_run)| UpTo::new(up_to).map(|up_to| (verb, up_to, dry_run)))
        .transpose();
    let settle = match settle {
        Ok(settle) => settle,
        Err(problem) => {
            eprintln!("error: {problem}");
            return Ok(ExitCode::from(2));
        }
    };
    let config = match crate::load_config(config_path, intake_config::Needs::default()) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    intake_telemetry::init_logging(config.log.format, "warn")?;
    let topics = Topics::new(config.bus.topic_prefix.clone());
    let bus = crate::service::connect_bus(&config, &CancellationToken::new()).await?;
    let group = format!("{}.dlq", config.router.consumer_group);
    let mut consumer = bus
        .consumer(&group, &[topics.dlq()])
        .await
        .context("cannot read the dead-letter queue")?;
    eprintln!("reading {} …", topics.dlq());
    let letters = read_pending(consumer.as_mut()).await?;
    let Some((verb, up_to, dry_run)) = settle else {
        return Ok(inspect(&action, &letters, &topics.dlq()));
    };
    let publisher = bus.publisher();
    settle_letters(
        consumer.as_mut(),
        publisher.as_ref(),
        &letters,
        verb,
        &up_to,
        dry_run,
    )
    .await
}

/// `list`, or `show` of one letter. Moves nothing.
fn inspect(action: &DlqAction, letters: &[Delivery], dlq_topic: &str) -> ExitCode {
    if let DlqAction::Show { id } = action {
        let Some(letter) = letters
            .iter()
            .find(|l| l.partition == id.partition && l.offset == id.offset)
        else {
            eprintln!("no pending dead letter {id} on {dlq_topic}");
            return ExitCode::FAILURE;
        };
        println!("{}", detail(letter));
        return ExitCode::SUCCESS;
    }
    if letters.is_empty() {
        println!("no pending dead letters on {dlq_topic}");
    }
    for letter in letters {
        println!("{}", summary(letter));
    }
    ExitCode::SUCCESS
}

/// `replay` or `drop` on the letters `up_to` selects; with `dry_run`, only
/// the report. Every selected letter is checked before the first is touched.
async fn settle_letters(
    consumer: &mut dyn Consumer,
    publisher: &dyn intake_bus::Publisher,
    letters: &[Delivery],
    verb: Verb,
    up_to: &UpTo,
    dry_run: bool,
) -> anyhow::Result<ExitCode> {
    let (selected, plans) = select::plan(letters, up_to);
    if verb == Verb::Replay {
        let orphans: Vec<String> = selected
            .iter()
            .filter(|letter| original(letter).is_none())
            .map(|letter| id_of(letter).to_string())
            .collect();
        if !orphans.is_empty() {
            eprintln!(
                "error: dead letter(s) {} have no intake_source_topic header, so there is nowhere \
                 to replay them; nothing was replayed (drop them, or replay with --up-to \
                 stopping before them)",
                orphans.join(", ")
            );
            return Ok(ExitCode::FAILURE);
        }
    }
    if dry_run {
        for letter in &selected {
            println!("{}", summary(letter));
        }
    } else {
        for (done_before, letter) in selected.iter().enumerate() {
            let id = id_of(letter);
            let failed = |what: &str| {
                format!(
                    "{what} dead letter {id} ({done_before} {} before it)",
                    verb.done(false)
                )
            };
            if verb == Verb::Replay {
                let record = original(letter).context("checked above")?;
                publisher
                    .publish(record)
                    .await
                    .with_context(|| failed("cannot republish"))?;
            }
            consumer
                .done(letter)
                .await
                .with_context(|| failed("cannot move past"))?;
        }
    }
    let count = selected.len();
    for plan in &plans {
        println!("{}", select::describe(plan, verb, dry_run));
    }
    if dry_run {
        println!(
            "{} {count} dead letter(s); dry run: nothing was changed",
            verb.done(true)
        );
    } else {
        println!("{} {count} dead letter(s)", verb.done(false));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads every pending letter without moving the group's position. The end
/// is known from the group's lag (records not yet done), not from a quiet
/// period, so a slow consumer-group join cannot make a full queue look empty.
async fn read_pending(consumer: &mut dyn Consumer) -> anyhow::Result<Vec<Delivery>> {
    let started = std::time::Instant::now();
    let mut letters = Vec::new();
    while letters.len() < MAX_LETTERS {
        if let Some(delivery) = consumer.poll(POLL).await? {
            letters.push(delivery);
            continue;
        }
        let lag = consumer.lag().await?;
        let pending: u64 = lag.iter().map(|partition| partition.records).sum();
        // An empty answer means "not known yet" (Kafka before its assignment).
        if !lag.is_empty() && letters.len() as u64 >= pending {
            return Ok(letters);
        }
        if started.elapsed() > READ_LIMIT {
            eprintln!(
                "warning: stopped reading after {} s with {} letter(s); the list may be incomplete",
                READ_LIMIT.as_secs(),
                letters.len()
            );
            return Ok(letters);
        }
    }
    eprintln!("warning: showing the first {MAX_LETTERS} letters only");
    Ok(letters)
}

fn id_of(letter: &Delivery) -> LetterId {
    LetterId {
        partition: letter.partition,
        offset: letter.offset,
    }
}

fn summary(letter: &Delivery) -> String {
    let h = |name| letter.header(name).unwrap_or("-");
    format!(
        "{id}\treason={reason}\tsource={source}\tevent_id={event}\t{message}",
        id = id_of(letter),
        reason = h("intake_error_reason"),
        source = h("intake_source_topic"),
        event = h("ce_id"),
        message = h("intake_error_message"),
    )
}

fn detail(letter: &Delivery) -> String {
    let mut out = format!(
        "dead letter {}\nkey: {}\nheaders:\n",
        id_of(letter),
        letter.key
    );
    for (name, value) in &letter.headers {
        out.push_str(&format!("  {name}: {value}\n"));
    }
    out.push_str("payload:\n");
    match serde_json::from_slice::<serde_json::Value>(&letter.payload) {
        Ok(json) => out.push_str(&serde_json::to_string_pretty(&json).unwrap_or_default()),
        Err(_) => out.push_str(&String::from_utf8_lossy(&letter.payload)),
    }
    if let Some(raw) = raw::describe(&letter.payload) {
        out.push('\n');
        out.push_str(&raw);
    }
    out
}

/// The record as it was before it was dead-lettered.
fn original(letter: &Delivery) -> Option<Record> {
    let topic = letter.header("intake_source_topic")?.to_owned();
    let headers = letter
        .headers
        .iter()
        .filter(|(name, _)| !intake_router::is_error_header(name))
        .cloned()
        .collect();
    Some(Record {
        topic,
        key: letter.key.clone(),
        payload: letter.payload.clone(),
        headers,
    })
}
