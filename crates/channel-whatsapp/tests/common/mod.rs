//! Fixtures shaped like the Cloud API's webhook payloads, the channel's
//! options as the gateway loads them, and a loopback stand-in of the Graph API.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::Request;
use intake_channel::testing::load_channel_options;
use intake_channel_whatsapp::{PATH, SIGNATURE_HEADER, WhatsApp, WhatsAppOptions, sign};
use secrecy::SecretString;
use serde_json::{Value, json};

pub const APP_SECRET: &str = "meta-app-secret";
pub const VERIFY_TOKEN: &str = "verify-me";
pub const ACCESS_TOKEN: &str = "graph-access-token";
pub const PHONE_NUMBER_ID: &str = "106540352242922";

/// `[channels.whatsapp]` as the gateway loads it, the Graph API at `api`.
pub fn options(api: &str, extra: &str) -> WhatsAppOptions {
    let toml = format!(
        "[channels.whatsapp]\nenabled = true\napp_secret_env = \"WA_APP_SECRET\"\n\
         verify_token_env = \"WA_VERIFY\"\naccess_token_env = \"WA_TOKEN\"\n\
         api_base_url = \"{api}\"\n{extra}"
    );
    load_channel_options::<WhatsApp>(
        &toml,
        &[
            ("WA_APP_SECRET", APP_SECRET),
            ("WA_VERIFY", VERIFY_TOKEN),
            ("WA_TOKEN", ACCESS_TOKEN),
        ],
    )
    .unwrap_or_else(|errors| panic!("{errors}"))
}

/// A text message from `from` with the `wamid` `id`.
pub fn text(id: &str, from: &str, body: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1749416383", "type": "text", "text": {"body": body}})
}

/// A `messages` change from the business number with these senders' profiles.
pub fn change(contacts: &[(&str, Value)], messages: Vec<Value>) -> Value {
    let contacts: Vec<Value> = contacts
        .iter()
        .map(|(wa_id, name)| json!({"profile": {"name": name}, "wa_id": wa_id}))
        .collect();
    json!({
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "contacts": contacts,
            "messages": messages,
        }
    })
}

/// A status notice change (`sent`, `delivered`, `read`).
pub fn status_change(status: &str) -> Value {
    json!({
        "field": "messages",
        "value": {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "15550783881", "phone_number_id": PHONE_NUMBER_ID},
            "statuses": [{
                "id": "wamid.OUTBOUND1", "status": status, "timestamp": "1749416400",
                "recipient_id": "16505551234",
                "pricing": {"billable": true, "pricing_model": "CBP", "category": "service"}
            }]
        }
    })
}

/// The payload of these entries, each a list of changes.
pub fn payload(entries: Vec<Vec<Value>>) -> Vec<u8> {
    let entries: Vec<Value> = entries
        .into_iter()
        .map(|changes| json!({"id": "102290129340398", "changes": changes}))
        .collect();
    json!({"object": "whatsapp_business_account", "entry": entries})
        .to_string()
        .into_bytes()
}

/// A delivery of `body` signed with `secret` (none: unsigned).
pub fn request(body: Vec<u8>, secret: Option<&str>) -> Request<Body> {
    let mut request = Request::post(PATH).header("content-type", "application/json");
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, sign(&SecretString::from(secret), &body));
    }
    request.body(Body::from(body)).unwrap()
}

/// One request the stand-in received.
pub use intake_channel::testing::SeenRequest as Seen;

/// A loopback stand-in of the API answering with `answer(request, count)`;
/// returns its base URL (`http://127.0.0.1:<port>/v21.0/`) and the requests.
pub async fn stand_in<F>(answer: F) -> (String, Arc<Mutex<Vec<Seen>>>)
where
    F: Fn(&Seen, usize) -> axum::response::Response + Send + Sync + 'static,
{
    intake_channel::testing::api_stand_in("/v21.0/", answer).await
}
