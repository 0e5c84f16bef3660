//! WhatsApp and Slack end to end, with the built binary (`--role all`):
//! signed deliveries become tickets in the Zendesk simulator through the
//! router; wrong or missing signatures are 401 and put nothing on the bus;
//! a redelivery makes no second ticket; a WhatsApp payload with three
//! messages from two people is three events; and the acknowledgement with
//! the ticket number reaches a loopback stand-in of the messenger's API,
//! after that API first answered 429 with `Retry-After`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use common::{Backend, Intake, World, hmac_hex};
use intake_channel::testing::{SeenRequest, api_stand_in};
use serde_json::{Value, json};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(90);

/// What the messenger's API stand-in received.
type Seen = Arc<Mutex<Vec<SeenRequest>>>;

/// Slack's member profile lookup (one person across channels, decision 52):
/// answered with no e-mail to link, and not a reply.
fn is_profile_lookup(request: &SeenRequest) -> bool {
    request.path.ends_with("/users.info")
}

/// A loopback stand-in of a messenger's API: the first reply is 429 with
/// `Retry-After: 1`, every later one `ok` (`answer`). Its base URL.
async fn stand_in(prefix: &'static str, answer: Value) -> (String, Seen) {
    let replies = AtomicUsize::new(0);
    api_stand_in(prefix, move |request, _| {
        if is_profile_lookup(request) {
            return axum::Json(json!({"ok": true, "user": {"id": "U0E2E", "profile": {}}}))
                .into_response();
        }
        if replies.fetch_add(1, Ordering::SeqCst) == 0 {
            (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "1")],
                "slow down",
            )
                .into_response()
        } else {
            axum::Json(answer.clone()).into_response()
        }
    })
    .await
}

/// The replies the stand-in received (the profile lookups left out), as
/// path and JSON body.
fn replies(seen: &Seen) -> Vec<(String, Value)> {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|request| !is_profile_lookup(request))
        .map(|request| (request.path.clone(), request.body.clone()))
        .collect()
}

async fn post(world: &World, path: &str, body: &[u8], headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(world.url(path))
        .header("content-type", "application/json")
        .body(body.to_vec())
        .timeout(Duration::from_secs(20));
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The events on `topic` (read from the start, without consuming).
async fn events_on(world: &World, topic: &str, min: usize) -> Vec<Value> {
    let quiet = Duration::from_secs(2);
    world
        .read_topic(topic, min, quiet, Duration::from_secs(30))
        .await
        .iter()
        .map(|d| serde_json::from_slice(&d.payload).unwrap())
        .collect()
}

/// Waits until a reply naming one of `tickets` was accepted after the 429.
async fn wait_reply_with_ticket(seen: &Seen, tickets: &[Value], text_of: fn(&Value) -> String) {
    // The built-in texts: "… номер 7." (Russian, the default) or "ticket #7.".
    let ids: Vec<Vec<String>> = tickets
        .iter()
        .map(|t| vec![format!("номер {}.", t["id"]), format!("#{}.", t["id"])])
        .collect();
    // The first call was answered 429: the same reply is sent again and
    // accepted, and it names a ticket.
    wait_for(
        "the reply refused with 429 sent again, with the ticket number",
        || {
            let seen = replies(seen);
            let Some((_, refused)) = seen.first() else {
                return false;
            };
            let refused = text_of(refused);
            seen[1..].iter().any(|(_, body)| text_of(body) == refused)
                && ids.iter().flatten().any(|id| refused.contains(id.as_str()))
        },
    )
    .await;
}

const WA_SECRET: &str = "e2e-meta-app-secret";

fn wa_message(id: &str, from: &str, text: &str) -> Value {
    json!({"from": from, "id": id, "timestamp": "1764590000", "type": "text", "text": {"body": text}})
}

fn wa_payload(messages_by_change: Vec<Vec<Value>>) -> Vec<u8> {
    let changes: Vec<Value> = messages_by_change
        .into_iter()
        .map(|messages| {
            json!({"field": "messages", "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                "contacts": [{"profile": {"name": "Anna"}, "wa_id": "16505551234"},
                             {"profile": {"name": "Jonas"}, "wa_id": "4915112345678"}],
                "messages": messages}})
        })
        .collect();
    json!({"object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": changes}]})
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_signed_payloads_become_tickets_and_the_acknowledgement_reaches_the_customer() {
    let sent = json!({"messaging_product": "whatsapp", "messages": [{"id": "wamid.ACK"}]});
    let (api, seen) = stand_in("/v21.0/", sent).await;
    let section = format!(
        r#"
[channels.whatsapp]
enabled = true
app_secret_env = "E2E_WA_APP_SECRET"
verify_token_env = "E2E_WA_VERIFY"
access_token_env = "E2E_WA_TOKEN"
api_base_url = "{api}"
tags = ["whatsapp"]
[acknowledgements]
retry_initial_backoff_ms = 200
retry_max_backoff_secs = 2
"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section).await;
    let env = [
        ("E2E_WA_APP_SECRET", WA_SECRET),
        ("E2E_WA_VERIFY", "e2e-verify"),
        ("E2E_WA_TOKEN", "e2e-graph-token"),
    ];
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;

    let check = reqwest::get(
        world.url("/v1/whatsapp?hub.mode=subscribe&hub.verify_token=e2e-verify&hub.challenge=8812"),
    )
    .await
    .unwrap();
    assert_eq!(check.status().as_u16(), 200);
    assert_eq!(check.text().await.unwrap(), "8812");

    let body = wa_payload(vec![
        vec![
            wa_message("wamid.E2E-A1", "16505551234", "Payment failed twice"),
            wa_message("wamid.E2E-J1", "4915112345678", "Kann mich nicht anmelden"),
        ],
        vec![wa_message(
            "wamid.E2E-A2",
            "16505551234",
            "Card ending 4242",
        )],
    ]);
    let signature = |secret: &str, body: &[u8]| format!("sha256={}", hmac_hex(secret, &[body]));
    let header = "x-hub-signature-256";
    let (status, forged) = post(
        &world,
        "/v1/whatsapp",
        &body,
        &[(header, signature("guess", &body))],
    )
    .await;
    assert_eq!(status, 401, "{forged}");
    let (status, unsigned) = post(&world, "/v1/whatsapp", &body, &[]).await;
    assert_eq!(status, 401, "{unsigned}");
    let signed = [(header, signature(WA_SECRET, &body))];
    let (status, accepted) = post(&world, "/v1/whatsapp", &body, &signed).await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(
        accepted["event_ids"].as_array().map(Vec::len),
        Some(3),
        "{accepted}"
    );
    // Meta delivers the same payload again.
    let (status, again) = post(&world, "/v1/whatsapp", &body, &signed).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event_ids"], accepted["event_ids"]);

    let topic = format!("{}.events.whatsapp", world.topic_prefix);
    let events = events_on(&world, &topic, 6).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["channel_message_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["wamid.E2E-A1", "wamid.E2E-J1", "wamid.E2E-A2"].repeat(2),
        "three events per signed delivery, none for the refused ones"
    );

    // Two people: two tickets; Anna's second message joins her conversation.
    let tickets = world.wait_tickets(2, WAIT).await;
    intake.wait_output("duplicate event suppressed", WAIT).await;
    let subjects: Vec<&str> = tickets
        .iter()
        .filter_map(|t| t["subject"].as_str())
        .collect();
    assert!(
        subjects.iter().any(|s| s.contains("Payment failed twice")),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s.contains("Kann mich nicht anmelden")),
        "{subjects:?}"
    );

    wait_reply_with_ticket(&seen, &tickets, |body| {
        body["text"]["body"].as_str().unwrap_or_default().to_owned()
    })
    .await;
    {
        let seen = replies(&seen);
        assert_eq!(seen[0].0, "/v21.0/106540352242922/messages");
        assert_eq!(seen[1].1["type"], "text");
    }
    assert_eq!(
        world.tickets().await.len(),
        2,
        "the redelivery made no ticket"
    );
    intake.terminate(Duration::from_secs(30)).await;
}

const SLACK_SECRET: &str = "e2e-slack-signing-secret";

fn slack_body(
    event_id: &str,
    user: &str,
    ts: &str,
    thread_ts: Option<&str>,
    text: &str,
) -> Vec<u8> {
    let mut event = json!({"type": "message", "user": user, "text": text, "ts": ts,
        "channel": "C0SUPPORT", "channel_type": "channel", "event_ts": ts});
    if let Some(thread) = thread_ts {
        event["thread_ts"] = json!(thread);
    }
    json!({"token": "x", "team_id": "T0E2E", "api_app_id": "A0E2E", "event": event,
        "type": "event_callback", "event_id": event_id, "event_time": 1764590000,
        "authorizations": [{"team_id": "T0E2E", "user_id": "U0INTAKE", "is_bot": true}]})
    .to_string()
    .into_bytes()
}

fn slack_headers(secret: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = format!(
        "v0={}",
        hmac_hex(secret, &[b"v0:", ts.as_bytes(), b":", body])
    );
    vec![
        ("x-slack-request-timestamp", ts),
        ("x-slack-signature", signature),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_signed_events_become_tickets_threads_comments_and_the_acknowledgement_is_threaded() {
    let (api, seen) = stand_in("/api/", json!({"ok": true, "ts": "1764590100.000100"})).await;
    let section = format!(
        r#"
[channels.slack]
enabled = true
signing_secret_env = "E2E_SLACK_SIGNING"
bot_token_env = "E2E_SLACK_BOT"
api_base_url = "{api}"
support_channels = ["C0SUPPORT"]
[acknowledgements]
retry_initial_backoff_ms = 200
retry_max_backoff_secs = 2
"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &section).await;
    let env = [
        ("E2E_SLACK_SIGNING", SLACK_SECRET),
        ("E2E_SLACK_BOT", "xoxb-e2e"),
    ];
    let mut intake = Intake::spawn_with_env(&world.config_path, "all", &env);
    world.wait_ready(&mut intake).await;
    let path = "/v1/slack/events";

    let root = slack_body(
        "Ev0E2EROOT",
        "U0ANNA",
        "1764590000.000100",
        None,
        "VPN drops every hour",
    );
    let (status, forged) = post(&world, path, &root, &slack_headers("guess", &root)).await;
    assert_eq!(status, 401, "{forged}");
    let (status, unsigned) = post(&world, path, &root, &[]).await;
    assert_eq!(status, 401, "{unsigned}");
    let (status, accepted) = post(&world, path, &root, &slack_headers(SLACK_SECRET, &root)).await;
    assert_eq!(status, 200, "{accepted}");
    // Slack retries the delivery (X-Slack-Retry-Num): the same event id.
    let mut retry = slack_headers(SLACK_SECRET, &root);
    retry.push(("x-slack-retry-num", "1".to_owned()));
    let (status, again) = post(&world, path, &root, &retry).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["event_id"], accepted["event_id"]);
    // Our own acknowledgement coming back is ignored.
    let own = slack_body(
        "Ev0E2EOWN",
        "U0INTAKE",
        "1764590100.000100",
        Some("1764590000.000100"),
        "ack",
    );
    let (status, _) = post(&world, path, &own, &slack_headers(SLACK_SECRET, &own)).await;
    assert_eq!(status, 200);
    let reply = slack_body(
        "Ev0E2EREPLY",
        "U0BEN",
        "1764590200.000100",
        Some("1764590000.000100"),
        "Same here",
    );
    let (status, _) = post(&world, path, &reply, &slack_headers(SLACK_SECRET, &reply)).await;
    assert_eq!(status, 200);

    let topic = format!("{}.events.slack", world.topic_prefix);
    let events = events_on(&world, &topic, 3).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["channel_message_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["Ev0E2EROOT", "Ev0E2EROOT", "Ev0E2EREPLY"]);

    let tickets = world.wait_tickets(1, WAIT).await;
    intake.wait_output("duplicate event suppressed", WAIT).await;
    wait_reply_with_ticket(&seen, &tickets, |body| {
        body["text"].as_str().unwrap_or_default().to_owned()
    })
    .await;
    {
        let seen = replies(&seen);
        assert_eq!(seen[1].0, "/api/chat.postMessage");
        assert_eq!(seen[1].1["channel"], "C0SUPPORT");
        assert_eq!(seen[1].1["thread_ts"], "1764590000.000100");
    }
    assert_eq!(
        world.tickets().await.len(),
        1,
        "the thread reply is a comment, the retry nothing"
    );
    intake.terminate(Duration::from_secs(30)).await;
}
