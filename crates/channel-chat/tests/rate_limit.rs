//! Per-sender flood protection through `oneshot`.

mod common;

use axum::http::StatusCode;
use common::{harness, options, retry_after, send, signed};
use metrics_exporter_prometheus::PrometheusBuilder;

fn body(author: &str, text: &str) -> String {
    format!(r#"{{"conversation_id":"c-{author}","author":{{"id":"{author}"}},"text":"{text}"}}"#)
}

#[tokio::test]
async fn a_sender_over_its_allowance_gets_429_and_others_go_on() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _guard = metrics::set_default_local_recorder(&recorder);
    let h = harness(intake_channel_chat::ChatOptions {
        sender_messages_per_minute: 3,
        sender_burst_messages: 3,
        ..options()
    });

    for n in 0..3 {
        let (status, _, answer) =
            send(&h.app, signed(&format!("a-{n}"), &body("anna", "hi"))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "message {n}: {answer}");
    }
    let (status, headers, answer) = send(&h.app, signed("a-3", &body("anna", "flood"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{answer}");
    assert_eq!(answer["error"], "rate_limited");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("3 messages per minute"),
        "{answer}"
    );
    // 3 per minute: the next message is allowed in about 20 seconds.
    let wait = retry_after(&headers).expect("Retry-After");
    assert!((1..=20).contains(&wait), "Retry-After {wait}");
    assert_eq!(
        h.publisher.records().len(),
        3,
        "the refused message was published"
    );
    assert!(h.events().iter().all(|e| e.text != "flood"));

    // Another sender is not affected; the limit follows the contact key, so
    // a different visitor id with the same e-mail is the same sender.
    let (status, _, _) = send(&h.app, signed("b-0", &body("boris", "hello"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let by_email = |id: &str| {
        format!(
            r#"{{"conversation_id":"c","author":{{"id":"{id}","email":"olga@example.com"}},"text":"x"}}"#
        )
    };
    for n in 0..3 {
        let (status, _, _) = send(
            &h.app,
            signed(&format!("o-{n}"), &by_email(&format!("v{n}"))),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    let (status, _, _) = send(&h.app, signed("o-3", &by_email("v9"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);

    let rendered = handle.render();
    assert!(
        rendered
            .contains(r#"intake_messages_rejected_total{channel="chat",reason="rate_limited"} 2"#),
        "{rendered}"
    );
}

#[tokio::test]
async fn bad_messages_are_refused_before_they_count() {
    // Schema errors are answered before the limit is consulted, so they
    // neither count against the sender nor get a 429.
    let h = harness(intake_channel_chat::ChatOptions {
        sender_messages_per_minute: 1,
        sender_burst_messages: 1,
        ..options()
    });
    for n in 0..3 {
        let bad = r#"{"conversation_id":"c","author":{"id":"anna"}}"#;
        let (status, _, _) = send(&h.app, signed(&format!("bad-{n}"), bad)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let (status, _, _) = send(&h.app, signed("good", &body("anna", "hi"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, _, _) = send(&h.app, signed("good-2", &body("anna", "hi"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn zero_means_no_limit() {
    let h = harness(intake_channel_chat::ChatOptions {
        sender_messages_per_minute: 0,
        sender_burst_messages: 1,
        ..options()
    });
    for n in 0..30 {
        let (status, _, answer) =
            send(&h.app, signed(&format!("m-{n}"), &body("anna", "hi"))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "message {n}: {answer}");
    }
    assert_eq!(h.publisher.records().len(), 30);
}
