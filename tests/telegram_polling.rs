//! Telegram long polling end to end, with the built binary: SIGKILL the
//! process after its updates were published but before Telegram dropped
//! them (the stand-in keeps every update until told to honour offsets),
//! add updates while it is down, restart: every update is one ticket, none
//! is lost, none is doubled; then the offset passes them all.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Intake, World};
use serde_json::{Value, json};

const TOKEN: &str = "4343:e2e-polling-token";
const WAIT: Duration = Duration::from_secs(90);

#[derive(Default)]
struct Updates {
    pending: Mutex<Vec<Value>>,
    offsets: Mutex<Vec<Option<i64>>>,
    /// Drop updates below the offset (Telegram's confirmation) only once set.
    honour_offsets: AtomicBool,
}

async fn start_bot_api(state: Arc<Updates>) -> String {
    let app = axum::Router::new().route(
        &format!("/bot{TOKEN}/getUpdates"),
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let state = Arc::clone(&state);
            async move {
                let offset = body["offset"].as_i64();
                state.offsets.lock().unwrap().push(offset);
                let pending = {
                    let mut pending = state.pending.lock().unwrap();
                    if let Some(offset) = offset
                        && state.honour_offsets.load(Ordering::SeqCst)
                    {
                        pending.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                    }
                    pending.clone()
                };
                // A short long poll.
                tokio::time::sleep(Duration::from_millis(200)).await;
                axum::Json(json!({"ok": true, "result": pending}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn update(update_id: i64, text: &str) -> Value {
    json!({"update_id": update_id, "message": {
        "message_id": update_id - 2000, "date": 1764590000, "text": text,
        "from": {"id": 555, "is_bot": false, "first_name": "Vera"},
        "chat": {"id": 555, "first_name": "Vera", "type": "private"}}})
}

async fn wait_for(what: &str, intake: &Intake, mut condition: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition().await {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {}",
            intake.output()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The comment bodies of every ticket (one private chat: one ticket whose
/// first comment is the first message).
fn comments(tickets: &[Value]) -> Vec<String> {
    tickets
        .iter()
        .flat_map(|t| t["comments"].as_array().cloned().unwrap_or_default())
        .map(|c| c["body"].as_str().unwrap_or_default().trim().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_and_restart_in_polling_mode_lose_nothing_and_double_nothing() {
    let state = Arc::new(Updates::default());
    let api = start_bot_api(Arc::clone(&state)).await;
    let section = format!(
        "[channels.telegram]\nenabled = true\nmode = \"polling\"\npoll_timeout_secs = 1\n\
         bot = \"support\"\nbot_username = \"intake_support_bot\"\ntoken_env = \"E2E_TG_TOKEN\"\n\
         api_base_url = \"{api}\"\n[acknowledgements]\nenabled = false\n"
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section).await;
    let env = [("E2E_TG_TOKEN", TOKEN)];
    *state.pending.lock().unwrap() = (1..=3)
        .map(|n| update(2000 + n, &format!("update {n}")))
        .collect();

    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;
    wait_for("three messages", &intake, async || {
        comments(&world.tickets().await).len() >= 3
    })
    .await;
    // Published and acknowledged to Telegram (offset 2004), but Telegram
    // still holds them: a restart gets all three again.
    wait_for("the offset past the three", &intake, async || {
        state.offsets.lock().unwrap().contains(&Some(2004))
    })
    .await;
    intake.kill();

    state
        .pending
        .lock()
        .unwrap()
        .extend((4..=5).map(|n| update(2000 + n, &format!("update {n}"))));
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;
    wait_for("the offset past all five", &intake, async || {
        state.offsets.lock().unwrap().contains(&Some(2006))
    })
    .await;
    state.honour_offsets.store(true, Ordering::SeqCst);
    // Update 5 is the last of one contact's ordered partition: once it is
    // on the ticket, the repeats of 1-3 were handled before it.
    wait_for("the fifth message", &intake, async || {
        comments(&world.tickets().await)
            .iter()
            .any(|c| c.contains("update 5"))
    })
    .await;
    let tickets = world.tickets().await;
    assert_eq!(
        tickets.len(),
        1,
        "one private chat, one ticket: {tickets:#?}"
    );
    assert_eq!(
        comments(&tickets),
        ["update 1", "update 2", "update 3", "update 4", "update 5"],
        "{tickets:#?}"
    );
    wait_for(
        "Telegram dropped the confirmed updates",
        &intake,
        async || {
            state.pending.lock().unwrap().is_empty() || {
                // The next call after honouring drops them.
                false
            }
        },
    )
    .await;
    intake.terminate(Duration::from_secs(30)).await;
}
