//! Channel priority, shown (issue 14 point 5, rule 3): with 1,000 mail
//! events and 100 chat events waiting on the bus and Zendesk as the
//! bottleneck (the simulator limited to 3,000 requests a minute and the
//! client pacing to it), every chat ticket is created before the mail
//! backlog drains, and the starvation guard still lets waiting mail through.
//! Read from the simulator's request log: ticket creations carry the event
//! id as `Idempotency-Key`, which says the channel.
//!
//! Checked that it fails without channel priority: with `Lanes::pick`
//! ordering heads by poll order only (`let order = (0usize, head.seq)` in
//! `crates/router/src/lanes.rs`), chat and mail were created interleaved
//! and 96 mail tickets came before the last chat ticket, failing the first
//! test (bound 50; with priority it was 0). The second test fails without
//! the starvation guard: then no mail comes before the last chat (as in the
//! first test, where the guard cannot act); with a 300 ms guard 88 did.

mod harness;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use harness::{chat_event, email_event, routes};
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_bus::{Bus, BusOptions, EmbeddedOptions, Record, Topics, cloudevent_headers};
use intake_event::{SCHEMA_ID, TicketEvent};
use intake_router::Router;
use intake_store::{SqliteStore, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions};
use intake_zendesk_sim::{RequestRecord, SimConfig, Simulator};
use tokio_util::sync::CancellationToken;

const MAILS: usize = 1_000;
const CHATS: usize = 100;
/// The account limit of the simulator, and the client's.
const REQUESTS_PER_MINUTE: u32 = 3_000;
const IN_FLIGHT: usize = 8;

/// Mail tickets that may be created before the last chat ticket when the
/// guard does not act: those that took a free slot at a moment no chat
/// event was held (the router had not polled the next one yet). Without
/// channel priority about as many mails as chats come first.
const STARTUP_SLACK: usize = 50;

fn publish_record(topics: &Topics, event: &TicketEvent) -> Record {
    Record {
        topic: topics.events(&event.channel),
        key: intake_channel_key(event),
        payload: event.to_json(),
        headers: cloudevent_headers(
            &event.event_id.to_string(),
            &format!("/intake/{}", event.channel),
            SCHEMA_ID,
            event.received_at,
            None,
        ),
    }
}

/// The partition key the channels use (decision 37): the conversation.
fn intake_channel_key(event: &TicketEvent) -> String {
    match &event.conversation.thread_id {
        Some(thread) => format!("thread:{}:{thread}", event.channel),
        None => event.contact.key.clone(),
    }
}

/// Which channel each created ticket came from, in the order the
/// simulator answered the creations.
struct Created {
    channels: Vec<&'static str>,
}

impl Created {
    fn mails_before_last_chat(&self) -> usize {
        let last_chat = self
            .channels
            .iter()
            .rposition(|c| *c == "chat")
            .expect("chat tickets were created");
        self.channels[..last_chat]
            .iter()
            .filter(|c| **c == "email")
            .count()
    }
}

/// Fills the bus, runs the router until every event has its ticket, and
/// reads the simulator's log.
async fn drain_backlog(max_priority_wait: Duration) -> Created {
    let dir = tempfile::tempdir().unwrap();
    let bus: Arc<dyn Bus> = intake_bus::connect(BusOptions::Embedded(EmbeddedOptions::new(
        dir.path().join("bus.db"),
    )))
    .await
    .unwrap();
    let topics = Topics::new("intake");
    let store: Arc<dyn StateStore> = Arc::new(
        SqliteStore::open(dir.path().join("state.db"))
            .await
            .unwrap(),
    );
    let blobs: Arc<dyn BlobStore> = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
    let config = SimConfig {
        requests_per_minute: Some(REQUESTS_PER_MINUTE),
        ..SimConfig::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(config, listener).await.unwrap();
    let client = Client::new(ClientOptions {
        base_url: url::Url::parse(&sim.base_url).unwrap(),
        auth: Auth::ApiToken {
            email: "agent@intake-sim.test".to_owned(),
            token: secrecy::SecretString::from("sim-token"),
        },
        requests_per_minute: REQUESTS_PER_MINUTE,
        request_timeout: Duration::from_secs(10),
        max_attempts: 5,
    })
    .unwrap();

    // The whole backlog is on the bus before the router starts, mail first.
    let mut chat_ids = HashSet::new();
    let mut mail_ids = HashSet::new();
    let publisher = bus.publisher();
    for n in 0..MAILS {
        let mut event = email_event(
            &format!("<m{n}@mail.test>"),
            &format!("customer{}@mail.test", n % 20),
            &format!("mail {n}"),
        );
        event.conversation.thread_id = Some(format!("<m{n}@mail.test>"));
        mail_ids.insert(event.event_id.to_string());
        publisher
            .publish(publish_record(&topics, &event))
            .await
            .unwrap();
    }
    for n in 0..CHATS {
        let mut event = chat_event(&format!("c{n}"), &format!("v{}", n % 10), "chat");
        event.conversation.thread_id = Some(format!("conversation-{n}"));
        chat_ids.insert(event.event_id.to_string());
        publisher
            .publish(publish_record(&topics, &event))
            .await
            .unwrap();
    }

    let mut options = intake_router::RouterOptions::new(topics.clone(), routes());
    options.max_in_flight = IN_FLIGHT;
    options.max_priority_wait = max_priority_wait;
    options.idle_poll = Duration::from_millis(20);
    options.retry_initial_backoff = Duration::from_millis(50);
    options.retry_max_backoff = Duration::from_millis(500);
    let router = Router::new(bus, store, blobs, client, options).unwrap();
    let shutdown = CancellationToken::new();
    let running = tokio::spawn(router.run(shutdown.clone()));

    // At ~48 creations a second the drain takes about 25 s; allow much more.
    let deadline = std::time::Instant::now() + Duration::from_secs(240);
    let created = loop {
        let log: Vec<RequestRecord> = sim.state().requests();
        let creations: Vec<&'static str> = log
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/v2/tickets")
            .filter(|r| (200..300).contains(&r.status))
            .filter_map(|r| {
                let key = r.idempotency_key.as_deref()?;
                if chat_ids.contains(key) {
                    Some("chat")
                } else if mail_ids.contains(key) {
                    Some("email")
                } else {
                    None
                }
            })
            .collect();
        if creations.len() >= MAILS + CHATS {
            break creations;
        }
        assert!(!running.is_finished(), "the router stopped");
        assert!(
            std::time::Instant::now() < deadline,
            "only {} of {} tickets within 240 s",
            creations.len(),
            MAILS + CHATS
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the router stops")
        .unwrap()
        .unwrap();
    assert_eq!(
        sim.state().responses_with_status(429),
        0,
        "the client paced under the simulator's limit"
    );
    let chats = created.iter().filter(|c| **c == "chat").count();
    assert_eq!((chats, created.len() - chats), (CHATS, MAILS));
    Created { channels: created }
}

/// The guard does not act (no mail waits an hour): chat goes first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chat_ticket_is_created_before_the_mail_backlog_drains() {
    let created = drain_backlog(Duration::from_secs(3600)).await;
    let early_mail = created.mails_before_last_chat();
    assert!(
        early_mail <= STARTUP_SLACK,
        "{early_mail} mail tickets were created before the last chat ticket"
    );
    // The mail backlog drained after the chats: most mail tickets come last.
    assert!(
        created.channels[CHATS + STARTUP_SLACK..]
            .iter()
            .all(|c| *c == "email")
    );
}

/// The starvation guard (decision 13) with a 300 ms limit: the chat
/// backlog takes seconds at the paced rate, so mail that waited past the
/// limit is served in between; the chats still finish long before the mail
/// backlog does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_starvation_guard_lets_waiting_mail_through_during_the_chat_burst() {
    let created = drain_backlog(Duration::from_millis(300)).await;
    let early_mail = created.mails_before_last_chat();
    assert!(
        early_mail > 0,
        "no mail ticket was created while chats waited: the guard did not act"
    );
    assert!(
        early_mail < MAILS / 2,
        "{early_mail} mail tickets before the last chat: priority was lost"
    );
    assert_eq!(created.channels.last(), Some(&"email"));
}
