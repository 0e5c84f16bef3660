//! Several accounts: a reply goes from the account the customer's mail came
//! in on, over that account's SMTP settings, not from the first account
//! that has SMTP (against the aiosmtpd sink).

mod common;

use common::*;
use intake_channel::{Reply, ReplySender};
use intake_channel_email::AccountSenders;
use intake_channel_email::config::RawEmailConfig;

/// Two accounts, both with SMTP (the sink takes both), and a third without.
fn three_accounts(
    first: &str,
    second: &str,
    third: &str,
) -> intake_channel_email::config::EmailConfig {
    let (host, port) = env("INTAKE_TEST_IMAP")
        .split_once(':')
        .map(|(h, p)| (h.to_owned(), p.to_owned()))
        .unwrap();
    let account = |name: &str, address: &str, smtp: bool| {
        let smtp = if smtp {
            smtp_section(PASSWORD_ENV)
        } else {
            String::new()
        };
        format!(
            "[[accounts]]\nname = \"{name}\"\naddress = \"{address}\"\n\
             [accounts.imap]\nhost = \"{host}\"\nport = {port}\ntls = \"none\"\n\
             username = \"{address}\"\npassword_env = \"INTAKE_TEST_IMAP_PASSWORD\"\n{smtp}\n"
        )
    };
    let toml = format!(
        "{}{}{}",
        account("first", first, true),
        account("second", second, true),
        account("quiet", third, false)
    );
    let raw: RawEmailConfig = toml::from_str(&toml).expect("test config parses");
    raw.validate().expect("test config is valid")
}

fn reply(account: Option<&str>) -> Reply {
    Reply {
        channel: "email".to_owned(),
        contact_key: "email:vera@customer.test".to_owned(),
        conversation_id: Some("root-acc@customer.test".to_owned()),
        ticket_id: Some(808),
        text: "Спасибо, обращение 808.".to_owned(),
        outcome_id: uuid::Uuid::new_v4(),
        account: account.map(str::to_owned),
        ..Reply::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_goes_from_the_account_the_mail_came_in_on() {
    let Some(()) = servers(true) else { return };
    let (first, second, quiet) = (fresh_user(), fresh_user(), fresh_user());
    let config = three_accounts(&first, &second, &quiet);
    let senders = AccountSenders::new(&config)
        .unwrap()
        .expect("two accounts reply");

    let from_second = reply(Some("second"));
    senders.send(&from_second).await.unwrap();
    let copy = sink_copy(&from_second.outcome_id.simple().to_string()).await;
    assert_eq!(header(&copy, "From"), Some(second.as_str()), "{copy}");
    assert_eq!(header(&copy, "X-MailFrom"), Some(second.as_str()));

    // No account named, an account without SMTP, or one no longer
    // configured: the first account with SMTP.
    for account in [None, Some("quiet"), Some("renamed")] {
        let fallback = reply(account);
        senders.send(&fallback).await.unwrap();
        let copy = sink_copy(&fallback.outcome_id.simple().to_string()).await;
        assert_eq!(header(&copy, "From"), Some(first.as_str()), "{account:?}");
    }
}
