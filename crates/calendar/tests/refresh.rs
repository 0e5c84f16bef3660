//! The iCalendar URL refresh against a real HTTP server on 127.0.0.1: the
//! feed's days are applied, a failed or broken fetch keeps the last good
//! copy and is counted, and the loop stops on shutdown.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use common::{at, working_time};
use intake_calendar::refresh::{LivePolicies, Outcome, refresh_once, run_feed};
use tokio_util::sync::CancellationToken;

/// Monday 7 December 2026 as a holiday.
const FEED: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:test\r\nBEGIN:VEVENT\r\nUID:d7@test\r\nDTSTART;VALUE=DATE:20261207\r\nSUMMARY:Team holiday\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

#[derive(Clone, Copy)]
enum Serve {
    Feed,
    Fail,
    Garbage,
}

async fn serve(State(mode): State<Arc<Mutex<Serve>>>) -> (StatusCode, &'static str) {
    let mode = *mode.lock().unwrap();
    match mode {
        Serve::Feed => (StatusCode::OK, FEED),
        Serve::Fail => (StatusCode::INTERNAL_SERVER_ERROR, "down"),
        Serve::Garbage => (StatusCode::OK, "<html>not a calendar</html>"),
    }
}

async fn start_server(mode: Arc<Mutex<Serve>>) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = Router::new().route("/h.ics", get(serve)).with_state(mode);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (port, task)
}

fn chat_due(live: &LivePolicies) -> chrono::DateTime<chrono::Utc> {
    live.current()
        .first_response_deadline("chat", None, at("2026-12-04T17:57:00+03:00"))
        .unwrap()
        .due_at
}

#[tokio::test]
async fn the_last_good_copy_is_kept_and_failures_are_counted() {
    let mode = Arc::new(Mutex::new(Serve::Feed));
    let (port, server) = start_server(Arc::clone(&mode)).await;
    let url = format!("http://127.0.0.1:{port}/h.ics");
    let config = working_time(
        &[(
            "default",
            &format!("ical_url = \"{url}\"\nrefresh_secs = 1\n"),
        )],
        "",
    );
    let feed = config.ical_feeds[0].clone();
    let live = LivePolicies::new(config.sla);
    let client = reqwest::Client::new();
    assert_eq!(
        chat_due(&live),
        at("2026-12-07T10:02:00+03:00"),
        "before the feed"
    );

    assert_eq!(
        refresh_once(&live, &feed, &client).await,
        Outcome::Refreshed
    );
    let monday_off = at("2026-12-08T10:02:00+03:00");
    assert_eq!(
        chat_due(&live),
        monday_off,
        "Monday is a holiday in the feed"
    );
    assert_eq!(live.status("default").days, 1);

    *mode.lock().unwrap() = Serve::Fail;
    assert_eq!(
        refresh_once(&live, &feed, &client).await,
        Outcome::HttpStatus
    );
    *mode.lock().unwrap() = Serve::Garbage;
    assert_eq!(refresh_once(&live, &feed, &client).await, Outcome::Invalid);
    server.abort();
    let _ = server.await;
    assert_eq!(
        refresh_once(&live, &feed, &client).await,
        Outcome::Unreachable
    );

    let status = live.status("default");
    assert_eq!((status.successes, status.failures), (1, 3));
    assert_eq!(
        chat_due(&live),
        monday_off,
        "the last good copy stays in use"
    );
}

#[tokio::test]
async fn the_loop_refreshes_until_shutdown() {
    let mode = Arc::new(Mutex::new(Serve::Feed));
    let (port, server) = start_server(mode).await;
    let config = working_time(
        &[(
            "default",
            &format!("ical_url = \"http://127.0.0.1:{port}/h.ics\"\nrefresh_secs = 1\n"),
        )],
        "",
    );
    let feed = config.ical_feeds[0].clone();
    let live = LivePolicies::new(config.sla);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run_feed(
        live.clone(),
        feed,
        reqwest::Client::new(),
        shutdown.clone(),
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while live.status("default").successes < 2 {
        assert!(Instant::now() < deadline, "no second refresh within 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("the loop stops on shutdown")
        .unwrap();
    server.abort();
}
