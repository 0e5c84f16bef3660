//! `[channels.slack]` through the real loader: defaults, problems with key paths.

mod common;

use std::time::Duration;

use intake_channel::testing::load_channel_options;
use intake_channel_slack::Slack;

#[test]
fn the_section_has_defaults_and_keeps_its_secrets_out_of_debug() {
    let options = common::options("https://slack.com/api");
    assert_eq!(options.api_base_url.as_str(), "https://slack.com/api/");
    assert_eq!(options.timestamp_tolerance, Duration::from_secs(300));
    assert_eq!(options.support_channels, [common::SUPPORT]);
    let debug = format!("{options:?}");
    for secret in [common::SIGNING_SECRET, common::BOT_TOKEN] {
        assert!(!debug.contains(secret), "secret in Debug: {debug}");
    }
}

#[test]
fn problems_are_reported_with_their_key_paths() {
    let toml = "[channels.slack]\nenabled = true\ntimestamp_tolerance_secs = 3600\n\
                support_channels = [\"\"]\nbot_token = \"xoxb-inline\"\n";
    let errors = load_channel_options::<Slack>(toml, &[]).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "channels.slack.timestamp_tolerance_secs",
        "channels.slack.support_channels[0]",
        "channels.slack.bot_token",
        "channels.slack.signing_secret_env",
        "channels.slack.bot_token_env",
    ] {
        assert!(keys.contains(&key), "{key} not reported: {errors}");
    }
}
