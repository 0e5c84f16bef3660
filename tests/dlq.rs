//! `intake dlq replay|drop` with `--up-to` and `--dry-run`, run as the built
//! binary against a DLQ topic with letters on several partitions (Kafka, the
//! real broker) and on the embedded bus (one partition, and `--up-to` naming
//! a partition that has no letters).
//!
//! `--up-to P:O` acts on partition P up to and including offset O and on
//! nothing else; `--dry-run` prints the same selection counted per partition
//! and changes nothing.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use common::{Backend, CliOutput, World, kafka_brokers};
use intake_bus::{Bus, Delivery, Record};
use intake_event::{Contact, InlineRaw, RawPayload, TicketEvent};

const CLI_TIMEOUT: Duration = Duration::from_secs(120);
/// Letters wanted on each of the first two partitions that get any (Kafka).
const PER_PARTITION: usize = 3;
/// Most letters published while looking for two partitions with enough of them.
const MAX_LETTERS: usize = 60;

/// A dead letter as the router writes it, from `world`'s chat topic.
fn letter(world: &World, index: usize) -> Record {
    Record {
        topic: format!("{}.dlq", world.topic_prefix),
        key: format!("chat:visitor-{index}"),
        payload: letter_event(index).to_json(),
        headers: vec![
            ("ce_id".into(), format!("letter-{index}")),
            ("content-type".into(), "application/json".into()),
            ("intake_error_reason".into(), "zendesk_rejected".into()),
            ("intake_error_message".into(), "refused in the test".into()),
            ("intake_source_topic".into(), world.chat_topic()),
            ("intake_source_partition".into(), "0".into()),
            ("intake_source_offset".into(), index.to_string()),
        ],
    }
}

/// The event of letter `index`: its raw payload inline for an even index,
/// a blob reference (as events made before `raw_inline` have) for an odd one.
fn letter_event(index: usize) -> TicketEvent {
    let contact = Contact {
        key: format!("chat:visitor-{index}"),
        ..Contact::default()
    };
    let id = format!("letter-{index}");
    let mut event = TicketEvent::new("chat", &id, contact, "dead", chrono::Utc::now());
    let body = format!("{{\"letter\":{index}}}");
    if index.is_multiple_of(2) {
        event.raw_inline = Some(InlineRaw::new(body.as_bytes()));
    } else {
        event.raw = Some(intake_blob::content_ref(body.as_bytes()));
    }
    event
}

/// Publishes letters until two partitions hold at least `PER_PARTITION` each
/// (Kafka) or `2 * PER_PARTITION` letters are on partition 0 (embedded).
/// Returns partition → offsets (ascending) and the event id of each letter.
async fn publish_letters(
    world: &World,
    bus: &dyn Bus,
) -> (BTreeMap<i32, Vec<i64>>, BTreeMap<(i32, i64), String>) {
    let publisher = bus.publisher();
    let mut offsets: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for index in 0..MAX_LETTERS {
        let position = publisher
            .publish(letter(world, index))
            .await
            .expect("publish a dead letter");
        offsets
            .entry(position.partition)
            .or_default()
            .push(position.offset);
        ids.insert(
            (position.partition, position.offset),
            format!("letter-{index}"),
        );
        let full = offsets
            .values()
            .filter(|list| list.len() >= PER_PARTITION)
            .count();
        let enough = match world.backend {
            Backend::Kafka => full >= 2,
            Backend::Embedded => offsets[&0].len() >= 2 * PER_PARTITION,
        };
        if enough {
            return (offsets, ids);
        }
    }
    panic!("{MAX_LETTERS} letters did not fill two partitions: {offsets:?}");
}

/// Every record of `topic`, read with a fresh group until the group's lag
/// says nothing more is there (or 60 s pass).
async fn read_all(bus: &dyn Bus, topic: &str) -> Vec<Delivery> {
    let group = format!("e2e-dlq-reader-{}", uuid::Uuid::new_v4().simple());
    let mut consumer = bus
        .consumer(&group, &[topic.to_owned()])
        .await
        .expect("reader");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut records = Vec::new();
    while Instant::now() < deadline {
        if let Some(delivery) = consumer
            .poll(Duration::from_millis(500))
            .await
            .expect("poll")
        {
            records.push(delivery);
            continue;
        }
        let lag = consumer.lag().await.expect("lag");
        let total: u64 = lag.iter().map(|partition| partition.records).sum();
        if !lag.is_empty() && records.len() as u64 >= total {
            return records;
        }
    }
    panic!("{topic} not read to its end within 60 s: {records:?}");
}

/// The ids (`P:O`) printed by `intake dlq list`.
async fn pending(world: &World) -> BTreeSet<String> {
    let out = world.cli(&["dlq", "list"], CLI_TIMEOUT).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
        .lines()
        .filter(|line| line.contains("reason="))
        .map(|line| line.split('\t').next().unwrap_or_default().to_owned())
        .collect()
}

async fn dlq(world: &World, args: &[&str]) -> CliOutput {
    let mut all = vec!["dlq"];
    all.extend_from_slice(args);
    let out = world.cli(&all, CLI_TIMEOUT).await;
    assert_eq!(out.code, Some(0), "intake {all:?}: {out:?}");
    out
}

fn ids(letters: impl IntoIterator<Item = (i32, i64)>) -> BTreeSet<String> {
    letters
        .into_iter()
        .map(|(partition, offset)| format!("{partition}:{offset}"))
        .collect()
}

fn assert_line(out: &CliOutput, line: &str) {
    assert!(
        out.stdout.lines().any(|l| l == line),
        "no line {line:?} in:\n{}",
        out.stdout
    );
}

async fn up_to_and_dry_run(backend: Backend, brokers: Option<&str>) {
    let world = World::new(backend, brokers).await;
    let bus = intake_bus::connect(world.bus_options())
        .await
        .expect("test opens the bus");
    let dlq_topic = format!("{}.dlq", world.topic_prefix);
    bus.ensure_topics(&[dlq_topic.clone(), world.chat_topic()])
        .await
        .expect("topics");
    let (offsets, event_ids) = publish_letters(&world, bus.as_ref()).await;
    let all: BTreeSet<String> = ids(offsets
        .iter()
        .flat_map(|(p, list)| list.iter().map(move |o| (*p, *o))));
    assert_eq!(pending(&world).await, all, "every letter is pending");

    // The partition acted on (P) and, on Kafka, a second one that holds letters (Q).
    let mut full = offsets
        .iter()
        .filter(|(_, list)| list.len() >= PER_PARTITION);
    let (&p, p_offsets) = full.next().expect("a partition with letters");
    let other = full.next().map(|(q, list)| (*q, list.clone()));
    let p_count = p_offsets.len();

    // A partition without letters: nothing anywhere is touched.
    let out = dlq(&world, &["drop", "--up-to", "7:1000"]).await;
    assert_line(&out, "dropped 0 dead letter(s)");
    assert_eq!(pending(&world).await, all, "--up-to 7:… dropped letters");

    // Dry run of `drop --up-to P:<second offset>`: reports two, changes nothing.
    let limit = format!("{p}:{}", p_offsets[1]);
    let out = dlq(&world, &["drop", "--up-to", &limit, "--dry-run"]).await;
    assert_line(
        &out,
        &format!(
            "partition {p}: would drop 2 of {p_count} pending (offsets {}-{}, --up-to {limit})",
            p_offsets[0], p_offsets[1]
        ),
    );
    if let Some((q, q_offsets)) = &other {
        assert_line(
            &out,
            &format!(
                "partition {q}: {} pending, not touched (not named by --up-to)",
                q_offsets.len()
            ),
        );
    }
    assert_line(
        &out,
        "would drop 2 dead letter(s); dry run: nothing was changed",
    );
    for offset in &p_offsets[..2] {
        let id = &event_ids[&(p, *offset)];
        assert!(
            out.stdout
                .lines()
                .any(|l| l.starts_with(&format!("{p}:{offset}\t")) && l.contains(id)),
            "the dry run lists {p}:{offset}: {out:?}"
        );
    }
    assert_eq!(pending(&world).await, all, "a dry run dropped letters");

    // The real drop: exactly the two letters of P, every other partition kept.
    let out = dlq(&world, &["drop", "--up-to", &limit]).await;
    assert_line(&out, "dropped 2 dead letter(s)");
    let dropped = ids(p_offsets[..2].iter().map(|o| (p, *o)));
    let after_drop: BTreeSet<String> = all.difference(&dropped).cloned().collect();
    assert_eq!(pending(&world).await, after_drop);

    // Replay P's next letter and (Kafka) Q's first: dry run, then for real.
    let mut replay_args = vec![format!("{p}:{}", p_offsets[2])];
    let mut replayed = vec![(p, p_offsets[2])];
    if let Some((q, q_offsets)) = &other {
        replay_args.push(format!("{q}:{}", q_offsets[0]));
        replayed.push((*q, q_offsets[0]));
    }
    let mut args: Vec<&str> = vec!["replay"];
    for limit in &replay_args {
        args.extend(["--up-to", limit.as_str()]);
    }
    let mut dry = args.clone();
    dry.push("--dry-run");
    let out = dlq(&world, &dry).await;
    assert_line(
        &out,
        &format!(
            "would replay {} dead letter(s); dry run: nothing was changed",
            replayed.len()
        ),
    );
    assert_eq!(pending(&world).await, after_drop, "a dry run replayed");

    let out = dlq(&world, &args).await;
    assert_line(&out, &format!("replayed {} dead letter(s)", replayed.len()));
    let remaining: BTreeSet<String> = after_drop
        .difference(&ids(replayed.iter().copied()))
        .cloned()
        .collect();
    assert_eq!(pending(&world).await, remaining);
    assert!(!remaining.is_empty(), "letters are left for the last step");

    // The source topic got exactly the replayed letters, once each (the dry
    // run published nothing), without the error headers.
    let republished = read_all(bus.as_ref(), &world.chat_topic()).await;
    let mut got: Vec<&str> = republished
        .iter()
        .map(|r| r.header("ce_id").unwrap_or_default())
        .collect();
    got.sort_unstable();
    let mut wanted: Vec<&str> = replayed.iter().map(|id| event_ids[id].as_str()).collect();
    wanted.sort_unstable();
    assert_eq!(got, wanted, "{republished:?}");
    for record in &republished {
        // Replayed as it was: either form of the raw payload survives.
        let event = TicketEvent::from_json(&record.payload).expect("replayed event");
        let index: usize = event.channel_message_id["letter-".len()..].parse().unwrap();
        let body = format!("{{\"letter\":{index}}}");
        match event.raw_payload() {
            Some(RawPayload::Inline(inline)) if index.is_multiple_of(2) => {
                assert_eq!(inline.decode().unwrap(), body.as_bytes());
            }
            Some(RawPayload::Blob(r)) if index % 2 == 1 => {
                assert_eq!(*r, intake_blob::content_ref(body.as_bytes()));
            }
            other => panic!("letter {index}: raw payload {other:?}"),
        }
        assert!(
            record
                .headers
                .iter()
                .all(|(name, _)| !name.starts_with("intake_")),
            "error headers kept on replay: {record:?}"
        );
    }

    // No --up-to: everything left, on every partition.
    let out = dlq(&world, &["drop"]).await;
    assert_line(&out, &format!("dropped {} dead letter(s)", remaining.len()));
    assert!(pending(&world).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_and_dry_run_act_on_the_named_partition_only_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    up_to_and_dry_run(Backend::Kafka, Some(&brokers)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_to_and_dry_run_act_on_the_named_partition_only_embedded() {
    up_to_and_dry_run(Backend::Embedded, None).await;
}

#[tokio::test]
async fn one_up_to_per_partition() {
    let world = World::new(Backend::Embedded, None).await;
    let out = world
        .cli(
            &["dlq", "drop", "--up-to", "0:1", "--up-to", "0:3"],
            CLI_TIMEOUT,
        )
        .await;
    assert_eq!(out.code, Some(2), "{out:?}");
    assert!(
        out.stderr.contains("partition 0 twice"),
        "the refusal says why: {out:?}"
    );
}

/// `dlq show` prints the raw payload of an inline event (checked against its
/// sha256) and names the blob of an older event with a reference.
#[tokio::test]
async fn show_reads_either_form_of_the_raw_payload() {
    let world = World::new(Backend::Embedded, None).await;
    let bus = intake_bus::connect(world.bus_options())
        .await
        .expect("test opens the bus");
    let dlq_topic = format!("{}.dlq", world.topic_prefix);
    bus.ensure_topics(&[dlq_topic, world.chat_topic()])
        .await
        .expect("topics");
    let publisher = bus.publisher();
    let mut positions = Vec::new();
    for index in 0..2 {
        let position = publisher.publish(letter(&world, index)).await.unwrap();
        positions.push(format!("{}:{}", position.partition, position.offset));
    }

    let out = dlq(&world, &["show", &positions[0]]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    assert!(
        out.stdout
            .contains("raw payload: inline, 12 bytes, sha256 ")
            && out.stdout.contains("(verified)\n{\"letter\":0}"),
        "{out:?}"
    );
    let out = dlq(&world, &["show", &positions[1]]).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    let blob = intake_blob::content_ref(b"{\"letter\":1}");
    assert!(
        out.stdout.contains(&format!(
            "raw payload: in the blob store as {}",
            blob.as_str()
        )),
        "{out:?}"
    );
}
