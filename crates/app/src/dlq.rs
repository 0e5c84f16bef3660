//! `intake dlq list|show|replay|drop`: the dead-letter queue.
//!
//! Pending dead letters are the records of `<prefix>.dlq` past the stored
//! position of the consumer group `<router.consumer_group>.dlq`. `list` and
//! `show` read without moving that position; `replay` republishes each letter
//! to its source topic (without the error headers) and then moves past it;
//! `drop` moves past it. A dead letter is identified as `partition:offset`.

use std::path::Path;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use intake_bus::{Consumer, Delivery, Record, Topics};
use tokio_util::sync::CancellationToken;

/// What to do with the dead letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DlqAction {
    List,
    Show { id: LetterId },
    Replay { up_to: Option<LetterId> },
    Drop { up_to: Option<LetterId> },
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
        let (partition, offset) = match text.split_once(':') {
            Some((p, o)) => (p.parse().map_err(|_| bad())?, o.parse().map_err(|_| bad())?),
            None => (0, text.parse().map_err(|_| bad())?),
        };
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
    match action {
        DlqAction::List => {
            if letters.is_empty() {
                println!("no pending dead letters on {}", topics.dlq());
            }
            for letter in &letters {
                println!("{}", summary(letter));
            }
        }
        DlqAction::Show { id } => {
            let Some(letter) = letters
                .iter()
                .find(|l| l.partition == id.partition && l.offset == id.offset)
            else {
                eprintln!("no pending dead letter {id} on {}", topics.dlq());
                return Ok(ExitCode::FAILURE);
            };
            println!("{}", detail(letter));
        }
        DlqAction::Replay { up_to } | DlqAction::Drop { up_to } => {
            let replay = matches!(action, DlqAction::Replay { .. });
            let publisher = bus.publisher();
            let mut count = 0;
            for letter in letters.iter().filter(|l| within(l, up_to)) {
                if replay {
                    let record = original(letter).with_context(|| {
                        format!("dead letter {} has no source topic", id_of(letter))
                    })?;
                    publisher
                        .publish(record)
                        .await
                        .context("cannot republish")?;
                }
                consumer.done(letter).await?;
                count += 1;
            }
            let verb = if replay { "replayed" } else { "dropped" };
            println!("{verb} {count} dead letter(s)");
        }
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

fn within(letter: &Delivery, up_to: Option<LetterId>) -> bool {
    match up_to {
        None => true,
        Some(limit) => letter.partition != limit.partition || letter.offset <= limit.offset,
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
