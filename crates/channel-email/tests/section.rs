//! `[channels.email]` through the real configuration loader, as the app
//! registers it: problems with their full key paths, a disabled section
//! that reads no password, and the adapter built from the options.

use intake_channel::testing::load_channel_options;
use intake_channel::{Adapter, BuildContext, Channel};
use intake_channel_email::Email;

const ACCOUNT: &str = r#"
[[channels.email.accounts]]
name = "help"
address = "help@example.com"
[channels.email.accounts.imap]
host = "imap.example.com"
username = "help@example.com"
password_env = "INTAKE_MAIL_PASSWORD"
[channels.email.accounts.smtp]
host = "smtp.example.com"
username = "help@example.com"
password_env = "INTAKE_MAIL_PASSWORD"
"#;

#[test]
fn an_enabled_section_loads_and_builds_one_pull_adapter_and_a_reply_sender() {
    let toml = format!("[channels.email]\nenabled = true\n{ACCOUNT}");
    let options = load_channel_options::<Email>(&toml, &[("INTAKE_MAIL_PASSWORD", "pw")])
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(options.accounts.len(), 1);
    let adapter = Email::build(&options, &BuildContext::in_memory(1 << 20)).unwrap();
    assert!(matches!(adapter, Adapter::Pull(_)), "{adapter:?}");
    assert!(Email::reply_sender(&options).unwrap().is_some());
}

#[test]
fn problems_are_reported_with_full_key_paths() {
    let toml = format!(
        "[channels.email]\nenabled = true\n{}",
        ACCOUNT
            .replace("port", "x")
            .replace("host = \"imap.example.com\"", "host = \"\"")
    );
    let errors = load_channel_options::<Email>(&toml, &[])
        .unwrap_err()
        .to_string();
    for key in [
        "channels.email.accounts[0].imap.host",
        "channels.email.accounts[0].imap.password_env",
        "channels.email.accounts[0].smtp.password_env",
    ] {
        assert!(errors.contains(key), "{key} not in {errors}");
    }
}

#[test]
fn a_disabled_section_reads_no_password_and_unknown_keys_are_refused() {
    let toml = format!("[channels.email]\nenabled = false\n{ACCOUNT}");
    if let Err(errors) = load_channel_options::<Email>(&toml, &[]) {
        let errors = errors.to_string();
        assert!(
            !errors.contains("password"),
            "a disabled section reads no password: {errors}"
        );
    }
    let misspelt = "[channels.email]\nenabled = true\naccount = []\n";
    let errors = load_channel_options::<Email>(misspelt, &[])
        .unwrap_err()
        .to_string();
    assert!(errors.contains("account"), "{errors}");
}
