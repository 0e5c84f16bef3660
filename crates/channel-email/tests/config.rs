//! `[channels.email]`: defaults, validation with full key paths, unknown keys.

use intake_channel_email::config::{ForeignRecipientPolicy, RawEmailConfig, TlsMode};

fn parse(toml: &str) -> Result<RawEmailConfig, toml::de::Error> {
    toml::from_str(toml)
}

const MINIMAL: &str = r#"
[[accounts]]
name = "help"
address = "Help@Example.com"
[accounts.imap]
host = "imap.example.com"
username = "help@example.com"
password_env = "PATH"
"#;

#[test]
fn a_minimal_account_gets_the_documented_defaults() {
    let config = parse(MINIMAL).unwrap().validate().unwrap();
    assert!(config.enabled);
    let account = &config.accounts[0];
    assert_eq!(
        account.address, "help@example.com",
        "addresses are lower-cased"
    );
    assert_eq!(account.imap.port, 993);
    assert_eq!(account.imap.tls, TlsMode::Implicit);
    assert_eq!(account.imap.mailbox, "INBOX");
    assert_eq!(account.imap.processed_folder.as_deref(), Some("Processed"));
    assert_eq!(account.imap.idle_renew.as_secs(), 1500);
    assert!(account.imap.idle_renew.as_secs() <= 29 * 60, "RFC 2177");
    assert_eq!(
        account.foreign_recipient,
        ForeignRecipientPolicy::AcceptTagged
    );
    assert!(account.smtp.is_none());
    assert!(
        !format!("{account:?}").contains(&std::env::var("PATH").unwrap()),
        "the secret is redacted"
    );
}

#[test]
fn the_ticket_token_format_is_configurable_and_checked() {
    let config = parse(MINIMAL).unwrap().validate().unwrap();
    assert_eq!(config.accounts[0].ticket_token.render(7), "[#7]");
    let custom = format!("ticket_token = \"(Ticket {{ticket}})\"\n{MINIMAL}");
    let config = parse(&custom).unwrap().validate().unwrap();
    assert_eq!(config.accounts[0].ticket_token.render(7), "(Ticket 7)");
    let bad = format!("ticket_token = \"Ticket\"\n{MINIMAL}");
    let problems = parse(&bad).unwrap().validate().unwrap_err();
    assert_eq!(
        problems[0].key, "channels.email.ticket_token",
        "{problems:?}"
    );
    assert!(problems[0].message.contains("{ticket}"), "{problems:?}");
}

#[test]
fn every_problem_is_reported_at_once_with_its_key_path() {
    let toml = r#"
[[accounts]]
name = "help desk"
address = "not-an-address"
alias_addresses = ["ok@example.com", "broken"]
foreign_recipient = "refuse_with_pointer"
max_attachment_bytes = 0
[accounts.imap]
host = ""
username = "u"
password_env = "INTAKE_TEST_SURELY_UNSET_VARIABLE_1234"
idle_renew_secs = 2000
processed_folder = "INBOX"

[[accounts]]
name = "second"
address = "second@example.com"
[accounts.imap]
host = "imap.example.com"
username = "u"
password_env = "PATH"
password_file = "/etc/hostname"
[accounts.smtp]
host = "smtp.example.com"
password_env = "PATH"
"#;
    let problems = parse(toml).unwrap().validate().unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    for key in [
        "channels.email.accounts[0].name",
        "channels.email.accounts[0].address",
        "channels.email.accounts[0].alias_addresses[1]",
        "channels.email.accounts[0].foreign_recipient",
        "channels.email.accounts[0].max_attachment_bytes",
        "channels.email.accounts[0].imap.host",
        "channels.email.accounts[0].imap.password_env",
        "channels.email.accounts[0].imap.idle_renew_secs",
        "channels.email.accounts[0].imap.processed_folder",
        "channels.email.accounts[1].imap.password_env",
        "channels.email.accounts[1].smtp.username",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
}

#[test]
fn unknown_keys_and_inline_passwords_are_refused() {
    let misspelt = MINIMAL.replace("username =", "user_name =");
    assert!(
        parse(&misspelt)
            .unwrap_err()
            .to_string()
            .contains("user_name")
    );
    let inline = MINIMAL.replace("password_env = \"PATH\"", "password = \"hunter2\"");
    let error = parse(&inline).unwrap_err().to_string();
    assert!(error.contains("password"), "{error}");
}

#[test]
fn an_enabled_section_without_accounts_and_duplicate_names_are_problems() {
    let empty = parse("enabled = true").unwrap().validate().unwrap_err();
    assert_eq!(empty[0].key, "channels.email.accounts");
    let twice = format!(
        "{MINIMAL}{}",
        MINIMAL.replace("Help@Example.com", "other@example.com")
    );
    let problems = parse(&twice).unwrap().validate().unwrap_err();
    assert_eq!(
        problems[0].key, "channels.email.accounts[1].name",
        "{problems:?}"
    );
}

#[test]
fn xoauth2_needs_its_oauth2_table_and_a_safe_token_url() {
    let without = MINIMAL.replace("password_env = \"PATH\"", "auth = \"xoauth2\"");
    let problems = parse(&without).unwrap().validate().unwrap_err();
    assert_eq!(
        problems[0].key, "channels.email.accounts[0].imap.oauth2",
        "{problems:?}"
    );
    let plain_http = format!(
        "{}\n[accounts.imap.oauth2]\ntoken_url = \"http://tokens.example.com/token\"\nclient_id = \"\"\nrefresh_token_env = \"PATH\"\n",
        without
    );
    let problems = parse(&plain_http).unwrap().validate().unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.email.accounts[0].imap.oauth2.token_url",
            "channels.email.accounts[0].imap.oauth2.client_id"
        ]
    );
    let loopback = plain_http
        .replace("tokens.example.com", "127.0.0.1:8080")
        .replace("client_id = \"\"", "client_id = \"x\"");
    let config = parse(&loopback).unwrap().validate().unwrap();
    assert!(matches!(
        config.accounts[0].imap.auth,
        intake_channel_email::config::ImapAuth::XOAuth2(_)
    ));
}

#[test]
fn smtp_xoauth2_needs_the_imap_token_a_login_and_no_password() {
    let with_smtp = format!(
        "{MINIMAL}[accounts.smtp]\nhost = \"smtp.example.com\"\nauth = \"xoauth2\"\n\
         password_env = \"PATH\"\n"
    );
    let problems = parse(&with_smtp).unwrap().validate().unwrap_err();
    let keys: Vec<&str> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.email.accounts[0].smtp.auth",
            "channels.email.accounts[0].smtp.username",
            "channels.email.accounts[0].smtp.password",
        ],
        "{problems:?}"
    );
    assert!(problems[0].message.contains("IMAP token"), "{problems:?}");
}
