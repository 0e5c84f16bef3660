//! The customer's side: last inbound messages, contact links, cross-channel claims.

use super::*;

pub async fn the_last_inbound_message_of_a_conversation_is_kept(store: Arc<dyn StateStore>) {
    let at = |secs: i64| chrono::DateTime::from_timestamp(1_800_000_000 + secs, 123_000).unwrap();
    let chat = conversation("t-inbound");
    assert_eq!(store.last_inbound(&chat).await.unwrap(), None);
    store
        .record_inbound(&chat, "m-2", "chat:anna", at(20))
        .await
        .unwrap();
    // An older message handled later (a redelivery) does not win.
    store
        .record_inbound(&chat, "m-1", "chat:oleg", at(10))
        .await
        .unwrap();
    let last = store.last_inbound(&chat).await.unwrap().unwrap();
    assert_eq!(
        (last.message_id.as_str(), last.received_at),
        ("m-2", at(20))
    );
    store
        .record_inbound(&chat, "m-3", "chat:oleg", at(30))
        .await
        .unwrap();
    let last = store.last_inbound(&chat).await.unwrap().unwrap();
    assert_eq!(
        (last.message_id.as_str(), last.received_at),
        ("m-3", at(30))
    );
    assert_eq!(
        store.last_inbound(&conversation("t-other")).await.unwrap(),
        None,
        "per conversation"
    );
}

fn message(
    user_id: u64,
    channel: &str,
    tokens: &str,
    at_secs: i64,
) -> intake_store::CrossChannelMessage {
    intake_store::CrossChannelMessage {
        event_id: Uuid::new_v4(),
        user_id,
        channel: channel.to_owned(),
        text_hash: format!("hash:{tokens}"),
        tokens: tokens.to_owned(),
        received_at: chrono::DateTime::from_timestamp(1_800_000_000 + at_secs, 0).unwrap(),
        duplicate_of: None,
    }
}

pub async fn a_contact_link_is_decided_once(store: Arc<dyn StateStore>) {
    use intake_store::{ContactLink, LinkOutcome};
    assert_eq!(store.contact_link("telegram:42").await.unwrap(), None);
    let at = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
    let linked = ContactLink {
        contact_key: "telegram:42".into(),
        detail_key: "phone:+4915112345678".into(),
        user_id: 7,
        outcome: LinkOutcome::Linked,
        reason: None,
        created_at: at,
    };
    assert_eq!(store.record_contact_link(&linked).await.unwrap(), linked);
    let refused = ContactLink {
        user_id: 8,
        outcome: LinkOutcome::Refused,
        reason: Some("identity_taken".into()),
        ..linked.clone()
    };
    // The first decision stands.
    assert_eq!(store.record_contact_link(&refused).await.unwrap(), linked);
    let other = ContactLink {
        contact_key: "slack:T1:U1".into(),
        ..refused.clone()
    };
    assert_eq!(store.record_contact_link(&other).await.unwrap(), other);
    assert_eq!(
        store.contact_link("telegram:42").await.unwrap(),
        Some(linked)
    );
}

pub async fn cross_channel_claims_find_the_original_once(store: Arc<dyn StateStore>) {
    use intake_store::CrossChannelClaim;
    let window = Duration::from_secs(600);
    let same = |a: &str| {
        let a = a.to_owned();
        move |m: &intake_store::CrossChannelMessage| m.tokens == a
    };
    let chat = message(1, "chat", "printer is broken", 0);
    assert_eq!(
        store
            .claim_cross_channel(&chat, window, &same("printer is broken"))
            .await
            .unwrap(),
        CrossChannelClaim::Original
    );
    // The same channel never duplicates itself; another user neither.
    let chat_again = message(1, "chat", "printer is broken", 10);
    assert_eq!(
        store
            .claim_cross_channel(&chat_again, window, &same("printer is broken"))
            .await
            .unwrap(),
        CrossChannelClaim::Original
    );
    let stranger = message(2, "telegram", "printer is broken", 20);
    assert_eq!(
        store
            .claim_cross_channel(&stranger, window, &same("printer is broken"))
            .await
            .unwrap(),
        CrossChannelClaim::Original
    );
    // Another channel inside the window: a duplicate of the oldest original.
    let telegram = message(1, "telegram", "printer is broken", 300);
    let CrossChannelClaim::DuplicateOf(original) = store
        .claim_cross_channel(&telegram, window, &same("printer is broken"))
        .await
        .unwrap()
    else {
        panic!("the telegram copy is not a duplicate");
    };
    assert_eq!(original.event_id, chat.event_id);
    // A replay gets the first decision back.
    let CrossChannelClaim::DuplicateOf(again) = store
        .claim_cross_channel(&telegram, window, &|_| false)
        .await
        .unwrap()
    else {
        panic!("a replay changed the decision");
    };
    assert_eq!(again.event_id, chat.event_id);
    // Different text, or outside the window: an original.
    let different = message(1, "email", "invoice is wrong", 310);
    assert_eq!(
        store
            .claim_cross_channel(&different, window, &same("invoice is wrong"))
            .await
            .unwrap(),
        CrossChannelClaim::Original
    );
    // (the newest chat original is at 10 s; the window is 600 s)
    let late = message(1, "whatsapp", "printer is broken", 10 + 601);
    assert_eq!(
        store
            .claim_cross_channel(&late, window, &same("printer is broken"))
            .await
            .unwrap(),
        CrossChannelClaim::Original
    );
}

/// Many similar messages of one person on several channels claimed at the
/// same moment: exactly one is the original (20 rounds, one person each, so
/// a claim that is not atomic shows up even when most rounds serialise by
/// chance).
pub async fn concurrent_cross_channel_claims_have_one_original(store: Arc<dyn StateStore>) {
    use intake_store::CrossChannelClaim;
    for round in 0..20u64 {
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let mut tasks = Vec::new();
        for n in 0..8 {
            let (store, start) = (store.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                let claim = message(100 + round, &format!("channel{n}"), "same words", n);
                start.wait().await;
                store
                    .claim_cross_channel(&claim, Duration::from_secs(600), &|_| true)
                    .await
                    .unwrap()
            }));
        }
        let mut originals = 0;
        for task in tasks {
            if task.await.unwrap() == CrossChannelClaim::Original {
                originals += 1;
            }
        }
        assert_eq!(originals, 1, "round {round}");
    }
}
