//! The trigger's webhook: an agent reply through the admin API reaches the
//! registered endpoint signed, and a 409 is retried as Zendesk does.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use intake_zendesk_sim::webhooks::sign;
use intake_zendesk_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reply_is_delivered_signed_and_a_409_is_retried() {
    let seen: Seen = Arc::default();
    let recorded = Arc::clone(&seen);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = Arc::clone(&recorded);
            async move {
                let mut seen = seen.lock().unwrap();
                seen.push((headers, body.to_vec()));
                if seen.len() == 1 {
                    StatusCode::CONFLICT
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let endpoint = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", endpoint.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(endpoint, app).await.unwrap() });

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = Simulator::start(SimConfig::default(), listener)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let admin = |path: &str| format!("{}{path}", sim.base_url);
    http.post(admin("/admin/webhooks"))
        .json(&json!({"url": hook_url, "signing_secret": "shh"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let ticket = http
        .post(admin("/api/v2/tickets"))
        .basic_auth("agent@intake-sim.test/token", Some("sim-token"))
        .json(&json!({"ticket": {"comment": {"body": "help"}, "requester": {"name": "C", "email": "c@x.test"}}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let id = ticket["ticket"]["id"].as_u64().unwrap();
    let answer: Value = http
        .post(admin(&format!("/admin/tickets/{id}/agent_reply")))
        .json(&json!({"body": "Fixed."}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["webhook"], true);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while sim.state().webhook_deliveries()["delivered"] != 1 {
        assert!(tokio::time::Instant::now() < deadline, "not delivered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "the 409 was retried once");
    for (headers, body) in &seen {
        let timestamp = headers["x-zendesk-webhook-signature-timestamp"]
            .to_str()
            .unwrap();
        assert_eq!(
            headers["x-zendesk-webhook-signature"].to_str().unwrap(),
            sign("shh", timestamp, body)
        );
        let payload: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(payload["ticket_id"], id.to_string());
        assert_eq!(payload["comment_id"], answer["comment_id"].to_string());
        assert_eq!(payload["body"], "Fixed.");
        assert_eq!(payload["public"], "true");
    }
    let tickets = sim.state().tickets();
    let comments = tickets[0]["comments"].as_array().unwrap();
    assert_eq!(comments.last().unwrap()["body"], "Fixed.");
    sim.shutdown().await;
}
