//! The router consumes every enabled channel; `router.channel_priority` only
//! orders them (issue 8 point 1).

mod common;

use common::env;
use common::load_from;

#[test]
fn an_enabled_channel_missing_from_the_priority_list_is_still_consumed() {
    let config = load_from(Some("[router]\nchannel_priority = [\"email\"]\n"), &[]).unwrap();
    assert!(config.channels.is_enabled("chat"));
    assert_eq!(config.router_channels(), ["chat"]);
    // Zendesk credentials are missing, but the channels are fine.
    let problems = config.require_router().unwrap_err();
    assert!(problems.for_key("channels").is_none(), "{problems}");
}

#[test]
fn the_priority_list_orders_and_listed_channels_that_are_off_are_ignored() {
    let config = load_from(
        Some("[router]\nchannel_priority = [\"slack\", \"email\", \"chat\"]\n"),
        &[],
    )
    .unwrap();
    assert_eq!(config.router_channels(), ["chat"]);
    assert_eq!(
        config
            .router
            .consumed_channels(&["email", "chat", "telegram"]),
        ["email", "chat", "telegram"],
        "listed first in list order, unlisted after in the given order"
    );
    assert_eq!(
        config
            .router
            .consumed_channels(&["telegram", "chat", "slack"]),
        ["slack", "chat", "telegram"]
    );
    let default = load_from(None, &[]).unwrap();
    assert_eq!(
        default
            .router
            .consumed_channels(&["email", "whatsapp", "chat"]),
        ["chat", "whatsapp", "email"]
    );
}

#[test]
fn a_router_with_no_enabled_channel_is_refused() {
    let config = load_from(None, &env(&[("INTAKE__CHANNELS__CHAT__ENABLED", "false")])).unwrap();
    assert!(config.router_channels().is_empty());
    let problems = config.require_router().unwrap_err();
    let problem = problems.for_key("channels").expect("a channels problem");
    assert!(
        problem.message.contains("nothing to consume"),
        "{problem:?}"
    );
}

#[test]
fn a_priority_list_naming_an_unknown_channel_is_refused() {
    let errors = load_from(
        Some("[router]\nchannel_priority = [\"chat\", \"fax\"]\n"),
        &[],
    )
    .unwrap_err();
    assert!(
        errors.for_key("router.channel_priority[1]").is_some(),
        "{errors}"
    );
}
