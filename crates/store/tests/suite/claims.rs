//! Claims and leases (one holder at a time) and the SLA watches they guard.

use super::*;

/// One holder per conversation: a second holder is refused while the claim
/// is alive, a renewal keeps the token, and a claim taken anew (after it
/// lapsed or was released) always has a higher token, so the first holder
/// can tell it lost the claim even if it took it back.
pub async fn a_conversation_claim_has_one_holder_and_a_growing_token(store: Arc<dyn StateStore>) {
    use intake_store::ClaimAttempt;
    use std::time::Duration;

    let long = Duration::from_secs(60);
    let held = |attempt: ClaimAttempt| match attempt {
        ClaimAttempt::Held(claim) => claim,
        other => panic!("not held: {other:?}"),
    };
    let a = held(
        store
            .claim_conversation("thread:chat:c1", "router-a", long)
            .await
            .unwrap(),
    );
    assert_eq!(
        (a.lane.as_str(), a.holder.as_str()),
        ("thread:chat:c1", "router-a")
    );
    match store
        .claim_conversation("thread:chat:c1", "router-b", long)
        .await
        .unwrap()
    {
        ClaimAttempt::Busy { holder, remaining } => {
            assert_eq!(holder, "router-a");
            assert!(remaining > Duration::from_secs(30), "{remaining:?}");
        }
        other => panic!("a second holder got the claim: {other:?}"),
    }
    // Another conversation is free for b.
    let other = held(
        store
            .claim_conversation("thread:chat:c2", "router-b", long)
            .await
            .unwrap(),
    );
    assert_ne!(other.token, a.token);
    let renewed = held(
        store
            .claim_conversation("thread:chat:c1", "router-a", long)
            .await
            .unwrap(),
    );
    assert_eq!(renewed, a, "a renewal keeps the token");
    assert!(
        store
            .conversation_claim_held(&a, Duration::from_secs(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .conversation_claim_held(&a, Duration::from_secs(120))
            .await
            .unwrap(),
        "held, but not for the margin asked"
    );
    // b's release of a claim it does not hold changes nothing.
    let forged = intake_store::ConversationClaim {
        holder: "router-b".to_owned(),
        ..a.clone()
    };
    store.release_conversation(&forged).await.unwrap();
    assert!(
        store
            .conversation_claim_held(&a, Duration::ZERO)
            .await
            .unwrap()
    );

    // A short claim lapses: b takes it (waiting on the condition, bounded).
    let short = held(
        store
            .claim_conversation("thread:chat:c3", "router-a", Duration::from_millis(200))
            .await
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let b = loop {
        match store
            .claim_conversation("thread:chat:c3", "router-b", long)
            .await
            .unwrap()
        {
            ClaimAttempt::Held(claim) => break claim,
            ClaimAttempt::Busy { remaining, .. } => {
                assert!(remaining <= Duration::from_millis(200), "{remaining:?}");
                assert!(
                    std::time::Instant::now() < deadline,
                    "the claim never lapsed"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert!(b.token > short.token, "{b:?} after {short:?}");
    assert!(
        !store
            .conversation_claim_held(&short, Duration::ZERO)
            .await
            .unwrap()
    );
    // a's late renewal of the lapsed claim is refused, its release is a no-op.
    assert!(matches!(
        store
            .claim_conversation("thread:chat:c3", "router-a", long)
            .await
            .unwrap(),
        ClaimAttempt::Busy { .. }
    ));
    store.release_conversation(&short).await.unwrap();
    assert!(
        store
            .conversation_claim_held(&b, Duration::ZERO)
            .await
            .unwrap()
    );
    // Released: a takes it again, with a token above every earlier one.
    store.release_conversation(&b).await.unwrap();
    assert!(
        !store
            .conversation_claim_held(&b, Duration::ZERO)
            .await
            .unwrap()
    );
    let again = held(
        store
            .claim_conversation("thread:chat:c3", "router-a", long)
            .await
            .unwrap(),
    );
    assert!(
        again.token > b.token && again.token > short.token,
        "{again:?}"
    );
    assert!(
        !store
            .conversation_claim_held(&short, Duration::ZERO)
            .await
            .unwrap(),
        "the old token stays lost"
    );
}

pub async fn a_lease_has_one_holder_until_released_or_expired(store: Arc<dyn StateStore>) {
    use std::time::Duration;
    let long = Duration::from_secs(60);
    assert!(store.try_acquire_lease("sla", "a", long).await.unwrap());
    assert!(!store.try_acquire_lease("sla", "b", long).await.unwrap());
    assert!(store.renew_lease("sla", "a", long).await.unwrap());
    assert!(!store.renew_lease("sla", "b", long).await.unwrap());
    // Acquiring what one holds keeps it; another name is another lease.
    assert!(store.try_acquire_lease("sla", "a", long).await.unwrap());
    assert!(store.try_acquire_lease("other", "b", long).await.unwrap());
    // Only the holder releases.
    store.release_lease("sla", "b").await.unwrap();
    assert!(!store.try_acquire_lease("sla", "b", long).await.unwrap());
    store.release_lease("sla", "a").await.unwrap();
    assert!(!store.renew_lease("sla", "a", long).await.unwrap());
    assert!(store.try_acquire_lease("sla", "b", long).await.unwrap());

    // A lease that is not renewed runs out and can then be taken (waits on
    // the condition, never on a fixed sleep).
    assert!(
        store
            .try_acquire_lease("short", "a", Duration::from_millis(200))
            .await
            .unwrap()
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !store.try_acquire_lease("short", "b", long).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "the expired lease was never free"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!store.renew_lease("short", "a", long).await.unwrap());
    let error = store
        .try_acquire_lease("zero", "a", Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(error, StoreError::InvalidValue(_)), "{error:?}");
}

pub async fn sla_watches_are_recorded_once_listed_when_due_and_advanced_once(
    store: Arc<dyn StateStore>,
) {
    use chrono::{Duration, TimeZone};
    use intake_store::{SlaStage, SlaWatch};
    let t0 = Utc.with_ymd_and_hms(2026, 12, 7, 7, 0, 0).unwrap();
    let watch = |ticket_id: u64, due_minutes: i64, warn_minutes: i64| SlaWatch {
        ticket_id,
        channel: "email".to_owned(),
        policy: "email".to_owned(),
        calendar: "default".to_owned(),
        locale: Some("ru".to_owned()),
        due_at: t0 + Duration::minutes(due_minutes),
        warn_at: t0 + Duration::minutes(warn_minutes),
        stage: SlaStage::Watching,
        stage_at: t0,
    };
    assert!(store.watch_sla(&watch(1, 60, 30)).await.unwrap());
    assert!(store.watch_sla(&watch(2, 40, 10)).await.unwrap());
    assert!(store.watch_sla(&watch(3, 120, 90)).await.unwrap());
    // A second record of a ticket changes nothing.
    let mut again = watch(1, 999, 999);
    again.policy = "chat".to_owned();
    assert!(!store.watch_sla(&again).await.unwrap());
    assert_eq!(store.sla_watch(1).await.unwrap(), Some(watch(1, 60, 30)));
    assert_eq!(store.sla_watch(404).await.unwrap(), None);

    let due = |minutes: i64, limit: usize| {
        let store = Arc::clone(&store);
        async move {
            store
                .due_sla_watches(t0 + Duration::minutes(minutes), None, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.ticket_id)
                .collect::<Vec<_>>()
        }
    };
    assert!(due(5, 10).await.is_empty());
    assert_eq!(due(10, 10).await, vec![2]);
    // Earliest deadline first, bounded.
    assert_eq!(due(30, 10).await, vec![2, 1]);
    assert_eq!(due(30, 1).await, vec![2]);
    // The next page starts after the last watch of the previous one.
    let page = |after: (chrono::DateTime<Utc>, u64)| {
        let store = Arc::clone(&store);
        async move {
            store
                .due_sla_watches(t0 + Duration::minutes(30), Some(after), 10)
                .await
                .unwrap()
                .into_iter()
                .map(|w| w.ticket_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(page((t0 + Duration::minutes(40), 2)).await, vec![1]);
    assert_eq!(page((t0 + Duration::minutes(40), 1)).await, vec![2, 1]);
    assert!(page((t0 + Duration::minutes(60), 1)).await.is_empty());

    let at = t0 + Duration::minutes(11);
    assert!(
        store
            .advance_sla_watch(2, SlaStage::Watching, SlaStage::Warning, at)
            .await
            .unwrap()
    );
    // The same step again (a second scheduler) does not move it.
    assert!(
        !store
            .advance_sla_watch(2, SlaStage::Watching, SlaStage::Warning, at)
            .await
            .unwrap()
    );
    let warning = store.sla_watch(2).await.unwrap().unwrap();
    assert_eq!((warning.stage, warning.stage_at), (SlaStage::Warning, at));
    // A `warning` watch is listed at once (its Slack post is owed).
    assert_eq!(due(0, 10).await, vec![2]);
    assert!(
        store
            .advance_sla_watch(2, SlaStage::Warning, SlaStage::Warned, at)
            .await
            .unwrap()
    );
    // A warned watch comes back only at its deadline.
    assert_eq!(due(39, 10).await, vec![1]);
    assert_eq!(due(40, 10).await, vec![2, 1]);
    assert!(
        store
            .advance_sla_watch(2, SlaStage::Warned, SlaStage::Breached, at)
            .await
            .unwrap()
    );
    assert!(
        store
            .advance_sla_watch(1, SlaStage::Watching, SlaStage::Answered, at)
            .await
            .unwrap()
    );
    // Final stages are never listed again.
    assert_eq!(due(1_000, 10).await, vec![3]);
    assert!(SlaStage::Breached.is_final() && !SlaStage::Warned.is_final());
    for stage in [
        SlaStage::Watching,
        SlaStage::Warning,
        SlaStage::Warned,
        SlaStage::Breached,
        SlaStage::Answered,
        SlaStage::Closed,
        SlaStage::Gone,
    ] {
        assert_eq!(SlaStage::parse(stage.as_str()).unwrap(), stage);
    }
}
