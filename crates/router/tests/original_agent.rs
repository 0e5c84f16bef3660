//! Rule 4 (issue 14 point 1) in the router against the simulator: a new
//! request of a customer whose recent ticket agent X handled goes to X
//! unless X is away and the request cannot wait (then to X's substitute,
//! or the usual group, with a note). Each branch uses the simulator's agent
//! availability API and a planned-absence calendar.

mod harness;

use std::sync::Arc;

use chrono::{Duration as Span, Utc};
use harness::{Harness, chat_event, has_tag, routes};
use intake_event::TicketEvent;
use intake_router::ChannelRoute;
use intake_rulebook::{
    Absence, AbsenceCalendar, AbsenceReason, OriginalAgentOptions, Prefer, Rulebook,
    RulebookOptions, TAG_ORIGINAL_AGENT, TAG_SKIPPED, TAG_SUBSTITUTE,
};
use intake_zendesk::TicketUpdate;
use serde_json::Value;

fn in_thread(mut event: TicketEvent, thread: &str) -> TicketEvent {
    event.conversation.thread_id = Some(thread.to_owned());
    event
}

/// The simulator's agents: X (the original) and S (a substitute), both
/// online and in the default group.
struct Agents {
    x: u64,
    s: u64,
}

fn agents(h: &Harness) -> Agents {
    let state = h.sim.state();
    let agents = Agents {
        x: state.create_user("Xenia Original", "xenia@sim.test", "agent"),
        s: state.create_user("Semyon Substitute", "semyon@sim.test", "agent"),
    };
    for agent in [agents.x, agents.s] {
        state.add_membership(agent, state.default_group_id());
    }
    agents
}

fn absence(
    agent_id: u64,
    reason: AbsenceReason,
    back_in: Span,
    substitute: Option<u64>,
) -> Absence {
    let now = Utc::now();
    Absence {
        agent_id,
        from: now - Span::hours(1),
        to: now + back_in,
        reason,
        substitute_id: substitute,
    }
}

fn rulebook(h: &Harness, original: OriginalAgentOptions) -> Rulebook {
    let sla = h.options(routes()).sla;
    Rulebook::new(
        RulebookOptions {
            original_agent: OriginalAgentOptions {
                enabled: true,
                ..original
            },
            departments: Vec::new(),
        },
        Arc::new(h.client.clone()),
        sla,
    )
}

/// Starts the router with `rules`, makes the customer's first ticket,
/// gives it to `agent` and solves it; then the customer writes again.
/// Returns the second ticket.
async fn second_request(
    h: &mut Harness,
    channels: Vec<ChannelRoute>,
    rules: Rulebook,
    agent: u64,
) -> Value {
    let mut options = h.options(channels);
    options.rulebook = Some(rules);
    h.start_router(options);
    h.publish(&in_thread(
        chat_event("r4-1", "v1", "my order is late"),
        "th-1",
    ))
    .await;
    let first = h.wait_for_tickets(1).await[0].clone();
    let first_id = first["id"].as_u64().unwrap();
    assert!(!has_tag(&first, TAG_ORIGINAL_AGENT), "no earlier agent yet");
    let update = TicketUpdate {
        assignee_id: Some(agent),
        ..TicketUpdate::default()
    };
    h.client.update_ticket(first_id, &update).await.unwrap();
    assert!(h.sim.state().set_ticket_status(first_id, "solved"));
    h.publish(&in_thread(chat_event("r4-2", "v1", "still late"), "th-1"))
        .await;
    let second = h.wait_for_tickets(2).await[1].clone();
    // The note is added once the ticket is recorded.
    let second_id = second["id"].clone();
    h.wait_until(|h| notes(&ticket(h, &second_id)).len() == 1)
        .await;
    h.stop_router().await;
    assert!(h.dead_letters("check").await.is_empty());
    ticket(h, &second_id)
}

fn ticket(h: &Harness, id: &Value) -> Value {
    h.tickets().into_iter().find(|t| t["id"] == *id).unwrap()
}

/// The ticket's internal notes (private comments).
fn notes(ticket: &Value) -> Vec<String> {
    ticket["comments"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["public"] == false)
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn only_note(ticket: &Value) -> String {
    let notes = notes(ticket);
    assert_eq!(notes.len(), 1, "{notes:?}");
    notes[0].clone()
}

#[tokio::test]
async fn an_available_original_agent_gets_the_new_ticket() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    let rules = rulebook(&h, OriginalAgentOptions::default());
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], a.x);
    assert!(has_tag(&second, TAG_ORIGINAL_AGENT), "{second:#}");
    let note = only_note(&second);
    assert!(note.contains("assigned to Xenia Original"), "{note}");
    assert!(note.contains("Zendesk status: online"), "{note}");
}

#[tokio::test]
async fn away_past_the_deadline_goes_to_the_available_substitute() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    let calendar = AbsenceCalendar::new(vec![absence(
        a.x,
        AbsenceReason::Vacation,
        Span::days(30),
        Some(a.s),
    )]);
    let rules = rulebook(
        &h,
        OriginalAgentOptions {
            absences: calendar,
            ..OriginalAgentOptions::default()
        },
    );
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], a.s);
    assert!(has_tag(&second, TAG_SUBSTITUTE), "{second:#}");
    let note = only_note(&second);
    assert!(
        note.contains("Xenia Original"),
        "names the original: {note}"
    );
    assert!(note.contains("on vacation"), "says why: {note}");
    assert!(
        note.contains("after this ticket's answer deadline"),
        "{note}"
    );
    assert!(note.contains("Semyon Substitute"), "{note}");
}

#[tokio::test]
async fn away_past_the_deadline_without_a_substitute_is_routed_as_usual_with_a_note() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    // The substitute named is away too (Zendesk status), so it is not taken.
    assert!(h.sim.state().set_availability(a.s, "offline"));
    let calendar = AbsenceCalendar::new(vec![absence(
        a.x,
        AbsenceReason::SickLeave,
        Span::days(30),
        Some(a.s),
    )]);
    let rules = rulebook(
        &h,
        OriginalAgentOptions {
            absences: calendar,
            ..OriginalAgentOptions::default()
        },
    );
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], Value::Null);
    assert!(has_tag(&second, TAG_SKIPPED), "{second:#}");
    let note = only_note(&second);
    let back = (Utc::now() + Span::days(30)).format("%Y-%m-%d").to_string();
    assert!(note.contains("on sick leave"), "{note}");
    assert!(note.contains(&back), "says when X returns: {note}");
    assert!(note.contains("routed as usual"), "{note}");
    assert!(
        note.contains("status offline"),
        "why not the substitute: {note}"
    );
}

#[tokio::test]
async fn away_but_back_before_the_deadline_keeps_the_original_agent() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    // At lunch for two more minutes; any chat deadline is at least five
    // working minutes after receipt. Zendesk agrees (a custom status).
    let state = h.sim.state();
    assert!(state.set_custom_status(a.x, "Lunch"));
    let calendar = AbsenceCalendar::new(vec![absence(
        a.x,
        AbsenceReason::Lunch,
        Span::minutes(2),
        Some(a.s),
    )]);
    let rules = rulebook(
        &h,
        OriginalAgentOptions {
            absences: calendar,
            status_away: [("lunch".to_owned(), std::time::Duration::from_secs(60))].into(),
            ..OriginalAgentOptions::default()
        },
    );
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], a.x);
    assert!(has_tag(&second, TAG_ORIGINAL_AGENT), "{second:#}");
    let note = only_note(&second);
    assert!(
        note.contains("before this ticket's answer deadline"),
        "{note}"
    );
    assert!(note.contains("Zendesk status: status Lunch"), "{note}");
}

#[tokio::test]
async fn a_custom_status_of_unknown_length_cannot_be_waited_for() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    assert!(h.sim.state().set_custom_status(a.x, "Training"));
    let rules = rulebook(&h, OriginalAgentOptions::default());
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], Value::Null);
    assert!(has_tag(&second, TAG_SKIPPED), "{second:#}");
    let note = only_note(&second);
    assert!(note.contains("status Training"), "{note}");
    assert!(note.contains("at an unknown time"), "{note}");
}

/// The calendar says vacation, Zendesk says online.
async fn disagreeing(prefer: Prefer) -> (Agents, Value) {
    let mut h = Harness::new().await;
    let a = agents(&h);
    let calendar = AbsenceCalendar::new(vec![absence(
        a.x,
        AbsenceReason::Vacation,
        Span::days(30),
        None,
    )]);
    let rules = rulebook(
        &h,
        OriginalAgentOptions {
            absences: calendar,
            prefer,
            ..OriginalAgentOptions::default()
        },
    );
    let second = second_request(&mut h, routes(), rules, a.x).await;
    (a, second)
}

#[tokio::test]
async fn calendar_and_zendesk_disagreeing_follow_the_configured_side() {
    let (_, second) = disagreeing(Prefer::Calendar).await;
    assert_eq!(second["assignee_id"], Value::Null, "the calendar wins");
    assert!(has_tag(&second, TAG_SKIPPED));
    assert!(only_note(&second).contains("on vacation (absence calendar)"));

    let (a, second) = disagreeing(Prefer::Zendesk).await;
    assert_eq!(second["assignee_id"], a.x, "Zendesk's online wins");
    assert!(has_tag(&second, TAG_ORIGINAL_AGENT));
    let note = only_note(&second);
    assert!(note.contains("Zendesk status: online"), "{note}");
    assert!(
        note.contains("absence calendar: on vacation"),
        "both sources shown: {note}"
    );
}

#[tokio::test]
async fn a_suspended_original_agent_is_skipped() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    assert!(h.sim.state().set_suspended(a.x, true));
    let rules = rulebook(&h, OriginalAgentOptions::default());
    let second = second_request(&mut h, routes(), rules, a.x).await;
    assert_eq!(second["assignee_id"], Value::Null);
    assert!(has_tag(&second, TAG_SKIPPED), "{second:#}");
    assert!(only_note(&second).contains("suspended in Zendesk"));
}

#[tokio::test]
async fn an_original_agent_who_left_the_channel_group_is_skipped() {
    let mut h = Harness::new().await;
    let a = agents(&h);
    let group = h.sim.state().default_group_id();
    let mut channels = routes();
    channels[0].group_id = Some(group);
    assert!(h.sim.state().remove_membership(a.x, group));
    let rules = rulebook(&h, OriginalAgentOptions::default());
    let second = second_request(&mut h, channels, rules, a.x).await;
    assert_eq!(second["assignee_id"], Value::Null);
    assert_eq!(second["group_id"], group, "the channel's group");
    assert!(has_tag(&second, TAG_SKIPPED), "{second:#}");
    assert!(only_note(&second).contains(&format!("no longer in the channel's group {group}")));
}
