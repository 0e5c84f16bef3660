//! Tickets Zendesk created in its own channels (decision 54) in the router:
//! the event naming the ticket makes no ticket; the ticket gets one update
//! (tags, deadline) and the outcome carries the deadline; a replay and a
//! crash between the update and the store's marker write nothing more.

mod harness;

use chrono::Utc;
use harness::{Harness, has_tag, routes};
use intake_event::{Contact, OutcomeEffect, TicketEvent, ZendeskTicket};
use intake_router::{ChannelRoute, TAG_ZENDESK_CHANNEL};
use intake_store::{NativeTicketState, StateStore};
use intake_zendesk::TicketUpdate;
use intake_zendesk_sim::webhooks::NativeTicketInput;

fn zendesk_routes() -> Vec<ChannelRoute> {
    let mut routes = routes();
    routes.push(ChannelRoute::new("zendesk"));
    routes
}

/// A ticket the simulator creates "via e-mail", and the gateway's event for it.
fn native_ticket(h: &Harness) -> (u64, TicketEvent) {
    let input = NativeTicketInput {
        via: "email".to_owned(),
        requester_name: "Ann".to_owned(),
        requester_email: "ann@customer.test".to_owned(),
        subject: Some("Printer".to_owned()),
        body: "My printer is broken".to_owned(),
    };
    let (ticket_id, requester_id, triggered) = h.sim.state().native_ticket(&input).unwrap();
    assert_eq!(triggered, 0, "no trigger registered");
    let contact = Contact {
        key: format!("zendesk:{requester_id}"),
        email: Some("ann@customer.test".to_owned()),
        ..Contact::default()
    };
    let thread = format!("ticket:{ticket_id}");
    let mut event = TicketEvent::new(
        "zendesk",
        &thread,
        contact,
        "My printer is broken",
        Utc::now(),
    );
    event.conversation.thread_id = Some(thread);
    event.subject = Some("Printer".to_owned());
    event.zendesk_ticket = Some(ZendeskTicket {
        ticket_id,
        via: "email".to_owned(),
        requester_id,
    });
    (ticket_id, event)
}

async fn audits(h: &Harness, ticket_id: u64) -> usize {
    h.client
        .list_audits(ticket_id, false, 100)
        .await
        .unwrap()
        .len()
}

/// The store's state of the native ticket, if it has recorded one.
async fn native_state(h: &Harness, ticket_id: u64) -> Option<NativeTicketState> {
    h.store
        .native_ticket(ticket_id)
        .await
        .unwrap()
        .map(|(_, s)| s)
}

#[tokio::test]
async fn the_ticket_is_updated_once_and_none_is_created() {
    let mut h = Harness::new().await;
    h.start_router(h.options(zendesk_routes()));
    let (ticket_id, event) = native_ticket(&h);
    h.publish(&event).await;
    let outcomes = h.wait_for_outcomes(1).await;
    let outcome = &outcomes[0].1;
    assert_eq!(outcome.effect, OutcomeEffect::Created);
    assert_eq!(
        (outcome.ticket_id, outcome.channel.as_str()),
        (Some(ticket_id), "zendesk")
    );
    let deadline = outcome
        .deadline
        .as_ref()
        .expect("the deadline, for the warning");
    assert_eq!(deadline.policy, "email", "counted by the via channel");
    let tickets = h.tickets();
    assert_eq!(tickets.len(), 1, "no second ticket: {tickets:#?}");
    assert!(
        has_tag(&tickets[0], TAG_ZENDESK_CHANNEL),
        "{:#}",
        tickets[0]
    );
    assert!(has_tag(&tickets[0], "intake_sla_email"), "{:#}", tickets[0]);
    assert_eq!(
        audits(&h, ticket_id).await,
        2,
        "the creation and one update"
    );
    assert_eq!(
        native_state(&h, ticket_id).await,
        Some(NativeTicketState::Applied)
    );
    assert_eq!(
        h.store.ticket_conversation(ticket_id).await.unwrap(),
        None,
        "no conversation: agent replies stay Zendesk's"
    );

    // A replay: the same outcome again, nothing more on the ticket.
    h.publish(&event).await;
    let outcomes = h.wait_for_outcomes(2).await;
    assert_eq!(outcomes[1].1.outcome_id, outcomes[0].1.outcome_id);
    h.stop_router().await;
    assert_eq!(audits(&h, ticket_id).await, 2);
    assert_eq!(h.tickets().len(), 1);
}

#[tokio::test]
async fn a_crash_after_the_update_and_before_the_marker_writes_nothing_more() {
    let mut h = Harness::new().await;
    let (ticket_id, event) = native_ticket(&h);
    // The update landed (its tag is on the ticket), the marker did not.
    let tagged = TicketUpdate {
        additional_tags: vec![TAG_ZENDESK_CHANNEL.to_owned()],
        ..TicketUpdate::default()
    };
    h.client.update_ticket(ticket_id, &tagged).await.unwrap();
    assert_eq!(h.store.native_ticket(ticket_id).await.unwrap(), None);
    h.start_router(h.options(zendesk_routes()));
    h.publish(&event).await;
    let outcomes = h.wait_for_outcomes(1).await;
    assert_eq!(outcomes[0].1.ticket_id, Some(ticket_id));
    h.stop_router().await;
    assert_eq!(audits(&h, ticket_id).await, 2, "no second update");
    assert_eq!(
        native_state(&h, ticket_id).await,
        Some(NativeTicketState::Applied)
    );
}
