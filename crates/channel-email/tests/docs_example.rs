//! The `[channels.email]` example in docs/email.md parses with every key it
//! shows, and validates except for the passwords it names by variable.

use intake_channel_email::config::RawEmailConfig;

#[test]
fn the_documented_example_is_a_valid_configuration() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/email.md"))
        .unwrap();
    let start = doc
        .find("<!-- email-config-example -->")
        .expect("start marker");
    let end = doc
        .find("<!-- /email-config-example -->")
        .expect("end marker");
    let block = &doc[start..end];
    let toml_text = block
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(body, _)| body)
        .expect("a toml block");
    let value: toml::Value = toml::from_str(toml_text).unwrap();
    let section = value["channels"]["email"].clone();
    let raw: RawEmailConfig = section
        .try_into()
        .expect("the example uses only known keys");
    let problems = raw.validate().unwrap_err();
    let keys: Vec<_> = problems.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "channels.email.accounts[0].imap.password_env",
            "channels.email.accounts[0].smtp.password_env",
            "channels.email.accounts[1].imap.oauth2.client_secret_env",
            "channels.email.accounts[1].imap.oauth2.refresh_token_file"
        ],
        "only the unset secrets: {problems:?}"
    );
}
