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

    // Another sender is not affected.
    let (status, _, _) = send(&h.app, signed("b-0", &body("boris", "hello"))).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    // The limit follows the contact key. A typed e-mail is only a claim, so
    // visitors typing Olga's address each have their own allowance and
    // cannot use up hers; a signed identity makes them one sender.
    let typed = |id: &str| {
        format!(
            r#"{{"conversation_id":"c","author":{{"id":"{id}","email":"olga@example.com"}},"text":"x"}}"#
        )
    };
    for n in 0..4 {
        let (status, _, answer) =
            send(&h.app, signed(&format!("t-{n}"), &typed(&format!("v{n}")))).await;
        assert_eq!(status, StatusCode::ACCEPTED, "visitor v{n}: {answer}");
    }
    let token = common::identity_token("olga@example.com");
    let verified = |id: &str| {
        format!(
            r#"{{"conversation_id":"c","author":{{"id":"{id}","identity_token":"{token}"}},"text":"x"}}"#
        )
    };
    for n in 0..3 {
        let (status, _, answer) = send(
            &h.app,
            signed(&format!("o-{n}"), &verified(&format!("w{n}"))),
        )
        .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    let (status, _, _) = send(&h.app, signed("o-3", &verified("w9"))).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    let keys: Vec<_> = h.events().iter().map(|e| e.contact.key.clone()).collect();
    assert!(keys.contains(&"chat:v3".to_owned()), "{keys:?}");
    assert!(
        keys.contains(&"email:olga@example.com".to_owned()),
        "{keys:?}"
    );

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
