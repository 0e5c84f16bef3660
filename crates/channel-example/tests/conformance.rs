//! The example channel: the kit's conformance suite, and its own cases.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use intake_channel::testing::{WebhookTestSender, load_channel_options, webhook_conformance};
use intake_channel::{ChannelContext, HttpChannel};
use intake_channel_example::{
    CHANNEL, Example, ExampleChannel, ExampleOptions, PATH, SIGNATURE_HEADER, normalise, sign,
};
use secrecy::{ExposeSecret, SecretString};

const SECRET: &str = "example-shared-secret";

/// The options of `[channels.example]` as the gateway loads them, enabled,
/// with the secret from the environment.
fn options() -> ExampleOptions {
    let toml = "[channels.example]\nenabled = true\nsecret_env = \"EXAMPLE_SECRET\"\n";
    load_channel_options::<Example>(toml, &[("EXAMPLE_SECRET", SECRET)])
        .unwrap_or_else(|errors| panic!("{errors}"))
}

struct Sender;

fn request(body: Vec<u8>, secret: Option<&str>) -> Request<Body> {
    let mut request = Request::post(PATH).header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, sign(&SecretString::from(secret), &body));
    }
    request.body(Body::from(body)).unwrap()
}

impl WebhookTestSender for Sender {
    fn routes(&self, ctx: ChannelContext) -> axum::Router {
        ExampleChannel::new(options()).routes(ctx)
    }
    fn max_body_bytes(&self) -> usize {
        options().max_body_bytes
    }
    fn body(&self, id: &str) -> Vec<u8> {
        serde_json::json!({"id": id, "from": "u-1", "text": "hello"})
            .to_string()
            .into_bytes()
    }
    fn body_with_malformed_optional_field(&self, id: &str) -> (Vec<u8>, &'static str) {
        let body = serde_json::json!({"id": id, "from": "u-1", "text": "hi", "name": ["x"]});
        (body.to_string().into_bytes(), "name")
    }
    fn malformed_body(&self, id: &str) -> (Vec<u8>, StatusCode) {
        let body = serde_json::json!({"id": id, "text": "no sender"});
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
        request(body, Some("another secret"))
    }
}

#[tokio::test]
async fn the_example_channel_passes_the_webhook_conformance_suite() {
    webhook_conformance(&Sender).await;
}

#[test]
fn normalise_maps_the_fields_and_keys_the_contact_by_user_id() {
    let body = br#"{"id": "m-1", "from": "u-7", "name": "Anna", "text": "Hi"}"#;
    let now = chrono::Utc::now();
    let message = normalise(body, now).unwrap();
    let event = message.event;
    assert_eq!(event.channel, CHANNEL);
    assert_eq!(event.event_id, intake_event::event_id("example", "m-1"));
    assert_eq!(event.contact.key, "example:u-7");
    assert_eq!(event.contact.name.as_deref(), Some("Anna"));
    assert!(!event.contact.verified);
    assert_eq!(event.text, "Hi");
    assert!(message.dropped.is_empty());

    for (bad, reason) in [
        (&b"not json"[..], "bad_json"),
        (br#"{"id": "m-1", "from": "u-7"}"#, "schema"),
        (br#"{"id": "", "from": "u-7", "text": "x"}"#, "schema"),
    ] {
        let refused = normalise(bad, now).unwrap_err();
        assert_eq!(refused.reason.as_str(), reason, "{refused:?}");
    }
}

#[test]
fn the_section_has_defaults_and_reports_its_problems_with_key_paths() {
    let options = options();
    assert_eq!(options.secret.expose_secret(), SECRET);
    assert_eq!(options.max_body_bytes, 64 * 1024);
    assert_eq!(options.sender_messages_per_minute, 60);
    assert!(!format!("{options:?}").contains(SECRET), "secret in Debug");

    let toml = "[channels.example]\nenabled = true\nmax_body_bytes = 0\nsecret = \"inline\"\n";
    let errors = load_channel_options::<Example>(toml, &[]).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.example.max_body_bytes",
            "channels.example.secret",
            "channels.example.secret_env"
        ],
        "{errors}"
    );
    let inline = errors.for_key("channels.example.secret").unwrap();
    assert!(inline.message.contains("secret_env"), "{inline}");
    let missing = errors.for_key("channels.example.secret_env").unwrap();
    assert!(
        missing
            .message
            .contains("required while channels.example.enabled"),
        "{missing}"
    );
}
