//! The Telegram webhook: the kit's conformance suite, the updates from
//! Bot API fixtures, files through a stand-in Bot API, and the section.

mod support;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_blob::{BlobStore, LocalDirBlobStore};
use intake_channel::testing::{
    RecordingPublisher, WebhookTestSender, load_channel_options, webhook_conformance,
};
use intake_channel::{ChannelContext, HttpChannel, TicketEvent};
use intake_channel_telegram::{
    GroupMessages, Ignored, Rules, SECRET_HEADER, Telegram, TelegramChannel, Update, normalise,
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use support::{SECRET, bot_api, file_bytes, fixture, options};
use tower::ServiceExt;

const PATH: &str = "/v1/telegram/support";

fn request(body: Vec<u8>, secret: Option<&str>) -> Request<Body> {
    let mut request = Request::post(PATH).header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(SECRET_HEADER, secret);
    }
    request.body(Body::from(body)).unwrap()
}

/// A message id from the suite's string id (the Bot API's ids are integers).
fn message_id(id: &str) -> u64 {
    id.bytes()
        .fold(17u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 1_000_000_000
}

fn update(id: &str, message: Value) -> Vec<u8> {
    let mut message = message;
    message["message_id"] = json!(message_id(id));
    message["from"] = json!({"id": 42, "is_bot": false, "first_name": "Anna"});
    message["chat"] = json!({"id": 42, "type": "private"});
    message["date"] = json!(1764590000);
    json!({"update_id": message_id(id), "message": message})
        .to_string()
        .into_bytes()
}

struct Sender;

impl WebhookTestSender for Sender {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        // No file in these bodies: the Bot API is never called.
        TelegramChannel::new(options("http://127.0.0.1:9", ""))
            .unwrap()
            .routes(ctx)
    }
    fn max_body_bytes(&self) -> usize {
        options("http://127.0.0.1:9", "").max_body_bytes
    }
    fn body(&self, id: &str) -> Vec<u8> {
        update(id, json!({"text": "hello"}))
    }
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str) {
        let card = json!({"phone_number": "not a number", "first_name": "B", "user_id": 7});
        (
            update(id, json!({"text": "hi", "contact": card})),
            "contact.phone_number",
        )
    }
    fn malformed_body(&self, id: &str) -> (Vec<u8>, StatusCode) {
        let mut body: Value = serde_json::from_slice(&self.body(id)).unwrap();
        body["message"]["chat"] = json!({"type": "private"});
        (
            body.to_string().into_bytes(),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
    }
    fn signed(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some(SECRET))
    }
    fn unsigned(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, None)
    }
    fn forged(&self, _id: &str, body: Vec<u8>) -> Request<Body> {
        request(body, Some("webhook-secret_of-the-tesT"))
    }
}

#[tokio::test]
async fn the_telegram_channel_passes_the_webhook_conformance_suite() {
    webhook_conformance(&Sender).await;
}

fn rules(group_messages: GroupMessages) -> Rules {
    Rules {
        bot: "support".to_owned(),
        bot_username: Some("intake_support_bot".to_owned()),
        group_messages,
    }
}

fn event_of(name: &str, group_messages: GroupMessages) -> TicketEvent {
    match normalise(&rules(group_messages), &fixture(name), chrono::Utc::now()).unwrap() {
        Update::Message(message) => message.event,
        Update::Ignored(reason) => panic!("{name} ignored: {reason:?}"),
    }
}

fn ignored(name: &str, group_messages: GroupMessages) -> Ignored {
    match normalise(&rules(group_messages), &fixture(name), chrono::Utc::now()).unwrap() {
        Update::Ignored(reason) => reason,
        Update::Message(message) => panic!("{name} made an event: {:?}", message.event),
    }
}

#[test]
fn a_private_text_keys_the_person_and_the_chat_and_ids_the_message() {
    let event = event_of("private_text", GroupMessages::Mentions);
    assert_eq!(event.channel, "telegram");
    assert_eq!(event.channel_message_id, "support:111222333:42");
    assert_eq!(
        event.event_id,
        intake_event::event_id("telegram", "support:111222333:42")
    );
    assert_eq!(event.contact.key, "telegram:111222333");
    assert_eq!(event.contact.name.as_deref(), Some("Anna Petrova"));
    assert_eq!(event.contact.locale.as_deref(), Some("ru"));
    assert!(
        event.contact.verified,
        "the user id is Telegram's, no typed address"
    );
    assert_eq!(event.contact.phone, None);
    assert_eq!(event.conversation.thread_id.as_deref(), Some("111222333"));
    assert_eq!(event.text, "My order 1234 has not arrived");
    assert_eq!(event.sent_at.unwrap().timestamp(), 1764590000);
    assert_eq!(event.metadata["telegram_username"], "anna_p");
}

#[test]
fn an_edit_is_a_new_event_in_the_same_conversation_saying_it_is_an_edit() {
    let original = event_of("private_text", GroupMessages::Mentions);
    let edit = event_of("edited", GroupMessages::Mentions);
    assert_ne!(edit.event_id, original.event_id);
    assert_eq!(
        edit.channel_message_id,
        "support:111222333:42:edited:1764590400"
    );
    assert_eq!(edit.conversation.thread_id, original.conversation.thread_id);
    assert!(edit.text.contains("edited"), "{}", edit.text);
    assert!(edit.text.contains("My order 1235"), "{}", edit.text);
}

#[test]
fn start_channel_posts_and_group_chatter_make_no_event() {
    assert_eq!(ignored("start", GroupMessages::Mentions), Ignored::Start);
    assert_eq!(
        ignored("channel_post", GroupMessages::All),
        Ignored::Unsupported
    );
    assert_eq!(
        ignored("group_chatter", GroupMessages::Mentions),
        Ignored::NotAddressed
    );
    // With `all`, the same chatter is taken.
    let taken = event_of("group_chatter", GroupMessages::All);
    assert_eq!(taken.contact.key, "telegram:777888999");
}

#[test]
fn group_mentions_and_replies_to_the_bot_are_one_conversation_of_two_people() {
    let mention = event_of("group_mention", GroupMessages::Mentions);
    let reply = event_of("group_reply", GroupMessages::Mentions);
    assert_eq!(
        mention.conversation.thread_id.as_deref(),
        Some("-1001234567890")
    );
    assert_eq!(reply.conversation.thread_id, mention.conversation.thread_id);
    assert_eq!(mention.contact.key, "telegram:111222333");
    assert_eq!(reply.contact.key, "telegram:777888999");
    assert_eq!(
        reply.conversation.in_reply_to.as_deref(),
        Some("support:-1001234567890:305")
    );
    assert_eq!(mention.metadata["telegram_chat_type"], "supergroup");
    assert_eq!(mention.metadata["telegram_chat_title"], "ACME support");
}

#[test]
fn a_shared_own_contact_puts_the_verified_phone_on_the_requester_and_another_does_not() {
    let own = event_of("contact_own", GroupMessages::Mentions);
    assert_eq!(own.contact.phone.as_deref(), Some("+79991234567"));
    assert_eq!(
        own.contact.key, "telegram:111222333",
        "the key stays the person's"
    );

    let other = event_of("contact_other", GroupMessages::Mentions);
    assert_eq!(other.contact.phone, None);
    assert!(
        other.text.contains("Boris") && other.text.contains("+79997654321"),
        "{}",
        other.text
    );
}

#[test]
fn files_are_listed_largest_photo_first_with_their_types() {
    let photo = normalise(
        &rules(GroupMessages::All),
        &fixture("photo_caption"),
        chrono::Utc::now(),
    );
    let Ok(Update::Message(photo)) = photo else {
        panic!("no event")
    };
    assert_eq!(photo.event.text, "The box arrived broken");
    assert_eq!(photo.extra.len(), 1);
    assert_eq!(photo.extra[0].file_id, "photo-large");
    assert_eq!(photo.extra[0].content_type, "image/jpeg");

    let media = normalise(
        &rules(GroupMessages::All),
        &fixture("voice_video"),
        chrono::Utc::now(),
    );
    let Ok(Update::Message(media)) = media else {
        panic!("no event")
    };
    let kinds: Vec<_> = media
        .extra
        .iter()
        .map(|f| (f.kind, f.filename.as_str()))
        .collect();
    assert_eq!(kinds, [("voice", "voice.ogg"), ("video", "unboxing.mp4")]);
}

#[test]
fn bad_updates_are_refused_with_the_field() {
    for (body, reason) in [
        (&b"{not json"[..], "bad_json"),
        (br#"{"message": {"message_id": 1}}"#, "schema"),
        (
            br#"{"update_id": 1, "message": {"chat": {"id": 1}}}"#,
            "schema",
        ),
    ] {
        let refused = normalise(&rules(GroupMessages::All), body, chrono::Utc::now()).unwrap_err();
        assert_eq!(refused.reason.as_str(), reason, "{refused:?}");
    }
}

struct Gateway {
    app: axum::Router,
    bus: Arc<RecordingPublisher>,
    blobs: Arc<LocalDirBlobStore>,
    _dir: tempfile::TempDir,
}

fn gateway(api: &str, extra: &str) -> Gateway {
    let dir = tempfile::tempdir().unwrap();
    let bus = RecordingPublisher::new();
    let blobs = Arc::new(LocalDirBlobStore::new(dir.path().join("blobs")));
    let ctx = ChannelContext {
        publisher: Arc::clone(&bus) as _,
        topics: intake_bus::Topics::new("t"),
        blobs: Arc::clone(&blobs) as _,
    };
    let app = TelegramChannel::new(options(api, extra))
        .unwrap()
        .routes(ctx);
    Gateway {
        app,
        bus,
        blobs,
        _dir: dir,
    }
}

async fn deliver(gateway: &Gateway, body: Vec<u8>, secret: Option<&str>) -> (StatusCode, Value) {
    let response = gateway
        .app
        .clone()
        .oneshot(request(body, secret))
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn published(gateway: &Gateway) -> Vec<TicketEvent> {
    gateway
        .bus
        .records()
        .iter()
        .map(|r| TicketEvent::from_json(&r.payload).unwrap())
        .collect()
}

#[tokio::test]
async fn start_is_answered_200_and_counted_without_an_event() {
    // The default runtime runs the handler on this thread: its recorder counts.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let gateway = gateway("http://127.0.0.1:9", "");
    let (status, body) = deliver(&gateway, fixture("start"), Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "ignored");
    assert_eq!(body["reason"], "start");
    assert!(gateway.bus.records().is_empty());
    let rendered = metrics.render();
    assert!(
        rendered.contains("intake_telegram_updates_ignored_total{reason=\"start\"} 1"),
        "{rendered}"
    );
    // Unauthenticated, the same update is a 401 from the kit.
    let (status, _) = deliver(&gateway, fixture("start"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn files_are_fetched_with_get_file_into_the_blob_store() {
    let (api, state) = bot_api().await;
    let gateway = gateway(&api, "");
    let (status, body) = deliver(&gateway, fixture("voice_video"), Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = published(&gateway);
    assert_eq!(events.len(), 1);
    let attachments = &events[0].attachments;
    assert_eq!(attachments.len(), 2);
    for (attachment, id) in attachments.iter().zip(["voice-1", "video-1"]) {
        let stored = gateway.blobs.get(&attachment.blob).await.unwrap();
        assert_eq!(stored, file_bytes(id));
        assert_eq!(attachment.size, stored.len() as u64);
    }
    assert_eq!(attachments[1].filename, "unboxing.mp4");
    assert_eq!(
        state
            .get_file_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        2
    );
}

#[tokio::test]
async fn a_file_over_the_limit_is_named_on_the_ticket_not_dropped() {
    let (api, state) = bot_api().await;
    // Declared over the limit: not asked for at all.
    let gateway = gateway(&api, "");
    let (status, _) = deliver(&gateway, fixture("document_too_big"), Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let event = &published(&gateway)[0];
    assert!(event.attachments.is_empty());
    assert!(
        event.text.starts_with("Scan of the invoice"),
        "{}",
        event.text
    );
    assert!(
        event
            .text
            .contains("\"scan.pdf\", 48000000 bytes not attached"),
        "{}",
        event.text
    );
    assert_eq!(
        state
            .get_file_calls
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );

    // Refused by Telegram as too big (no size declared): named too.
    let body = update(
        "huge",
        json!({"caption": "video", "video": {"file_id": "huge-1", "file_name": "a.mp4"}}),
    );
    let (status, _) = deliver(&gateway, body, Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let event = &published(&gateway)[1];
    assert!(
        event.text.contains("\"a.mp4\" not attached: larger than"),
        "{}",
        event.text
    );

    // Our own smaller limit applies to the download too.
    let small = gateway_with_limit(&api);
    let (status, _) = deliver(&small, fixture("voice_video"), Some(SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let event = &published(&small)[0];
    assert!(event.attachments.is_empty());
    assert!(
        event
            .text
            .contains("\"voice.ogg\", 3000 bytes not attached"),
        "{}",
        event.text
    );
}

fn gateway_with_limit(api: &str) -> Gateway {
    gateway(api, "max_file_bytes = 5\n")
}

#[tokio::test]
async fn an_unreachable_bot_api_refuses_the_delivery_for_a_retry() {
    let gateway = gateway("http://127.0.0.1:9", "");
    let (status, body) = deliver(&gateway, fixture("photo_caption"), Some(SECRET)).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(gateway.bus.records().is_empty());
}

#[test]
fn the_section_has_defaults_and_reports_its_problems_with_key_paths() {
    let options = options("https://api.telegram.org/", "");
    assert_eq!(options.api_base_url, "https://api.telegram.org");
    assert_eq!(
        options.secret_token.as_ref().unwrap().expose_secret(),
        SECRET
    );
    assert_eq!(options.max_file_bytes, 20 * 1024 * 1024);
    assert_eq!(options.group_messages, GroupMessages::Mentions);
    assert!(!format!("{options:?}").contains(SECRET), "secret in Debug");
    assert!(
        !format!("{options:?}").contains(support::TOKEN),
        "token in Debug"
    );

    let toml = "[channels.telegram]\nenabled = true\nbot = \"a/b\"\ngroup_messages = \"some\"\napi_base_url = \"ftp://x\"\n";
    let errors = load_channel_options::<Telegram>(toml, &[]).unwrap_err();
    let mut keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "channels.telegram.api_base_url",
            "channels.telegram.bot",
            "channels.telegram.bot_username",
            "channels.telegram.group_messages",
            "channels.telegram.secret_token_env",
            "channels.telegram.token_env",
        ],
        "{errors}"
    );
}
