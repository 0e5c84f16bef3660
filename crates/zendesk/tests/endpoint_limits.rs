//! Endpoint limits (decision 58) against the simulator enforcing them, on
//! paused tokio time (which drives the simulator's clock too): the client
//! paces Update Ticket and user creation under their own limits with no
//! 429, and a 429 from one of them (account budget left) holds that
//! endpoint only; within a wait limit it says when to come back instead of
//! sending into a refusal.

mod common;

use std::time::Duration;

use anyhow::Result;
use common::{Sim, comment, ticket};
use intake_zendesk::{Client, EndpointLimitOptions, UserInput, with_ticket_wait_limit};
use intake_zendesk_sim::{SimConfig, UserCreateLimits};

fn user(email: &str) -> UserInput {
    UserInput {
        name: Some("Someone".into()),
        email: Some(email.into()),
        ..UserInput::default()
    }
}

/// Longer than any pacing gap at 700/min, far shorter than the holds here.
const AT_ONCE: Duration = Duration::from_secs(3);

/// A simulator allowing `sim_per_minute` Update Ticket calls a minute (700
/// a minute for the account), a client with one attempt pacing updates at
/// `client_per_minute`, and `tickets` tickets created through it.
async fn update_limited(
    sim_per_minute: u32,
    client_per_minute: u32,
    tickets: usize,
) -> Result<(Sim, Client, Vec<u64>)> {
    let sim = common::start(SimConfig {
        update_ticket_per_minute: Some(sim_per_minute),
        ..common::config(Some(700))
    })
    .await?;
    let client = sim.client(700, 1);
    client.set_endpoint_limits(EndpointLimitOptions {
        update_ticket_per_minute: Some(client_per_minute),
        user_creates_per_minute: None,
    });
    let mut ids = Vec::new();
    for i in 0..tickets {
        let key = format!("k-{i}");
        ids.push(
            client
                .create_ticket(&ticket("t"), Some(&key))
                .await?
                .ticket
                .id,
        );
    }
    Ok((sim, client, ids))
}

/// A simulator enforcing Zendesk's user-creation limits (700 a minute for
/// the account) and a client with one attempt, not pacing user creation.
async fn user_create_limited() -> Result<(Sim, Client)> {
    let sim = common::start(SimConfig {
        user_create_limits: Some(UserCreateLimits::default()),
        ..common::config(Some(700))
    })
    .await?;
    let client = sim.client(700, 1);
    Ok((sim, client))
}

#[tokio::test(start_paused = true)]
async fn updates_are_paced_under_the_endpoint_limit_without_a_429() -> Result<()> {
    let (sim, client, ids) = update_limited(10, 10, 4).await?;
    // 25 updates, more than two minutes' worth: all accepted.
    for round in 0..25 {
        let id = ids[round % ids.len()];
        client.update_ticket(id, &comment("more")).await?;
    }
    let puts = sim.requests_to("PUT", "/api/v2/tickets/").await?;
    assert_eq!(puts.len(), 25);
    assert!(puts.iter().all(|r| r.status == 200), "no 429");
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn an_update_limit_429_holds_updates_only_and_a_bounded_wait_says_when() -> Result<()> {
    // The client believes in more (another integration uses the endpoint too).
    let (sim, client, ids) = update_limited(2, 300, 3).await?;
    client.update_ticket(ids[0], &comment("one")).await?;
    client.update_ticket(ids[1], &comment("two")).await?;
    let refused = client
        .update_ticket(ids[2], &comment("three"))
        .await
        .expect_err("over the sim's Update Ticket limit");
    assert!(refused.is_rate_limited(), "{refused}");

    // An update of another ticket, within the router's wait limit: held by
    // the endpoint's hold, returned at once, nothing sent.
    let held = tokio::time::timeout(
        AT_ONCE,
        with_ticket_wait_limit(
            Duration::from_secs(2),
            client.update_ticket(ids[0], &comment("four")),
        ),
    )
    .await
    .expect("a held update returns at once")
    .expect_err("the update endpoint is held");
    let retry_in = held.endpoint_held().expect("EndpointHeld");
    assert!(retry_in > Duration::from_secs(30), "{retry_in:?}");
    assert!(held.is_retryable());

    // Everything else goes on: the account was not paused.
    tokio::time::timeout(AT_ONCE, client.create_ticket(&ticket("x"), Some("k-x")))
        .await
        .expect("a create was held by the update limit's 429")?;
    tokio::time::timeout(AT_ONCE, client.groups())
        .await
        .expect("a read was held by the update limit's 429")?;
    let puts = sim.requests_to("PUT", "/api/v2/tickets/").await?;
    assert_eq!(puts.len(), 3, "the held update was not sent");
    assert_eq!(puts.iter().filter(|r| r.status == 429).count(), 1);

    // After the hold the update goes through.
    client.update_ticket(ids[0], &comment("four")).await?;
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn user_creations_are_paced_per_account_and_per_user_without_a_429() -> Result<()> {
    let (sim, client) = user_create_limited().await?;
    client.set_endpoint_limits(EndpointLimitOptions {
        update_ticket_per_minute: None,
        user_creates_per_minute: Some(60),
    });
    for i in 0..5 {
        client
            .create_or_update_user(&user(&format!("u{i}@x.test")))
            .await?;
    }
    // One user six times (the cache forgotten in between, as after a user
    // Zendesk said is gone): the sixth waits for the per-user minute.
    for _ in 0..6 {
        let same = client.create_or_update_user(&user("same@x.test")).await?;
        client.forget_user(same.id);
    }
    let creates = sim
        .requests_to("POST", "/api/v2/users/create_or_update")
        .await?;
    assert_eq!(creates.len(), 11);
    assert!(creates.iter().all(|r| r.status / 100 == 2), "no 429");
    for pair in creates.windows(2) {
        let gap = common::gap_secs(&pair[0], &pair[1]);
        assert!(gap >= 1.0, "user creations {gap} s apart");
    }
    let same: Vec<_> = creates[5..].to_vec();
    let minute = common::gap_secs(&same[0], &same[5]);
    assert!(
        minute >= 60.0,
        "the sixth for one user came {minute} s after the first"
    );
    Ok(())
}

#[tokio::test(start_paused = true)]
async fn a_user_creation_429_holds_user_creation_only() -> Result<()> {
    // No pacing of user creation: the second one in a second is refused.
    let (sim, client) = user_create_limited().await?;
    client.create_or_update_user(&user("a@x.test")).await?;
    let refused = client
        .create_or_update_user(&user("b@x.test"))
        .await
        .expect_err("over one a second");
    assert!(refused.is_rate_limited(), "{refused}");
    // The account was not paused for the 429's second (paused clock: a
    // hold would show as the full second here).
    let started = tokio::time::Instant::now();
    client.groups().await?;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "a read waited {:?} after the user-creation 429",
        started.elapsed()
    );
    // Held until its Retry-After, then accepted.
    client.create_or_update_user(&user("b@x.test")).await?;
    let creates = sim
        .requests_to("POST", "/api/v2/users/create_or_update")
        .await?;
    assert_eq!(creates.iter().filter(|r| r.status == 429).count(), 1);
    Ok(())
}
