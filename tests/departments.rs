//! Rule 6 end to end with the built binary (issue 14): a chat request about
//! an invoice goes to the sales group, the sales Slack channel hears of it
//! (a local stand-in of the incoming webhook), and the customer is told in
//! the chat (the site's callback) that it was passed on.

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::response::IntoResponse;
use common::{Backend, Callbacks, World, start_callback_endpoint, wait_for};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_question_goes_to_sales_with_a_slack_notice_and_the_customer_is_told() {
    let (hook, slack) =
        intake_channel::testing::api_stand_in("/services/", |_, _| "ok".into_response()).await;
    let port = common::free_port();
    let extra = format!(
        r#"
[channels.chat.callback]
url = "http://127.0.0.1:{port}/intake/replies"
secret_file = "SITE_SECRET_FILE"
timeout_secs = 5
[acknowledgements]
retry_initial_backoff_ms = 200
retry_max_backoff_secs = 2
"#
    );
    let world = World::with_sim(Backend::Embedded, None, Default::default(), &extra).await;
    let group = world.sim.state().default_group_id();
    let secret_path = world.path("site-secret");
    std::fs::write(
        &secret_path,
        "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )
    .unwrap();
    let hook_path = world.path("sales-hook");
    std::fs::write(&hook_path, format!("{hook}T1/B1/sales")).unwrap();
    let departments = format!(
        "\n[[rulebook.departments]]\nname = \"sales\"\ngroup_id = {group}\nkeywords = [\"invoice\", \"счёт\"]\n\
         slack_webhook_url_file = {:?}\n",
        hook_path.display().to_string()
    );
    for path in [&world.config_path, &world.router_config_path] {
        let text = std::fs::read_to_string(path).unwrap();
        let text = text.replace("\"SITE_SECRET_FILE\"", &format!("{secret_path:?}"));
        std::fs::write(path, text + &departments).unwrap();
    }
    let seen: Callbacks = Arc::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    start_callback_endpoint(listener, Arc::clone(&seen)).await;

    let mut intake = world.spawn("all", None);
    world.wait_ready(&mut intake).await;
    let mut body = common::chat_body(
        "conv-sales-1",
        "visitor-sales-1",
        None,
        "Пришлите, пожалуйста, счёт за ноябрь",
    );
    body["locale"] = Value::from("ru-RU");
    let (status, accepted) = world.post_chat("sales-msg-1", &body).await;
    assert_eq!(status, 202, "{accepted}");

    wait_for("the customer's notice", async || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let tickets = world.wait_tickets(1, WAIT).await;
    wait_for("the department's Slack notice", async || {
        !slack.lock().unwrap().is_empty()
    })
    .await;
    intake.terminate(Duration::from_secs(30)).await;

    let ticket = &tickets[0];
    assert_eq!(ticket["group_id"], group, "{ticket:#}");
    let tags: Vec<&str> = ticket["tags"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(tags.contains(&"intake_department_sales"), "{tags:?}");

    let posted = slack.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    let text = posted[0].body["text"].as_str().unwrap();
    assert!(
        text.contains(&format!("ticket #{}", ticket["id"])),
        "{text}"
    );
    assert!(
        text.contains("Topic: Пришлите, пожалуйста, счёт за ноябрь"),
        "{text}"
    );
    assert!(text.contains("Ольга Тестова"), "the contact's name: {text}");

    let callbacks = seen.lock().unwrap().clone();
    assert_eq!(callbacks.len(), 1, "one notice: {callbacks:#?}");
    let callback: Value = serde_json::from_slice(&callbacks[0].1).unwrap();
    assert_eq!(callback["conversation_id"], "conv-sales-1");
    assert_eq!(callback["ticket_id"], ticket["id"]);
    let notice = callback["text"].as_str().unwrap();
    assert!(
        notice.contains("Ваш вопрос ведёт другой отдел нашей компании"),
        "{notice}"
    );
    assert!(notice.contains("Они скоро с вами свяжутся"), "{notice}");
}
