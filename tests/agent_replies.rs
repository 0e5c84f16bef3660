//! Agent replies end to end with the built binary (issue 16): a chat message
//! becomes a ticket; the simulator's agent replies on it and delivers the
//! signed webhook to the gateway; the site gets exactly one signed callback
//! carrying the agent's text. An internal note sends nothing, a redelivered
//! webhook sends nothing more, and a wrong signature is 401.

mod common;

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use common::{Backend, Callbacks, World, metric_value, start_callback_endpoint, wait_for};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(90);
const HOOK_SECRET: &str = "zendesk-webhook-secret";

/// Posts a webhook body signed with `secret`, as Zendesk would.
async fn post_webhook(world: &World, body: &str, secret: &str) -> u16 {
    let timestamp = chrono::Utc::now().to_rfc3339();
    let signature = intake_zendesk_sim::webhooks::sign(secret, &timestamp, body.as_bytes());
    reqwest::Client::new()
        .post(world.url("/v1/zendesk/events"))
        .header("content-type", "application/json")
        .header("x-zendesk-webhook-signature-timestamp", timestamp)
        .header("x-zendesk-webhook-signature", signature)
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_reaches_the_chat_once() {
    let port = common::free_port();
    let site_key: Vec<u8> = (0..32).map(|i| (i * 7 + 3) as u8).collect();
    let extra = format!(
        r#"
[channels.chat.callback]
url = "http://127.0.0.1:{port}/intake/replies"
secret_file = "SITE_SECRET_FILE"
timeout_secs = 5
[acknowledgements]
enabled = false
[zendesk_webhook]
enabled = true
signing_secret_file = "HOOK_SECRET_FILE"
"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &extra).await;
    let site_path = world.path("site-secret");
    let site_secret = base64::engine::general_purpose::STANDARD.encode(&site_key);
    std::fs::write(&site_path, format!("whsec_{site_secret}")).unwrap();
    let hook_path = world.path("hook-secret");
    std::fs::write(&hook_path, HOOK_SECRET).unwrap();
    for path in [&world.config_path, &world.router_config_path] {
        let text = std::fs::read_to_string(path)
            .unwrap()
            .replace("\"SITE_SECRET_FILE\"", &format!("{site_path:?}"))
            .replace("\"HOOK_SECRET_FILE\"", &format!("{hook_path:?}"));
        std::fs::write(path, text).unwrap();
    }
    let seen: Callbacks = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    start_callback_endpoint(listener, Arc::clone(&seen)).await;

    let mut gateway = world.spawn("gateway", None);
    let mut router = world.spawn("router", None);
    world.wait_ready(&mut gateway).await;
    world.wait_ready_on(world.router_ops, &mut router).await;
    world
        .sim_admin(
            reqwest::Method::POST,
            "/admin/webhooks",
            Some(json!({"url": world.url("/v1/zendesk/events"), "signing_secret": HOOK_SECRET})),
        )
        .await;

    let body = common::chat_body("conv-agent-1", "visitor-agent-1", None, "Где мой заказ?");
    let (status, accepted) = world.post_chat("agent-msg-1", &body).await;
    assert_eq!(status, 202, "{accepted}");
    router.wait_output("ticket created", WAIT).await;
    let tickets = world.wait_tickets(1, WAIT).await;
    let ticket_id = tickets[0]["id"].as_u64().unwrap();

    // An internal note first: the trigger fires, nothing is sent.
    world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{ticket_id}/agent_reply"),
            Some(json!({"body": "note: check the warehouse", "public": false})),
        )
        .await;
    let reply = world
        .sim_admin(
            reqwest::Method::POST,
            &format!("/admin/tickets/{ticket_id}/agent_reply"),
            Some(json!({"body": "Ваш заказ отправлен сегодня."})),
        )
        .await;
    wait_for("the agent reply callback", async || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let skipped = |metrics: &str, reason: &str| {
        metric_value(
            metrics,
            "intake_agent_replies_skipped_total",
            &[("reason", reason)],
        )
    };
    wait_for("the note skipped and the reply recorded sent", async || {
        let metrics = world.metrics().await;
        skipped(&metrics, "internal_note") == Some(1.0)
            && metric_value(
                &metrics,
                "intake_agent_replies_sent_total",
                &[("channel", "chat")],
            ) == Some(1.0)
    })
    .await;

    // Zendesk redelivers the same webhook; a forged one is refused.
    let payload = reply["payload"].to_string();
    assert_eq!(post_webhook(&world, &payload, HOOK_SECRET).await, 200);
    assert_eq!(post_webhook(&world, &payload, "not the secret").await, 401);
    wait_for("the duplicate and the rejection counted", async || {
        let metrics = world.metrics().await;
        skipped(&metrics, "duplicate") == Some(1.0)
            && metric_value(
                &metrics,
                "intake_zendesk_webhooks_rejected_total",
                &[("reason", "bad_signature")],
            ) == Some(1.0)
    })
    .await;
    router.terminate(Duration::from_secs(30)).await;
    gateway.terminate(Duration::from_secs(30)).await;

    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1, "exactly one callback: {seen:#?}");
    let (headers, body) = &seen[0];
    let header = |name: &str| headers[name].to_str().unwrap().to_owned();
    assert_eq!(
        header("webhook-signature"),
        World::sign_with(
            &site_key,
            &header("webhook-id"),
            header("webhook-timestamp").parse().unwrap(),
            body,
        ),
        "signed with the site's secret"
    );
    let callback: Value = serde_json::from_slice(body).unwrap();
    assert_eq!(callback["ticket_id"], ticket_id);
    assert_eq!(callback["conversation_id"], "conv-agent-1");
    assert_eq!(callback["text"], "Ваш заказ отправлен сегодня.");
    assert_eq!(
        callback["type"], "ticket.agent_reply",
        "labelled as an agent reply"
    );
}
