//! The planned-absence calendar from an iCalendar URL (issue 14 point 1,
//! decision 56): a local HTTP server (127.0.0.1) serves the `.ics`; a read
//! that fails keeps the last good copy; rule 4 hands a ticket to the
//! substitute named by an absence from the URL, with the agent found by
//! their e-mail (ATTENDEE).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use intake_calendar::refresh::LivePolicies;
use intake_calendar::{Calendars, SlaPolicies};
use intake_event::{Contact, TicketEvent};
use intake_rulebook::ical::{
    default_agent_property, default_max_bytes, default_substitute_property,
};
use intake_rulebook::{
    AbsenceCalendar, AbsenceFeed, AgentDirectory, IcalLocation, IcalOptions, OriginalAgentOptions,
    RefreshOutcome, Request, Rulebook, RulebookError, RulebookOptions, TAG_SUBSTITUTE, feed_client,
};
use intake_zendesk::{AgentAvailability, Ticket, User};
use serde_json::json;

const X: u64 = 12;
const S: u64 = 13;
const REQUESTER: u64 = 500;

/// What the server answers: a status and a body.
type Answer = Arc<Mutex<(StatusCode, String)>>;

/// An HTTP server on 127.0.0.1 answering `/team.ics` with `answer`.
async fn serve(answer: Answer) -> url::Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum::Router::new().route(
        "/team.ics",
        axum::routing::get(move || {
            let answer = Arc::clone(&answer);
            async move {
                let (status, body) = answer.lock().unwrap().clone();
                (status, body)
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/team.ics?token=s3cr3t")
        .parse()
        .unwrap()
}

fn options(url: url::Url) -> IcalOptions {
    IcalOptions {
        location: IcalLocation::Url(url),
        refresh: Duration::from_secs(300),
        fetch_timeout: Duration::from_secs(30),
        max_bytes: default_max_bytes(),
        agent_property: default_agent_property(),
        substitute_property: default_substitute_property(),
        time_zone: chrono_tz::UTC,
    }
}

fn stamp(at: DateTime<Utc>) -> String {
    at.format("%Y%m%dT%H%M%SZ").to_string()
}

/// A calendar in which Xenia (by e-mail) is on vacation from an hour ago
/// for `days`, with Semyon as her substitute.
fn vacation(days: i64) -> String {
    let now = Utc::now();
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//team//EN\r\n\
         BEGIN:VEVENT\r\nUID:vacation@test\r\nDTSTART:{}\r\nDTEND:{}\r\n\
         SUMMARY:Vacation\r\nATTENDEE;CN=Xenia:mailto:xenia@example.test\r\n\
         X-INTAKE-SUBSTITUTE-ID:{S}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        stamp(now - chrono::Duration::hours(1)),
        stamp(now + chrono::Duration::days(days)),
    )
}

#[tokio::test]
async fn a_failed_read_keeps_the_last_good_copy() {
    let answer: Answer = Arc::new(Mutex::new((StatusCode::OK, vacation(5))));
    let feed = AbsenceFeed::new(options(serve(Arc::clone(&answer)).await));
    let calendar = AbsenceCalendar::default().with_feed(feed.clone());
    let client = feed_client(&feed);
    assert!(calendar.is_empty(), "nothing before the first read");

    assert_eq!(feed.refresh_once(&client).await, RefreshOutcome::Refreshed);
    let now = Utc::now();
    let found = calendar
        .covering(X, Some("Xenia@Example.test"), now)
        .expect("Xenia is away");
    assert_eq!(found.agent_id, X);
    assert_eq!(found.substitute_id, Some(S));
    assert!(calendar.names_agents_by_email());
    assert!(
        calendar.covering(X, None, now).is_none(),
        "found by e-mail only"
    );

    // The server fails, then serves garbage, then too much: the copy stays.
    *answer.lock().unwrap() = (StatusCode::INTERNAL_SERVER_ERROR, String::new());
    assert_eq!(feed.refresh_once(&client).await, RefreshOutcome::HttpStatus);
    *answer.lock().unwrap() = (StatusCode::OK, "<html>login</html>".into());
    assert_eq!(feed.refresh_once(&client).await, RefreshOutcome::Invalid);
    let small = AbsenceFeed::new(IcalOptions {
        max_bytes: 64,
        ..feed.options().clone()
    });
    *answer.lock().unwrap() = (StatusCode::OK, vacation(5));
    assert_eq!(small.refresh_once(&client).await, RefreshOutcome::TooLarge);
    assert!(
        calendar
            .covering(X, Some("xenia@example.test"), now)
            .is_some()
    );
    assert_eq!(calendar.len(), 1);

    // A good read replaces it: the vacation was cut short.
    *answer.lock().unwrap() = (
        StatusCode::OK,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nEND:VCALENDAR\r\n".into(),
    );
    assert_eq!(feed.refresh_once(&client).await, RefreshOutcome::Refreshed);
    assert!(
        calendar
            .covering(X, Some("xenia@example.test"), now)
            .is_none()
    );
}

#[tokio::test]
async fn an_unreachable_source_is_counted_and_the_feed_task_stops_on_shutdown() {
    // A port nothing listens on (bound, then closed).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url: url::Url = format!("http://127.0.0.1:{port}/team.ics").parse().unwrap();
    let feed = AbsenceFeed::new(options(url));
    let client = feed_client(&feed);
    assert_eq!(
        feed.refresh_once(&client).await,
        RefreshOutcome::Unreachable
    );
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(feed.clone().run(client, shutdown.clone()));
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the feed task ends on shutdown")
        .unwrap();
}

/// Zendesk as rule 4 reads it: the requester's open ticket was Xenia's;
/// Xenia and Semyon are agents of the group, both online.
struct Directory;

#[async_trait]
impl AgentDirectory for Directory {
    async fn requested_tickets(&self, _requester: u64) -> Result<Vec<Ticket>, RulebookError> {
        Ok(vec![
            serde_json::from_value(json!({
                "id": 7, "status": "open", "assignee_id": X, "requester_id": REQUESTER,
                "updated_at": Utc::now() - chrono::Duration::hours(2),
            }))
            .unwrap(),
        ])
    }

    async fn user(&self, user_id: u64) -> Result<Option<User>, RulebookError> {
        let (name, email) = match user_id {
            X => ("Xenia Original", "xenia@example.test"),
            S => ("Semyon Substitute", "semyon@example.test"),
            _ => return Ok(None),
        };
        Ok(Some(
            serde_json::from_value(
                json!({"id": user_id, "name": name, "email": email, "role": "agent"}),
            )
            .unwrap(),
        ))
    }

    async fn group_ids(&self, _agent: u64) -> Result<Vec<u64>, RulebookError> {
        Ok(vec![1])
    }

    async fn availability(
        &self,
        agent_id: u64,
    ) -> Result<Option<AgentAvailability>, RulebookError> {
        Ok(Some(
            serde_json::from_value(json!({"agent_id": agent_id, "status": "online"})).unwrap(),
        ))
    }
}

#[tokio::test]
async fn rule_4_hands_over_to_the_substitute_of_an_absence_from_the_url() {
    let answer: Answer = Arc::new(Mutex::new((StatusCode::OK, vacation(5))));
    let feed = AbsenceFeed::new(options(serve(answer).await));
    assert_eq!(
        feed.refresh_once(&feed_client(&feed)).await,
        RefreshOutcome::Refreshed
    );
    let rulebook = Rulebook::new(
        RulebookOptions {
            original_agent: OriginalAgentOptions {
                enabled: true,
                absences: AbsenceCalendar::default().with_feed(feed),
                ..OriginalAgentOptions::default()
            },
            departments: Vec::new(),
        },
        Arc::new(Directory),
        LivePolicies::new(SlaPolicies::new(Vec::new(), Calendars::default())),
    );
    let event = TicketEvent::new(
        "chat",
        "m-1",
        Contact {
            key: "chat:v1".into(),
            ..Contact::default()
        },
        "my order is late again",
        Utc::now(),
    );
    // Back in five days, the answer is due in two hours: it cannot wait.
    let decision = rulebook
        .decide(&Request {
            event: &event,
            requester_id: Some(REQUESTER),
            channel_group_id: Some(1),
            deadline: Some(Utc::now() + chrono::Duration::hours(2)),
        })
        .await;
    assert_eq!(decision.assignee_id, Some(S), "{decision:#?}");
    assert!(decision.tags.iter().any(|t| t == TAG_SUBSTITUTE));
    let note = decision.note.unwrap();
    assert!(note.contains("Xenia Original"), "{note}");
    assert!(note.contains("vacation"), "{note}");

    // The same calendar, but the answer is due after her return: still X.
    let later = rulebook
        .decide(&Request {
            event: &event,
            requester_id: Some(REQUESTER),
            channel_group_id: Some(1),
            deadline: Some(Utc::now() + chrono::Duration::days(6)),
        })
        .await;
    assert_eq!(later.assignee_id, Some(X), "{later:#?}");
}
