//! `[channels.whatsapp]` through the real loader: defaults, problems with key paths.

mod common;

use intake_channel::testing::load_channel_options;
use intake_channel_whatsapp::WhatsApp;

#[test]
fn the_section_has_defaults_and_keeps_its_secrets_out_of_debug() {
    let options = common::options("https://graph.facebook.com/v21.0", "");
    assert_eq!(
        options.api_base_url.as_str(),
        "https://graph.facebook.com/v21.0/"
    );
    assert_eq!(options.max_body_bytes, 1024 * 1024);
    assert_eq!(options.max_media_bytes, 16 * 1024 * 1024);
    assert!(options.reply_template.is_none());
    assert_eq!(options.media_hosts, ["lookaside.fbsbx.com"]);
    let debug = format!("{options:?}");
    for secret in [
        common::APP_SECRET,
        common::VERIFY_TOKEN,
        common::ACCESS_TOKEN,
    ] {
        assert!(!debug.contains(secret), "secret in Debug: {debug}");
    }
}

#[test]
fn problems_are_reported_with_their_key_paths() {
    let toml = "[channels.whatsapp]\nenabled = true\napi_base_url = \"ftp://x\"\n\
                max_media_bytes = 0\napp_secret = \"inline\"\n\
                media_hosts = [\"https://cdn.example/x\"]\n";
    let errors = load_channel_options::<WhatsApp>(toml, &[]).unwrap_err();
    let keys: Vec<&str> = errors.problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "channels.whatsapp.api_base_url",
        "channels.whatsapp.max_media_bytes",
        "channels.whatsapp.media_hosts",
        "channels.whatsapp.app_secret",
        "channels.whatsapp.app_secret_env",
        "channels.whatsapp.verify_token_env",
        "channels.whatsapp.access_token_env",
    ] {
        assert!(keys.contains(&key), "{key} not reported: {errors}");
    }
}
