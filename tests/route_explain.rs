//! `intake route-explain` with the built binary (issue 14): which rule of
//! each kind would fire and why, for a ticket event (JSON) or a raw mail,
//! offline or reading the simulator — and never a change in Zendesk.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{run_intake, start_sim};
use intake_zendesk_sim::{SimConfig, SimHandle};
use serde_json::{Value, json};

const TIMEOUT: Duration = Duration::from_secs(60);

const MAIL: &str = "From: Ann Customer <ann@customer.test>\r\n\
To: help@acme.test\r\n\
Subject: Invoice question\r\n\
Message-ID: <explain-1@customer.test>\r\n\
Date: Fri, 04 Dec 2026 17:57:00 +0300\r\n\
\r\n\
Hello, where is my invoice?\r\n";

/// A chat event as the gateway publishes it, received Friday 17:57 Moscow.
fn chat_event(visitor: &str) -> Value {
    let contact = intake_event::Contact {
        key: format!("chat:{visitor}"),
        name: Some("Visitor".to_owned()),
        ..intake_event::Contact::default()
    };
    let received = chrono::DateTime::parse_from_rfc3339("2026-12-04T14:57:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut event = intake_event::TicketEvent::new(
        "chat",
        "m-explain-1",
        contact,
        "my order is late",
        received,
    );
    event.conversation.thread_id = Some("th-explain".to_owned());
    serde_json::from_slice(&event.to_json()).unwrap()
}

struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A config with chat on, the simulator as Zendesk, and `extra`.
    fn config(&self, sim: Option<&SimHandle>, extra: &str) -> PathBuf {
        let token = self.write("zendesk-token", "sim-token");
        let zendesk = match sim {
            Some(sim) => format!(
                "[zendesk]\nbase_url = \"{}\"\nemail = \"agent@intake-sim.test\"\napi_token_file = {:?}\nmax_attempts = 1\n",
                sim.base_url,
                token.display().to_string()
            ),
            None => String::new(),
        };
        let text = format!(
            "{zendesk}[channels.chat]\nenabled = true\npriority = \"high\"\ngroup_id = {group}\n{extra}",
            group = sim.map_or(7, |s| s.state().default_group_id()),
        );
        self.write("intake.toml", &text)
    }
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

async fn explain(args: &[&str]) -> String {
    let mut all = vec!["route-explain"];
    all.extend_from_slice(args);
    let out = run_intake(&all, TIMEOUT).await;
    assert_eq!(out.code, Some(0), "{out:?}");
    out.stdout
}

#[tokio::test]
async fn a_raw_mail_is_normalised_and_its_policy_and_deadline_shown_offline() {
    let files = Files::new();
    let config = files.config(None, "");
    let mail = files.write("invoice.eml", MAIL);
    let out = explain(&[
        "--offline",
        "-c",
        &arg(&config),
        "--received-at",
        "2026-12-04T14:57:00Z",
        &arg(&mail),
    ])
    .await;
    assert!(
        out.contains("on channel email from email:ann@customer.test"),
        "{out}"
    );
    // Only chat is enabled here: the explanation says the router would not take the mail.
    assert!(
        out.contains(
            "channel priority: email is not consumed by the router (enabled channels: chat)"
        ),
        "{out}"
    );
    assert!(
        out.contains("ticket priority: normal; usual group: none"),
        "{out}"
    );
    // The seeds: 12 working hours from Friday 17:57 Moscow is Tuesday 13:57.
    assert!(
        out.contains("sla: policy email on calendar default, answer deadline 2026-12-08 10:57 UTC"),
        "{out}"
    );
    assert!(
        out.contains("department (rule 6): none of 0 rule(s) matches"),
        "{out}"
    );
    assert!(out.contains("original agent (rule 4): off"), "{out}");
}

#[tokio::test]
async fn a_json_chat_event_shows_its_priority_group_and_deadline_offline() {
    let files = Files::new();
    let config = files.config(None, "[rulebook.original_agent]\nenabled = true\n");
    let event = files.write("event.json", &chat_event("v1").to_string());
    let out = explain(&["--offline", "-c", &arg(&config), &arg(&event)]).await;
    assert!(
        out.contains("channel priority: 1 of 1 in the router's order (chat)"),
        "{out}"
    );
    assert!(
        out.contains("ticket priority: high; usual group: 7"),
        "{out}"
    );
    assert!(
        out.contains("sla: policy chat on calendar default, answer deadline 2026-12-07 07:02 UTC"),
        "{out}"
    );
    assert!(
        out.contains("original agent (rule 4): on, calendar wins"),
        "{out}"
    );
    assert!(
        out.contains("not checked: --offline makes no Zendesk reads"),
        "{out}"
    );
}

/// A requester `chat:v1` whose solved ticket agent X handled; returns X.
async fn requester_with_earlier_agent(sim: &SimHandle) -> (u64, u64) {
    let state = sim.state();
    let x = state.create_user("Xenia Original", "xenia@sim.test", "agent");
    let s = state.create_user("Semyon Substitute", "semyon@sim.test", "agent");
    for agent in [x, s] {
        state.add_membership(agent, state.default_group_id());
    }
    let http = reqwest::Client::new();
    let auth = ("agent@intake-sim.test/token", Some("sim-token"));
    let user: Value = http
        .post(format!("{}/api/v2/users/create_or_update", sim.base_url))
        .basic_auth(auth.0, auth.1)
        .json(&json!({"user": {"name": "Visitor", "external_id": "chat:v1"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let requester = user["user"]["id"].as_u64().unwrap();
    let ticket: Value = http
        .post(format!("{}/api/v2/tickets", sim.base_url))
        .basic_auth(auth.0, auth.1)
        .json(
            &json!({"ticket": {"subject": "late order", "comment": {"body": "late"},
            "requester_id": requester, "assignee_id": x}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = ticket["ticket"]["id"].as_u64().unwrap();
    assert!(state.set_ticket_status(id, "solved"));
    (x, s)
}

/// The simulator's request log: (method, path) of every API call.
fn api_calls(sim: &SimHandle) -> Vec<(String, String)> {
    sim.state()
        .requests()
        .into_iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .filter(|(_, path)| path.starts_with("/api/"))
        .collect()
}

#[tokio::test]
async fn an_available_original_agent_is_explained_from_zendesk_reads_only() {
    let sim = start_sim(SimConfig::default()).await;
    let (x, _) = requester_with_earlier_agent(&sim).await;
    let before = api_calls(&sim).len();
    let tickets_before = sim.state().tickets().len();
    let files = Files::new();
    let config = files.config(Some(&sim), "[rulebook.original_agent]\nenabled = true\n");
    let event = files.write("event.json", &chat_event("v1").to_string());
    let out = explain(&["-c", &arg(&config), &arg(&event)]).await;
    assert!(
        out.contains(&format!("agent {x} handled ticket #")),
        "{out}"
    );
    assert!(out.contains("Zendesk status: online"), "{out}");
    assert!(out.contains("available → Xenia Original"), "{out}");
    assert!(
        out.contains(&format!(
            "decision: assignee {x}, tags [intake_rule_original_agent]"
        )),
        "{out}"
    );
    let calls = api_calls(&sim);
    let explained = &calls[before..];
    assert!(!explained.is_empty(), "it read Zendesk");
    assert!(
        explained.iter().all(|(method, _)| method == "GET"),
        "only reads: {explained:?}"
    );
    assert_eq!(
        sim.state().tickets().len(),
        tickets_before,
        "no ticket made"
    );
}

#[tokio::test]
async fn an_absent_agent_past_the_deadline_is_explained_with_the_substitute() {
    let sim = start_sim(SimConfig::default()).await;
    let (x, s) = requester_with_earlier_agent(&sim).await;
    let files = Files::new();
    let now = chrono::Utc::now();
    let absences = files.write(
        "absences.toml",
        &format!(
            "[[absence]]\nagent_id = {x}\nfrom = \"{}\"\nto = \"{}\"\nreason = \"vacation\"\nsubstitute_id = {s}\n",
            (now - chrono::Duration::days(1)).to_rfc3339(),
            (now + chrono::Duration::days(30)).to_rfc3339(),
        ),
    );
    let config = files.config(
        Some(&sim),
        &format!(
            "[rulebook.original_agent]\nenabled = true\nabsence_file = {:?}\n",
            arg(&absences)
        ),
    );
    // Received now, so the absence covers it.
    let mut event = chat_event("v1");
    event["received_at"] = json!(now.to_rfc3339());
    let event = files.write("event.json", &event.to_string());
    let out = explain(&["-c", &arg(&config), &arg(&event)]).await;
    assert!(out.contains("absence calendar: on vacation"), "{out}");
    assert!(out.contains("cannot wait"), "{out}");
    assert!(
        out.contains(&format!("→ substitute Semyon Substitute (#{s})")),
        "{out}"
    );
    assert!(
        out.contains("intake_rule_original_agent_substitute"),
        "{out}"
    );
}

#[tokio::test]
async fn an_unknown_requester_has_no_earlier_agent() {
    let sim = start_sim(SimConfig::default()).await;
    let files = Files::new();
    let config = files.config(Some(&sim), "[rulebook.original_agent]\nenabled = true\n");
    let event = files.write("event.json", &chat_event("nobody").to_string());
    let out = explain(&["-c", &arg(&config), &arg(&event)]).await;
    assert!(out.contains("no Zendesk user for chat:nobody yet"), "{out}");
    assert!(
        sim.state()
            .users()
            .iter()
            .all(|u| u["external_id"] != "chat:nobody"),
        "no user made"
    );
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_help_tells_what_it_does() {
    let files = Files::new();
    let config = files.config(None, "");
    let junk = files.write("junk.txt", "\u{0}\u{1} not a mail");
    let out = run_intake(
        &[
            "route-explain",
            "--offline",
            "-c",
            &arg(&config),
            &arg(&junk),
        ],
        TIMEOUT,
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(
        out.stderr
            .contains("neither a ticket event (JSON) nor a readable mail"),
        "{out:?}"
    );
    let bad_json = files.write("bad.json", "{\"schema\": 1}");
    let out = run_intake(
        &[
            "route-explain",
            "--offline",
            "-c",
            &arg(&config),
            &arg(&bad_json),
        ],
        TIMEOUT,
    )
    .await;
    assert_eq!(out.code, Some(1), "{out:?}");
    assert!(out.stderr.contains("not a ticket event"), "{out:?}");
    let help = run_intake(&["route-explain", "--help"], TIMEOUT).await;
    assert_eq!(help.code, Some(0));
    assert!(
        help.stdout.contains("without changing anything"),
        "{help:?}"
    );
    assert!(help.stdout.contains("--offline"), "{help:?}");
}

#[tokio::test]
async fn a_department_rule_that_matches_is_named_with_why_and_rule_4_is_not_asked() {
    let files = Files::new();
    let config = files.config(
        None,
        "[rulebook.original_agent]\nenabled = true\n\
         [[rulebook.departments]]\nname = \"billing\"\ngroup_id = 5\nchannels = [\"email\"]\n\
         [[rulebook.departments]]\nname = \"sales\"\ngroup_id = 6\npatterns = [\"(?i)\\\\border\\\\b\"]\n",
    );
    let event = files.write("event.json", &chat_event("v1").to_string());
    let out = explain(&["--offline", "-c", &arg(&config), &arg(&event)]).await;
    assert!(
        out.contains(r"department (rule 6): rule 2 of 2, sales: pattern /(?i)\border\b/ in the text → group 6"),
        "{out}"
    );
    assert!(
        out.contains("tags [intake_rule_department, intake_department_sales]"),
        "{out}"
    );
    assert!(out.contains("original agent (rule 4): not asked"), "{out}");
    let mail = files.write("printer.eml", &MAIL.replace("invoice", "printer"));
    let out = explain(&["--offline", "-c", &arg(&config), &arg(&mail)]).await;
    assert!(
        out.contains("rule 1 of 2, billing: channel email"),
        "first match wins: {out}"
    );
}

/// A raw mail is read as the configured account it came to reads it: its
/// own ticket token format (here `[Acme-{ticket}]`), not the default `[#…]`.
#[tokio::test]
async fn a_raw_mail_is_read_with_the_configured_accounts_ticket_token() {
    let files = Files::new();
    let password = files.write("imap-password", "not-used-offline");
    let config = files.config(
        None,
        &format!(
            "[channels.email]\nenabled = true\nticket_token = \"[Acme-{{ticket}}]\"\n\
             [[channels.email.accounts]]\nname = \"help\"\naddress = \"help@acme.test\"\n\
             [channels.email.accounts.imap]\nhost = \"127.0.0.1\"\nport = 1143\ntls = \"none\"\n\
             username = \"help\"\npassword_file = {:?}\n",
            password.display().to_string()
        ),
    );
    let mail = files.write(
        "follow-up.eml",
        &MAIL.replace(
            "Subject: Invoice question",
            "Subject: Re: [Acme-4711] Invoice question",
        ),
    );
    let args = |extra: &[&'static str]| {
        let mut all = vec!["--offline".to_owned(), "-c".to_owned(), arg(&config)];
        all.extend(extra.iter().map(|a| (*a).to_owned()));
        all.push(arg(&mail));
        all
    };
    let configured = args(&[]);
    let out = explain(&configured.iter().map(String::as_str).collect::<Vec<_>>()).await;
    assert!(
        out.contains("thread: the subject names ticket #4711; added there only when"),
        "{out}"
    );
    // The same subject under the default token format names no ticket.
    let default_token = MAIL.replace(
        "Subject: Invoice question",
        "Subject: Re: [#4711] Invoice question",
    );
    let plain = files.write("plain.eml", &default_token);
    let out = explain(&["--offline", "-c", &arg(&config), &arg(&plain)]).await;
    assert!(!out.contains("thread: the subject names"), "{out}");
}
