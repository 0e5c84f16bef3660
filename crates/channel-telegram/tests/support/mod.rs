//! Shared by the channel's tests: the section as the gateway loads it, and
//! a loopback stand-in of the Bot API (`getFile`, file downloads,
//! `sendMessage` with scripted 429 answers).

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use intake_channel::testing::load_channel_options;
use intake_channel_telegram::{Telegram, TelegramOptions};
use serde_json::{Value, json};

pub const TOKEN: &str = "123456:TEST-token";
pub const SECRET: &str = "webhook-secret_of-the-test";

/// `[channels.telegram]`, enabled, over the Bot API at `api_base_url`, plus `extra` keys.
pub fn options(api_base_url: &str, extra: &str) -> TelegramOptions {
    let toml = format!(
        "[channels.telegram]\nenabled = true\nbot = \"support\"\nbot_username = \"Intake_Support_Bot\"\n\
         token_env = \"TG_TOKEN\"\nsecret_token_env = \"TG_SECRET\"\napi_base_url = \"{api_base_url}\"\n{extra}"
    );
    load_channel_options::<Telegram>(&toml, &[("TG_TOKEN", TOKEN), ("TG_SECRET", SECRET)])
        .unwrap_or_else(|errors| panic!("{errors}"))
}

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What the stand-in saw and how it answers.
#[derive(Default)]
pub struct BotState {
    /// `sendMessage` bodies, in order.
    pub sent: Mutex<Vec<Value>>,
    /// `sendMessage` calls still to be answered 429.
    pub throttle: AtomicUsize,
    /// `retry_after` of those answers, in seconds.
    pub retry_after_secs: AtomicUsize,
    /// `getFile` calls.
    pub get_file_calls: AtomicUsize,
    /// Updates not yet confirmed (`getUpdates` drops those below its offset).
    pub updates: Mutex<Vec<Value>>,
    /// The `offset` of every `getUpdates` call.
    pub offsets: Mutex<Vec<Option<i64>>>,
}

/// The bytes behind file id `id`.
pub fn file_bytes(id: &str) -> Vec<u8> {
    format!("bytes of {id}").into_bytes()
}

/// Starts the stand-in on 127.0.0.1; its base URL and state.
pub async fn bot_api() -> (String, Arc<BotState>) {
    let state = Arc::new(BotState::default());
    let token = TOKEN;
    let app = axum::Router::new()
        .route(&format!("/bot{token}/getFile"), post(get_file))
        .route(&format!("/bot{token}/sendMessage"), post(send_message))
        .route(&format!("/bot{token}/getUpdates"), post(get_updates))
        .route(&format!("/file/bot{token}/files/{{id}}"), get(download))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

async fn get_file(
    State(state): State<Arc<BotState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    state.get_file_calls.fetch_add(1, Ordering::SeqCst);
    let id = body["file_id"].as_str().unwrap_or_default().to_owned();
    if id.starts_with("huge") {
        let refused =
            json!({"ok": false, "error_code": 400, "description": "Bad Request: file is too big"});
        return (StatusCode::BAD_REQUEST, Json(refused));
    }
    let size = file_bytes(&id).len();
    let file = json!({"file_id": id, "file_unique_id": "u", "file_size": size, "file_path": format!("files/{id}")});
    (StatusCode::OK, Json(json!({"ok": true, "result": file})))
}

async fn download(Path(id): Path<String>) -> Vec<u8> {
    file_bytes(&id)
}

async fn send_message(
    State(state): State<Arc<BotState>>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let count = {
        let mut sent = state.sent.lock().unwrap();
        sent.push(body);
        sent.len()
    };
    let throttled = state
        .throttle
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    if throttled {
        let wait = state.retry_after_secs.load(Ordering::SeqCst);
        let answer = json!({"ok": false, "error_code": 429,
            "description": format!("Too Many Requests: retry after {wait}"),
            "parameters": {"retry_after": wait}});
        return (StatusCode::TOO_MANY_REQUESTS, Json(answer));
    }
    let message = json!({"message_id": 9000 + count, "date": 1764591000, "chat": {"id": 1, "type": "private"}});
    (StatusCode::OK, Json(json!({"ok": true, "result": message})))
}

async fn get_updates(State(state): State<Arc<BotState>>, Json(body): Json<Value>) -> Json<Value> {
    let offset = body["offset"].as_i64();
    state.offsets.lock().unwrap().push(offset);
    let pending = {
        let mut updates = state.updates.lock().unwrap();
        if let Some(offset) = offset {
            updates.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
        }
        updates.clone()
    };
    if pending.is_empty() {
        // A short long poll, so that an idle poller does not spin.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    Json(json!({"ok": true, "result": pending}))
}
