//! Rule 4 with its reads: the original agent unless away and the request
//! cannot wait; then the substitute, else usual routing, with a note.

use chrono::{DateTime, Utc};
use intake_zendesk::User;

use crate::absence::Absence;
use crate::events::{ReadSource, Rule4Outcome, SourceFailed};
use crate::original::{Earlier, can_wait, earlier_ticket};
use crate::presence::{Presence, Report, Signal, Source, combine, when};
use crate::{Request, Rulebook, TAG_ORIGINAL_AGENT, TAG_SKIPPED, TAG_SUBSTITUTE};

/// Rule 4's answer for one ticket.
pub(crate) struct Rule4 {
    pub(crate) outcome: Rule4Outcome,
    pub(crate) assignee_id: Option<u64>,
    pub(crate) tag: Option<&'static str>,
    pub(crate) note: Option<String>,
    pub(crate) lines: Vec<String>,
}

impl Rule4 {
    fn none(lines: Vec<String>) -> Self {
        Self {
            outcome: Rule4Outcome::None,
            assignee_id: None,
            tag: None,
            note: None,
            lines,
        }
    }
}

const NOTE_PREFIX: &str = "Rulebook, rule 4 (original agent)";

/// An agent that can take tickets, or why not.
enum Eligible {
    Yes(String),
    No(String),
}

impl Rulebook {
    pub(crate) async fn original_agent(&self, request: &Request<'_>) -> Rule4 {
        let options = &self.options.original_agent;
        if !options.enabled {
            return Rule4::none(vec![
                "off ([rulebook.original_agent] enabled = false)".into(),
            ]);
        }
        let Some(requester_id) = request.requester_id else {
            return Rule4::none(vec!["no Zendesk requester known (offline)".into()]);
        };
        let at = request.event.received_at;
        let tickets = match self.directory.requested_tickets(requester_id).await {
            Ok(tickets) => tickets,
            Err(error) => {
                SourceFailed {
                    source: ReadSource::RequestedTickets,
                    error: &error,
                }
                .emit();
                return Rule4::none(vec![format!(
                    "the requester's tickets could not be read ({error}); routed as usual"
                )]);
            }
        };
        let Some(earlier) = earlier_ticket(&tickets, at, options.recent_window) else {
            return Rule4::none(vec![format!(
                "no open or recently solved (within {} h) ticket of requester {requester_id} with an assignee",
                options.recent_window.as_secs() / 3600
            )]);
        };
        let mut lines = vec![format!(
            "agent {} handled ticket #{} ({})",
            earlier.agent_id,
            earlier.ticket_id,
            if earlier.open {
                "open"
            } else {
                "recently solved"
            }
        )];
        let name = match self
            .eligible(earlier.agent_id, request.channel_group_id)
            .await
        {
            Eligible::Yes(name) => name,
            Eligible::No(why) => {
                lines.push(format!("skipped: {why}"));
                let note = format!(
                    "{NOTE_PREFIX}: agent #{agent} who handled ticket #{ticket} was skipped \
                     ({why}); routed as usual.",
                    agent = earlier.agent_id,
                    ticket = earlier.ticket_id,
                );
                return self.usual(lines, note);
            }
        };
        let original = format!("{name} (#{})", earlier.agent_id);
        let (presence, reports) = self.presence(earlier.agent_id, at).await;
        lines.extend(reports.iter().map(Report::describe));
        let sources = reports
            .iter()
            .map(Report::describe)
            .collect::<Vec<_>>()
            .join("; ");
        let deadline = request.deadline;
        let (reason, until) = match presence {
            Presence::Available => {
                lines.push(format!("available → {original}"));
                return self.assign(
                    earlier,
                    Rule4Outcome::Original,
                    lines,
                    format!(
                        "{NOTE_PREFIX}: assigned to {original}, who handled ticket #{} \
                         and is available ({sources}).",
                        earlier.ticket_id
                    ),
                );
            }
            Presence::Away {
                source,
                reason,
                until,
            } => (format!("{reason} ({})", source.describe()), until),
        };
        if can_wait(until, deadline) {
            lines.push(format!(
                "away ({reason}) but back {} by the deadline {} → {original}",
                when(until),
                when(deadline)
            ));
            return self.assign(
                earlier,
                Rule4Outcome::Original,
                lines,
                format!(
                    "{NOTE_PREFIX}: assigned to {original}, who handled ticket #{}: away \
                     ({reason}) but back {}, before this ticket's answer deadline {} \
                     ({sources}).",
                    earlier.ticket_id,
                    when(until),
                    when(deadline)
                ),
            );
        }
        let why = format!(
            "{original}, who handled ticket #{}, is away ({reason}) and back {}, after this \
             ticket's answer deadline {}",
            earlier.ticket_id,
            when(until),
            when(deadline)
        );
        lines.push(format!(
            "cannot wait: back {} after the deadline {}",
            when(until),
            when(deadline)
        ));
        let substitute = self
            .absence(earlier.agent_id, at)
            .await
            .and_then(|absence| absence.substitute_id);
        if let Some(substitute_id) = substitute {
            match self.substitute_ready(substitute_id, request, at).await {
                Ok(substitute_name) => {
                    lines.push(format!("→ substitute {substitute_name} (#{substitute_id})"));
                    let note = format!(
                        "{NOTE_PREFIX}: {why}. Handed over to the substitute \
                         {substitute_name} (#{substitute_id}); {sources}."
                    );
                    return Rule4 {
                        outcome: Rule4Outcome::Substitute,
                        assignee_id: Some(substitute_id),
                        tag: Some(TAG_SUBSTITUTE),
                        note: Some(note),
                        lines,
                    };
                }
                Err(not_ready) => {
                    lines.push(format!(
                        "substitute #{substitute_id} not taken: {not_ready}"
                    ));
                    let note = format!(
                        "{NOTE_PREFIX}: {why}. The substitute #{substitute_id} is not \
                         available either ({not_ready}); routed as usual. {sources}."
                    );
                    return self.usual(lines, note);
                }
            }
        }
        lines.push("no substitute named → usual routing".into());
        let note =
            format!("{NOTE_PREFIX}: {why}. No substitute named; routed as usual. {sources}.");
        self.usual(lines, note)
    }

    fn assign(
        &self,
        earlier: Earlier,
        outcome: Rule4Outcome,
        lines: Vec<String>,
        note: String,
    ) -> Rule4 {
        Rule4 {
            outcome,
            assignee_id: Some(earlier.agent_id),
            tag: Some(TAG_ORIGINAL_AGENT),
            note: Some(note),
            lines,
        }
    }

    fn usual(&self, mut lines: Vec<String>, note: String) -> Rule4 {
        lines.push("routed as usual (channel group)".into());
        Rule4 {
            outcome: Rule4Outcome::Usual,
            assignee_id: None,
            tag: Some(TAG_SKIPPED),
            note: Some(note),
            lines,
        }
    }

    /// Whether the agent can take tickets of the channel's group: still in
    /// Zendesk, an agent, not suspended, a member of the group.
    async fn eligible(&self, agent_id: u64, group_id: Option<u64>) -> Eligible {
        let user: User = match self.directory.user(agent_id).await {
            Ok(Some(user)) => user,
            Ok(None) => return Eligible::No("no longer in Zendesk".into()),
            Err(error) => {
                SourceFailed {
                    source: ReadSource::User,
                    error: &error,
                }
                .emit();
                return Eligible::No(format!("could not be read: {error}"));
            }
        };
        if user.suspended {
            return Eligible::No("suspended in Zendesk".into());
        }
        if !matches!(user.role.as_deref(), Some("agent" | "admin")) {
            return Eligible::No("no longer an agent".into());
        }
        if let Some(group_id) = group_id {
            match self.directory.group_ids(agent_id).await {
                Ok(groups) if groups.contains(&group_id) => {}
                Ok(_) => {
                    return Eligible::No(format!("no longer in the channel's group {group_id}"));
                }
                Err(error) => {
                    SourceFailed {
                        source: ReadSource::Groups,
                        error: &error,
                    }
                    .emit();
                    return Eligible::No(format!("group membership could not be read: {error}"));
                }
            }
        }
        Eligible::Yes(user.name.unwrap_or_else(|| format!("agent {agent_id}")))
    }

    /// A substitute is taken when eligible and available now.
    async fn substitute_ready(
        &self,
        substitute_id: u64,
        request: &Request<'_>,
        at: DateTime<Utc>,
    ) -> Result<String, String> {
        let name = match self.eligible(substitute_id, request.channel_group_id).await {
            Eligible::Yes(name) => name,
            Eligible::No(why) => return Err(why),
        };
        match self.presence(substitute_id, at).await {
            (Presence::Available, _) => Ok(name),
            (Presence::Away { source, reason, .. }, _) => {
                Err(format!("{reason} ({})", source.describe()))
            }
        }
    }

    /// The agent's planned absence at `at`. Their Zendesk e-mail is read
    /// only when some iCalendar absence names its agent by address.
    async fn absence(&self, agent_id: u64, at: DateTime<Utc>) -> Option<Absence> {
        let absences = &self.options.original_agent.absences;
        let email = if absences.names_agents_by_email() {
            match self.directory.user(agent_id).await {
                Ok(user) => user.and_then(|u| u.email),
                Err(error) => {
                    SourceFailed {
                        source: ReadSource::User,
                        error: &error,
                    }
                    .emit();
                    None
                }
            }
        } else {
            None
        };
        absences.covering(agent_id, email.as_deref(), at)
    }

    /// The three sources' reports and the verdict under the configured
    /// preference; the return is moved to the agent's next working hour.
    pub(crate) async fn presence(
        &self,
        agent_id: u64,
        at: DateTime<Utc>,
    ) -> (Presence, Vec<Report>) {
        let options = &self.options.original_agent;
        let policies = self.calendars.current();
        let calendar = options
            .agent_calendars
            .get(&agent_id)
            .and_then(|name| policies.calendars().get(name).cloned());
        let mut reports = vec![self.zendesk_report(agent_id, at).await];
        reports.push(Report {
            source: Source::Absence,
            signal: match self.absence(agent_id, at).await {
                Some(absence) => Signal::Away {
                    reason: absence.reason.describe().to_owned(),
                    until: Some(absence.to),
                },
                None => Signal::Silent("no planned absence".into()),
            },
        });
        reports.push(Report {
            source: Source::WorkingHours,
            signal: match &calendar {
                None => Signal::Silent("no calendar set for the agent".into()),
                Some(calendar) if calendar.is_open(at) => {
                    Signal::Available(format!("within the hours of calendar {}", calendar.name()))
                }
                Some(calendar) => Signal::Away {
                    reason: format!("outside the hours of calendar {}", calendar.name()),
                    until: calendar.next_opening(at).ok(),
                },
            },
        });
        let presence = match combine(options.prefer, &reports) {
            Presence::Away {
                source,
                reason,
                until: Some(until),
            } => Presence::Away {
                source,
                reason,
                until: calendar
                    .as_ref()
                    .map_or(Some(until), |c| c.next_opening(until).ok()),
            },
            other => other,
        };
        (presence, reports)
    }

    async fn zendesk_report(&self, agent_id: u64, at: DateTime<Utc>) -> Report {
        let options = &self.options.original_agent;
        let signal = match self.directory.availability(agent_id).await {
            Ok(None) => Signal::Silent("no agent status (omnichannel routing off)".into()),
            Err(error) => {
                SourceFailed {
                    source: ReadSource::Availability,
                    error: &error,
                }
                .emit();
                Signal::Silent(format!("status could not be read ({error})"))
            }
            Ok(Some(availability)) => {
                let status = availability.status.to_lowercase();
                if options.available_statuses.contains(&status) {
                    Signal::Available(status)
                } else {
                    let until = options.status_away.get(&status).map(|typical| {
                        let since = availability.updated_at.unwrap_or(at);
                        (since + chrono::Duration::from_std(*typical).unwrap_or_default()).max(at)
                    });
                    Signal::Away {
                        reason: format!("status {}", availability.status),
                        until,
                    }
                }
            }
        };
        Report {
            source: Source::Zendesk,
            signal,
        }
    }
}
