//! Every enabled channel is routed, whatever `router.channel_priority` lists
//! (issue 8 point 1): a chat message under a priority list without `chat`
//! still becomes a ticket, on both buses; `check-config` refuses a router
//! configuration with nothing to consume.

mod common;

use std::time::Duration;

use common::{Backend, World, kafka_brokers, run_intake};

/// Rewrites the world's configuration files so that the priority list names
/// only `email`.
fn priority_without_chat(world: &World) {
    for path in [&world.config_path, &world.router_config_path] {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.replacen(
            "[router]\n",
            "[router]\nchannel_priority = [\"email\"]\n",
            1,
        );
        std::fs::write(path, text).unwrap();
    }
}

async fn a_channel_missing_from_the_priority_list_is_routed(
    backend: Backend,
    brokers: Option<&str>,
) {
    let world = World::with_sim(backend, brokers, Default::default(), "").await;
    priority_without_chat(&world);
    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;
    let body = common::chat_body(
        "conv-unlisted",
        "v-unlisted",
        None,
        "routed although unlisted",
    );
    let (status, answer) = world.post_chat("msg-unlisted", &body).await;
    assert_eq!(status, 202, "{answer}");
    let tickets = world.wait_tickets(1, Duration::from_secs(60)).await;
    assert_eq!(
        tickets.len(),
        1,
        "the accepted chat message has a consumer:\n{}",
        intake.output()
    );
    assert_eq!(
        tickets[0]["comments"][0]["body"],
        "routed although unlisted"
    );
    assert!(
        intake.output().contains("router started"),
        "{}",
        intake.output()
    );
    assert_eq!(intake.terminate(Duration::from_secs(30)).await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_missing_from_the_priority_list_is_routed_embedded() {
    a_channel_missing_from_the_priority_list_is_routed(Backend::Embedded, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_missing_from_the_priority_list_is_routed_kafka() {
    let Some(brokers) = kafka_brokers() else {
        return;
    };
    a_channel_missing_from_the_priority_list_is_routed(Backend::Kafka, Some(&brokers)).await;
}

#[tokio::test]
async fn check_config_refuses_a_router_with_no_enabled_channel() {
    let world = World::new(Backend::Embedded, None).await;
    let path = world.path("no-channels.toml");
    let text = std::fs::read_to_string(&world.config_path).unwrap();
    std::fs::write(
        &path,
        text.replacen("[channels.chat]\n", "[channels.chat]\nenabled = false\n", 1),
    )
    .unwrap();
    let path = path.display().to_string();
    let out = run_intake(
        &["check-config", "--config", &path, "--role", "router"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .lines()
            .any(|line| line.trim_start().starts_with("channels:")
                && line.contains("nothing to consume")),
        "{out:?}"
    );
}
