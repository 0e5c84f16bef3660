//! Rule 6 (issue 14) in the router: a request that is not for support goes
//! to its department's group, tagged, with a note; the department hears of
//! it in Slack (a local stand-in of the incoming webhook and of
//! `chat.postMessage`); the outcome is `routed_to_department`.

mod harness;

use std::sync::Arc;

use axum::response::IntoResponse;
use harness::{Harness, email_event, has_tag, routes};
use intake_event::OutcomeEffect;
use intake_rulebook::{DepartmentRule, Rulebook, RulebookOptions, SlackTarget, TAG_DEPARTMENT};
use intake_store::{Effect, StateStore};
use serde_json::{Value, json};

fn sales(group_id: u64, slack: Option<SlackTarget>) -> DepartmentRule {
    DepartmentRule {
        name: "sales".to_owned(),
        group_id,
        channels: Vec::new(),
        sender_domains: Vec::new(),
        keywords: vec!["invoice".to_owned()],
        patterns: Vec::new(),
        slack,
    }
}

fn rulebook(h: &Harness, departments: Vec<DepartmentRule>) -> Rulebook {
    Rulebook::new(
        RulebookOptions {
            departments,
            ..RulebookOptions::default()
        },
        Arc::new(h.client.clone()),
        h.options(routes()).sla,
    )
}

fn notes(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["public"] == false)
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_sales_request_goes_to_the_sales_group_and_its_slack() {
    let (hook, seen) =
        intake_channel::testing::api_stand_in("/services/", |_, _| "ok".into_response()).await;
    let mut h = Harness::new().await;
    let group = h.sim.state().default_group_id();
    let target = SlackTarget::Webhook {
        url: format!("{hook}T1/B1/secret").into(),
    };
    let mut options = h.options(routes());
    options.rulebook = Some(rulebook(&h, vec![sales(group, Some(target))]));
    h.start_router(options);
    let mut event = email_event(
        "dep-1",
        "ann@customer.test",
        "Please send the invoice for November.",
    );
    event.subject = Some("Invoice".to_owned());
    h.publish(&event).await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    let id = ticket["id"].clone();
    h.wait_until(|h| {
        h.tickets()
            .iter()
            .any(|t| t["id"] == id && notes(t).len() == 1)
    })
    .await;
    let ticket = h.tickets().into_iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(ticket["group_id"], group);
    assert!(has_tag(&ticket, TAG_DEPARTMENT), "{ticket:#}");
    assert!(has_tag(&ticket, "intake_department_sales"), "{ticket:#}");
    let note = &notes(&ticket)[0];
    assert!(
        note.contains("rule 6 (not for support): passed to the sales department"),
        "{note}"
    );
    assert!(
        note.contains("keyword \"invoice\" in the subject"),
        "{note}"
    );
    assert!(note.contains("told in Slack (incoming webhook)"), "{note}");

    let posted = seen.lock().unwrap().clone();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0].path, "/services/T1/B1/secret");
    let text = posted[0].body["text"].as_str().unwrap();
    assert!(text.contains(&format!("Zendesk ticket #{id}")), "{text}");
    assert!(text.contains("Topic: Invoice"), "{text}");
    assert!(
        text.contains("ann@customer.test"),
        "contact details: {text}"
    );

    let outcomes = h.wait_for_outcomes(1).await;
    assert_eq!(outcomes[0].1.effect, OutcomeEffect::RoutedToDepartment);
    assert_eq!(outcomes[0].1.ticket_id, id.as_u64());
    let link = h
        .store
        .ticket_for_event(event.event_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(link.effect, Effect::Routed);
    h.stop_router().await;
}

#[tokio::test]
async fn chat_post_message_is_used_and_a_failed_notice_is_named_in_the_note() {
    // chat.postMessage answers ok:false: the ticket still goes to the group.
    let (api, seen) = intake_channel::testing::api_stand_in("/api/", |_, _| {
        axum::Json(json!({"ok": false, "error": "channel_not_found"})).into_response()
    })
    .await;
    let mut h = Harness::new().await;
    let group = h.sim.state().default_group_id();
    let target = SlackTarget::PostMessage {
        api_base_url: url::Url::parse(&api).unwrap(),
        channel: "C-sales".to_owned(),
        token: "xoxb-test".to_owned().into(),
    };
    let mut options = h.options(routes());
    options.rulebook = Some(rulebook(&h, vec![sales(group, Some(target))]));
    h.start_router(options);
    h.publish(&email_event(
        "dep-2",
        "bob@customer.test",
        "an INVOICE please",
    ))
    .await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    let id = ticket["id"].clone();
    h.wait_until(|h| {
        h.tickets()
            .iter()
            .any(|t| t["id"] == id && notes(t).len() == 1)
    })
    .await;
    let ticket = h.tickets().into_iter().find(|t| t["id"] == id).unwrap();
    assert_eq!(ticket["group_id"], group);
    let note = &notes(&ticket)[0];
    assert!(note.contains("Slack notice to the department failed: slack notice failed: chat.postMessage: channel_not_found"), "{note}");
    let posted = seen.lock().unwrap().clone();
    assert_eq!(posted[0].path, "/api/chat.postMessage");
    assert_eq!(posted[0].authorization.as_deref(), Some("Bearer xoxb-test"));
    assert_eq!(posted[0].body["channel"], "C-sales");
    h.stop_router().await;
}

#[tokio::test]
async fn a_request_no_rule_matches_is_support_as_usual() {
    let mut h = Harness::new().await;
    let group = h.sim.state().default_group_id();
    let mut options = h.options(routes());
    options.rulebook = Some(rulebook(&h, vec![sales(group, None)]));
    h.start_router(options);
    h.publish(&email_event(
        "dep-3",
        "cy@customer.test",
        "my printer is broken",
    ))
    .await;
    let ticket = h.wait_for_tickets(1).await[0].clone();
    let outcomes = h.wait_for_outcomes(1).await;
    assert_eq!(outcomes[0].1.effect, OutcomeEffect::Created);
    assert!(!has_tag(&ticket, TAG_DEPARTMENT));
    assert_eq!(
        ticket["group_id"],
        Value::Null,
        "no group on the email route"
    );
    h.stop_router().await;
}
