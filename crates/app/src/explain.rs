//! `intake route-explain`: which rule of each kind would fire for an event
//! (a ticket event as JSON, or a raw mail normalised by the email channel)
//! and why. Nothing that changes state is called: the Zendesk reads are
//! GETs (the requester by external id or e-mail, their tickets, the agent,
//! groups, availability); `--offline` makes none.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Utc};
use intake_calendar::{Priority, SlaPolicies};
use intake_channel_email::config::EmailConfig;
use intake_channel_email::normalise::{Limits, Mailbox};
use intake_config::{Config, TicketPriority};
use intake_event::TicketEvent;
use intake_router::LivePolicies;
use intake_rulebook::{Request, Rulebook};

/// What `route-explain` was asked.
#[derive(Debug, Clone)]
pub struct ExplainOptions {
    pub config: Option<PathBuf>,
    /// A ticket event (JSON) or a raw mail (RFC 5322).
    pub input: PathBuf,
    /// No Zendesk reads at all.
    pub offline: bool,
    /// The Zendesk requester, instead of looking it up.
    pub requester_id: Option<u64>,
    /// When a raw mail was received (default: now).
    pub received_at: Option<DateTime<Utc>>,
    /// The support address a raw mail came to; default: the first account of
    /// `[channels.email]`, else `help@localhost`.
    pub mailbox: Option<String>,
}

/// Prints the explanation; exit 0, or an error for an unreadable input.
pub async fn route_explain(options: ExplainOptions) -> anyhow::Result<ExitCode> {
    let needs = intake_config::Needs {
        router: !options.offline,
        gateway: false,
    };
    let config = match crate::load_config(options.config.as_deref(), needs) {
        Ok(config) => config,
        Err(code) => return Ok(code),
    };
    let raw = std::fs::read(&options.input)
        .with_context(|| format!("cannot read {}", options.input.display()))?;
    let event = read_event(&raw, &config, &options)?;
    for line in explain(&config, &event, &options).await? {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// A ticket event from JSON, else a raw mail through the email normaliser,
/// read as the configured account it came to would read it.
fn read_event(
    raw: &[u8],
    config: &Config,
    options: &ExplainOptions,
) -> anyhow::Result<TicketEvent> {
    let looks_like_json = raw
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if looks_like_json {
        return TicketEvent::from_json(raw).context("the file is JSON but not a ticket event");
    }
    let mailbox = mailbox(config, options.mailbox.as_deref());
    let received_at = options.received_at.unwrap_or_else(Utc::now);
    let normalised = intake_channel_email::normalise(raw, &mailbox, received_at)
        .context("the file is neither a ticket event (JSON) nor a readable mail")?;
    Ok(normalised.event)
}

/// The mailbox a raw mail is read as: the configured account with the
/// address `wanted` (or the first account when none is asked for), with
/// its aliases, ticket token and trusted `authserv-id`s; an address no
/// account has gets the section's defaults. Attachment limits are lifted:
/// the explanation is about routing, not about what intake would keep.
fn mailbox(config: &Config, wanted: Option<&str>) -> Mailbox {
    let wanted = wanted.map(|address| address.trim().to_lowercase());
    let email = config
        .channels
        .options_of(intake_channel_email::CHANNEL)
        .and_then(|options| options.downcast_ref::<EmailConfig>());
    let account = email.and_then(|email| {
        email.accounts.iter().find(|account| match &wanted {
            Some(address) => account.address == *address,
            None => true,
        })
    });
    let mut mailbox = match (account, email) {
        (Some(account), Some(email)) => {
            Mailbox::of_account(account, email.trusted_authserv_ids.clone())
        }
        _ => Mailbox {
            address: wanted.unwrap_or_else(|| "help@localhost".to_owned()),
            aliases: Vec::new(),
            limits: Limits {
                max_attachment_bytes: 0,
                max_attachments: 0,
            },
            trusted_authserv_ids: email
                .map(|email| email.trusted_authserv_ids.clone())
                .unwrap_or_default(),
            ticket_token: email
                .and_then(|email| email.accounts.first())
                .map(|account| account.ticket_token.clone())
                .unwrap_or_default(),
        },
    };
    mailbox.limits = Limits {
        max_attachment_bytes: u64::MAX,
        max_attachments: usize::MAX,
    };
    mailbox
}

async fn explain(
    config: &Config,
    event: &TicketEvent,
    options: &ExplainOptions,
) -> anyhow::Result<Vec<String>> {
    let mut out = vec![format!(
        "event {} on channel {} from {}, received {}",
        event.event_id,
        event.channel,
        event.contact.key,
        intake_rulebook::when(Some(event.received_at))
    )];
    if let Some(ticket) = event.conversation.ticket_token {
        out.push(format!(
            "thread: the subject names ticket #{ticket}; added there only when the sender is \
             its requester or a CC"
        ));
    }
    let channels = config.router_channels();
    let routing = config.channels.routing(&event.channel);
    let place = channels.iter().position(|c| *c == event.channel);
    out.push(match place {
        Some(index) => format!(
            "channel priority: {} of {} in the router's order ({})",
            index + 1,
            channels.len(),
            channels.join(" > ")
        ),
        None => format!(
            "channel priority: {} is not consumed by the router (enabled channels: {})",
            event.channel,
            channels.join(", ")
        ),
    });
    let priority = routing.as_ref().map(|r| r.priority);
    let group_id = routing.as_ref().and_then(|r| r.group_id);
    out.push(format!(
        "ticket priority: {}; usual group: {}",
        priority.map_or("none".to_owned(), |p| format!("{p:?}").to_lowercase()),
        group_id.map_or("none (Zendesk's default)".to_owned(), |g| g.to_string())
    ));
    let sla = &config.working_time.sla;
    let deadline = deadline_line(sla, event, priority.map(calendar_priority), &mut out);
    let departments = &config.rulebook.departments;
    if let Some(hit) = intake_rulebook::first_match(departments, event) {
        out.push(format!(
            "department (rule 6): rule {} of {}, {}: {} → group {}, tags [{}, {}{}], Slack {}, \
             outcome routed_to_department (the customer is told it was passed on)",
            hit.index + 1,
            departments.len(),
            hit.rule.name,
            hit.why,
            hit.rule.group_id,
            intake_rulebook::TAG_DEPARTMENT,
            intake_rulebook::DEPARTMENT_TAG_PREFIX,
            hit.rule.name,
            hit.rule.slack.as_ref().map_or("none", |s| s.kind()),
        ));
        out.push(
            "original agent (rule 4): not asked, the request is for another department".into(),
        );
        return Ok(out);
    }
    out.push(format!(
        "department (rule 6): none of {} rule(s) matches; support handles it",
        departments.len()
    ));
    out.extend(original_agent(config, event, group_id, deadline, options).await?);
    Ok(out)
}

fn deadline_line(
    sla: &SlaPolicies,
    event: &TicketEvent,
    priority: Option<Priority>,
    out: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    match sla.first_response_deadline(&event.channel, priority, event.received_at) {
        Ok(deadline) => {
            out.push(format!(
                "sla: policy {} on calendar {}, answer deadline {} (tag intake_sla_{})",
                deadline.policy,
                deadline.calendar,
                intake_rulebook::when(Some(deadline.due_at)),
                deadline.policy
            ));
            Some(deadline.due_at)
        }
        Err(error) => {
            out.push(format!("sla: no deadline ({error})"));
            None
        }
    }
}

async fn original_agent(
    config: &Config,
    event: &TicketEvent,
    group_id: Option<u64>,
    deadline: Option<DateTime<Utc>>,
    options: &ExplainOptions,
) -> anyhow::Result<Vec<String>> {
    let rule4 = &config.rulebook.original_agent;
    let mut out = Vec::new();
    if !rule4.enabled {
        out.push("original agent (rule 4): off ([rulebook.original_agent] enabled = false)".into());
        return Ok(out);
    }
    // The iCalendar absences are read once here (the router reads them
    // every refresh_secs); a read changes nothing.
    let ical = match rule4.absences.feed().filter(|_| !options.offline) {
        Some(feed) => {
            let outcome = feed.refresh_once(&intake_rulebook::feed_client(feed)).await;
            Some(format!(
                "  absence calendar {}: read {}",
                feed.options().location.redacted(),
                outcome.as_str()
            ))
        }
        None => None,
    };
    out.push(format!(
        "original agent (rule 4): on, {} wins when sources disagree, {} planned absence(s)",
        rule4.prefer.as_str(),
        rule4.absences.len()
    ));
    out.extend(ical);
    if options.offline {
        out.push("  not checked: --offline makes no Zendesk reads".into());
        return Ok(out);
    }
    let zendesk = crate::service::zendesk_client(config)?;
    let requester_id = match options.requester_id {
        Some(id) => Some(id),
        None => find_requester(&zendesk, event).await?,
    };
    let Some(requester_id) = requester_id else {
        out.push(format!(
            "  no Zendesk user for {} yet: a new requester has no earlier agent",
            event.contact.key
        ));
        return Ok(out);
    };
    out.push(format!("  requester: Zendesk user {requester_id}"));
    let rulebook = Rulebook::new(
        config.rulebook.clone(),
        Arc::new(zendesk),
        LivePolicies::new(config.working_time.sla.clone()),
    );
    let request = Request {
        event,
        requester_id: Some(requester_id),
        channel_group_id: group_id,
        deadline,
    };
    let decision = rulebook.decide(&request).await;
    for explained in &decision.explain {
        out.extend(explained.lines.iter().map(|line| format!("  {line}")));
    }
    out.push(format!(
        "  decision: assignee {}, tags [{}]",
        decision
            .assignee_id
            .map_or("none (usual routing)".to_owned(), |id| id.to_string()),
        decision.tags.join(", ")
    ));
    if let Some(note) = &decision.note {
        out.push(format!("  internal note: {note}"));
    }
    Ok(out)
}

/// The contact's Zendesk user, found the way the router would meet it:
/// by e-mail for a verified address, else by external id. Reads only.
async fn find_requester(
    zendesk: &intake_zendesk::Client,
    event: &TicketEvent,
) -> anyhow::Result<Option<u64>> {
    let contact = &event.contact;
    if contact.verified
        && let Some(email) = contact.email.as_deref().filter(|e| !e.trim().is_empty())
    {
        let users = zendesk
            .search_users(&format!("email:{}", email.trim()))
            .await
            .context("looking up the requester by e-mail")?;
        return Ok(users.first().map(|u| u.id));
    }
    let user = zendesk
        .user_by_external_id(contact.key.trim())
        .await
        .context("looking up the requester by external id")?;
    Ok(user.map(|u| u.id))
}

fn calendar_priority(priority: TicketPriority) -> Priority {
    match priority {
        TicketPriority::Urgent => Priority::Urgent,
        TicketPriority::High => Priority::High,
        TicketPriority::Normal => Priority::Normal,
        TicketPriority::Low => Priority::Low,
    }
}
