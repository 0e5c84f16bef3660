//! The webhook route end to end in-process: a SQLite state store, a
//! recording reply sender, and the Zendesk simulator for the internal note.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_channel::testing::FakeReplySender;
use intake_channel::{ReplyError, ReplyFailure, ReplySenders};
use intake_replies::signature::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use intake_replies::{AgentReplies, ROUTE, SigningSecret, WebhookOptions};
use intake_store::{AgentReply, AgentReplyStatus, ConversationRef, SqliteStore, StateStore};
use intake_zendesk::{Auth, Client, ClientOptions, Comment, NewTicket, Requester};
use intake_zendesk_sim::{SimConfig, SimHandle, Simulator};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

const SECRET: &[u8] = b"webhook-secret";
const DEADLINE: Duration = Duration::from_secs(30);

struct Setup {
    _dir: tempfile::TempDir,
    store: Arc<dyn StateStore>,
    sender: Arc<FakeReplySender>,
    replies: Arc<AgentReplies>,
    sim: SimHandle,
    shutdown: CancellationToken,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> =
        Arc::new(SqliteStore::open(&dir.path().join("s.db")).await.unwrap());
    let sender = FakeReplySender::new("chat");
    let mut senders = ReplySenders::new();
    senders.register(sender.clone()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = SimConfig {
        search_lag: Duration::ZERO,
        ..SimConfig::default()
    };
    let sim = Simulator::start(config, listener).await.unwrap();
    let zendesk = Client::new(ClientOptions {
        max_attempts: 1,
        ..ClientOptions::new(
            sim.base_url.parse().unwrap(),
            Auth::ApiToken {
                email: "agent@intake-sim.test".into(),
                token: SecretString::from("sim-token"),
            },
        )
    })
    .unwrap();
    let mut options = WebhookOptions::new(SigningSecret::new(SECRET));
    options.retry.initial_backoff = Duration::from_millis(10);
    let shutdown = CancellationToken::new();
    let replies = AgentReplies::new(
        Arc::clone(&store),
        senders,
        Some(zendesk),
        options,
        shutdown.clone(),
    );
    Setup {
        _dir: dir,
        store,
        sender,
        replies,
        sim,
        shutdown,
    }
}

impl Setup {
    /// A ticket in the simulator whose conversation intake knows.
    async fn ticket(&self, thread: &str) -> u64 {
        let zendesk = Client::new(ClientOptions::new(
            self.sim.base_url.parse().unwrap(),
            Auth::ApiToken {
                email: "agent@intake-sim.test".into(),
                token: SecretString::from("sim-token"),
            },
        ))
        .unwrap();
        let ticket = NewTicket {
            comment: Comment {
                body: Some("help".into()),
                public: true,
                ..Comment::default()
            },
            requester: Some(Requester {
                name: Some("Customer".into()),
                email: Some(format!("{thread}@example.test")),
                ..Requester::default()
            }),
            ..NewTicket::default()
        };
        let id = zendesk
            .create_ticket(&ticket, None)
            .await
            .unwrap()
            .ticket
            .id;
        let conversation = ConversationRef {
            channel: "chat".into(),
            thread_id: thread.into(),
        };
        self.store
            .set_conversation_ticket(&conversation, id)
            .await
            .unwrap();
        id
    }

    async fn post(&self, body: &str, signature: Option<String>) -> (StatusCode, Value) {
        let timestamp = chrono::Utc::now().to_rfc3339();
        let signature = signature.unwrap_or_else(|| sign(SECRET, &timestamp, body.as_bytes()));
        let request = Request::post(ROUTE)
            .header("content-type", "application/json")
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = Arc::clone(&self.replies)
            .router()
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    async fn wait_until(&self, what: &str, done: impl Fn() -> bool) {
        let until = tokio::time::Instant::now() + DEADLINE;
        while !done() {
            assert!(tokio::time::Instant::now() < until, "timed out: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn close(self) {
        self.shutdown.cancel();
        self.replies.close().await;
        self.sim.shutdown().await;
    }
}

fn comment(ticket_id: u64, comment_id: u64, public: bool, author_id: u64) -> String {
    json!({
        "ticket_id": ticket_id.to_string(),
        "comment_id": comment_id.to_string(),
        "author_id": author_id.to_string(),
        "author_role": "agent",
        "requester_id": "3",
        "public": public.to_string(),
        "body": "We have fixed it.",
        "html_body": "<p>We have fixed it.</p>",
        "attachments": [{"file_name": "fix.pdf", "url": "https://sim.test/fix.pdf"}]
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_agent_comment_is_delivered_once() {
    let s = setup().await;
    let ticket = s.ticket("conv-1").await;
    let body = comment(ticket, 501, true, 5);
    let (status, answer) = s.post(&body, None).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    s.wait_until("one reply", || s.sender.sent().len() == 1)
        .await;
    let reply = &s.sender.sent()[0];
    assert_eq!(reply.channel, "chat");
    assert_eq!(reply.conversation_id.as_deref(), Some("conv-1"));
    assert_eq!(reply.ticket_id, Some(ticket));
    assert_eq!(reply.kind, intake_channel::ReplyKind::AgentReply);
    assert_eq!(reply.text, "We have fixed it.");
    assert_eq!(
        reply.text_with_links(),
        "We have fixed it.\nfix.pdf: https://sim.test/fix.pdf"
    );

    // Zendesk's retry of the same request: nothing more.
    let (status, answer) = s.post(&body, None).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (StatusCode::OK, Some("duplicate"))
    );
    let store = Arc::clone(&s.store);
    let until = tokio::time::Instant::now() + DEADLINE;
    while !store.pending_agent_replies().await.unwrap().is_empty() {
        assert!(tokio::time::Instant::now() < until, "never recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(s.sender.sent().len(), 1);
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_signatures_and_bad_json_deliver_nothing() {
    let s = setup().await;
    let ticket = s.ticket("conv-2").await;
    let body = comment(ticket, 502, true, 5);
    let forged = sign(
        b"another secret",
        &chrono::Utc::now().to_rfc3339(),
        body.as_bytes(),
    );
    let (status, _) = s.post(&body, Some(forged)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = s.post("{not json", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Unsigned-but-valid body afterwards still goes: the forged one claimed nothing.
    let (status, answer) = s.post(&body, None).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (StatusCode::OK, Some("accepted"))
    );
    s.wait_until("the genuine one", || s.sender.sent().len() == 1)
        .await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notes_own_comments_and_unknown_tickets_are_skipped() {
    let s = setup().await;
    let ticket = s.ticket("conv-3").await;
    let cases = [
        (comment(ticket, 601, false, 5), "internal_note"),
        (comment(ticket, 602, true, 3), "own_comment"),
        (comment(ticket + 1000, 603, true, 5), "unknown_ticket"),
    ];
    for (body, reason) in cases {
        let (status, answer) = s.post(&body, None).await;
        assert_eq!(
            (status, answer["reason"].as_str()),
            (StatusCode::OK, Some(reason))
        );
    }
    assert!(s.sender.sent().is_empty());
    assert!(s.store.pending_agent_replies().await.unwrap().is_empty());
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retryable_failure_is_retried_and_a_permanent_one_leaves_a_note() {
    let s = setup().await;
    let ticket = s.ticket("conv-4").await;
    s.sender.fail_next(ReplyError::new(
        ReplyFailure::UpstreamError,
        "503 from the site",
    ));
    s.post(&comment(ticket, 701, true, 5), None).await;
    s.wait_until("sent on the second attempt", || s.sender.sent().len() == 2)
        .await;

    s.sender.fail_next(ReplyError::new(
        ReplyFailure::UnknownRecipient,
        "conversation gone",
    ));
    s.post(&comment(ticket, 702, true, 5), None).await;
    let state = s.sim.state().clone();
    let notes = move || {
        state
            .tickets()
            .iter()
            .filter(|t| t["id"].as_u64() == Some(ticket))
            .flat_map(|t| t["comments"].as_array().cloned().unwrap_or_default())
            .filter(|c| c["public"] == json!(false))
            .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    s.wait_until("the internal note", || !notes().is_empty())
        .await;
    let note = &notes()[0];
    assert!(note.contains("did not receive"), "{note}");
    assert!(note.contains("unknown_recipient"), "{note}");
    assert_eq!(
        s.sender.sent().len(),
        3,
        "a permanent failure is not retried"
    );
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_pending_at_a_restart_is_resumed() {
    let s = setup().await;
    let claimed = AgentReply {
        comment_id: 801,
        ticket_id: 9,
        conversation: ConversationRef {
            channel: "chat".into(),
            thread_id: "conv-5".into(),
        },
        text: "resumed".into(),
        subject: None,
        attachments: Vec::new(),
        status: AgentReplyStatus::Pending,
        reason: None,
    };
    assert!(s.store.claim_agent_reply(&claimed).await.unwrap());
    assert_eq!(s.replies.resume().await.unwrap(), 1);
    s.wait_until("the resumed reply", || s.sender.sent().len() == 1)
        .await;
    assert_eq!(s.sender.sent()[0].text, "resumed");
    s.close().await;
}
