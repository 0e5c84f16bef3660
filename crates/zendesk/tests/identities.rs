//! The User Identities API against the simulator: adding, listing, finding a
//! user by an added identity, and the refusal of a value another user holds.

mod common;

use anyhow::Result;
use intake_zendesk::{IdentityType, UserInput};

fn user(name: &str, email: Option<&str>, external_id: Option<&str>) -> UserInput {
    UserInput {
        name: Some(name.into()),
        email: email.map(str::to_owned),
        external_id: external_id.map(str::to_owned),
        ..UserInput::default()
    }
}

#[tokio::test]
async fn identities_are_added_listed_found_and_never_shared() -> Result<()> {
    let sim = common::start(common::config(None)).await?;
    let client = sim.client(700, 1);
    let ann = client
        .create_or_update_user(&user("Ann", Some("ann@example.test"), None))
        .await?;
    let bob = client
        .create_or_update_user(&user("Bob", None, Some("telegram:7")))
        .await?;

    let phone = client
        .add_user_identity(ann.id, IdentityType::PhoneNumber, "+4915112345678")
        .await?;
    assert_eq!(
        (phone.user_id, phone.kind.as_str()),
        (ann.id, "phone_number")
    );
    let foreign = client
        .add_user_identity(ann.id, IdentityType::Foreign, "telegram:42")
        .await?;
    let email = client
        .add_user_identity(ann.id, IdentityType::Email, "ann.work@example.test")
        .await?;
    let listed = client.user_identities(ann.id).await?;
    for added in [&phone, &foreign, &email] {
        assert!(listed.contains(added), "{added:?} not in {listed:?}");
    }
    assert!(
        listed
            .iter()
            .any(|i| i.is(IdentityType::Email, "ANN@example.test"))
    );

    // Found by the added identities.
    let by_phone = client.search_users("phone:+4915112345678").await?;
    assert_eq!(
        by_phone.iter().map(|u| u.id).collect::<Vec<_>>(),
        vec![ann.id]
    );
    client.forget_user(ann.id);
    let by_email = client
        .create_or_update_user(&user("Ann W", Some("ann.work@example.test"), None))
        .await?;
    assert_eq!(by_email.id, ann.id);

    // A value another user holds is refused, and Bob gains nothing.
    let taken = client
        .add_user_identity(bob.id, IdentityType::PhoneNumber, "+4915112345678")
        .await
        .unwrap_err();
    assert!(taken.is_identity_taken(), "{taken}");
    assert!(!taken.is_retryable());
    let taken = client
        .add_user_identity(bob.id, IdentityType::Email, "ann@example.test")
        .await
        .unwrap_err();
    assert!(taken.is_identity_taken(), "{taken}");
    assert!(
        client
            .user_identities(bob.id)
            .await?
            .iter()
            .all(|i| i.kind != "phone_number" && i.kind != "email")
    );
    // The same value twice on one user is refused too, but not as "taken".
    let twice = client
        .add_user_identity(ann.id, IdentityType::Foreign, "telegram:42")
        .await
        .unwrap_err();
    assert_eq!(twice.status(), Some(422));
    assert!(!twice.is_identity_taken());
    Ok(())
}
