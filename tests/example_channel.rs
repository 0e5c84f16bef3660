//! The example channel end to end, with the built binary: registered by one
//! line in the app's channel list, it is enabled by its `[channels.example]`
//! section alone; then the gateway serves it, the router consumes its topic
//! (the router's channels are the enabled ones) and files its tickets with
//! the generic routing keys of its section. This is the walk of
//! `docs/adding-a-channel.md`.

mod common;

use std::time::Duration;

use common::{Backend, Intake, World};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

const SECRET: &str = "e2e-example-shared-secret";

const SECTION: &str = r#"
[channels.example]
enabled = true
secret_env = "E2E_EXAMPLE_SECRET"
priority = "urgent"
tags = ["example", "e2e"]
"#;

fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

async fn post(world: &World, body: &Value, secret: &str) -> (u16, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let response = reqwest::Client::new()
        .post(world.url("/v1/example/messages"))
        .header("content-type", "application/json")
        .header("x-example-signature", signature(secret, &bytes))
        .body(bytes)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("gateway answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_enabled_example_channel_is_served_routed_and_ticketed() {
    let world = World::with_sim(Backend::Embedded, None, Default::default(), SECTION).await;
    let mut intake =
        Intake::spawn_with_env(&world.config_path, "all", &[("E2E_EXAMPLE_SECRET", SECRET)]);
    world.wait_ready(&mut intake).await;

    let body = serde_json::json!({
        "id": "walk-1", "from": "u-42", "name": "Anna", "text": "My order has not arrived"
    });
    let (status, forged) = post(&world, &body, "another secret").await;
    assert_eq!(status, 401, "{forged}");
    let (status, accepted) = post(&world, &body, SECRET).await;
    assert_eq!(status, 202, "{accepted}");
    let event_id = accepted["event_id"].as_str().expect("event id").to_owned();
    let (status, again) = post(&world, &body, SECRET).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(
        again["event_id"],
        event_id.as_str(),
        "same message, same event id"
    );

    let tickets = world.wait_tickets(1, Duration::from_secs(60)).await;
    assert_eq!(tickets.len(), 1, "{tickets:?}");
    let ticket = &tickets[0];
    assert_eq!(ticket["subject"], "My order has not arrived", "{ticket}");
    assert_eq!(ticket["external_id"], event_id.as_str(), "{ticket}");
    assert_eq!(
        ticket["priority"], "urgent",
        "the section's generic key: {ticket}"
    );
    let tags: Vec<&str> = ticket["tags"]
        .as_array()
        .expect("tags")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for tag in ["example", "e2e", "channel_example"] {
        assert!(tags.contains(&tag), "no tag {tag}: {ticket}");
    }
    intake.terminate(Duration::from_secs(30)).await;
}
