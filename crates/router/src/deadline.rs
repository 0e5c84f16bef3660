//! The first-response deadline of a new ticket: computed once per event from
//! its `received_at` (so a replay computes the same one), written on the
//! ticket as a tag and, when configured, a custom field, and carried by the
//! outcome.

use chrono::SecondsFormat;
use intake_calendar::{Deadline, Priority, SlaError, SlaPolicies};
use intake_event::{AnswerDeadline, TicketEvent};
use intake_zendesk::CustomField;

use crate::options::ChannelRoute;
use crate::telemetry::DeadlineFailed;

/// Prefix of the tag naming the SLA policy of a new ticket (`intake_sla_chat`).
pub const SLA_TAG_PREFIX: &str = "intake_sla_";

/// The deadline of `event` on `route`'s channel; None when no policy covers
/// the channel (switched off in `[sla]`) or the calendar cannot give one
/// (logged and counted).
pub fn for_event(sla: &SlaPolicies, route: &ChannelRoute, event: &TicketEvent) -> Option<Deadline> {
    let priority = route.priority.map(calendar_priority);
    // A ticket Zendesk created itself counts by its `via` channel (`native.rs`).
    let channel = crate::native::policy_channel(event).unwrap_or(&route.name);
    match sla.first_response_deadline(channel, priority, event.received_at) {
        Ok(deadline) => Some(deadline),
        Err(SlaError::NoPolicy { .. }) => None,
        Err(error) => {
            DeadlineFailed {
                channel: &route.name,
                event_id: &event.event_id.to_string(),
                error: &error.to_string(),
            }
            .emit();
            None
        }
    }
}

/// The tag naming the policy.
pub fn tag(deadline: &Deadline) -> String {
    format!("{SLA_TAG_PREFIX}{}", deadline.policy)
}

/// The custom field value: RFC 3339 in UTC with a `Z`, so a text field
/// sorts by time.
pub fn field(field_id: u64, deadline: &Deadline) -> CustomField {
    CustomField {
        id: field_id,
        value: deadline
            .due_at
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .into(),
    }
}

/// The deadline as the outcome carries it.
pub fn on_outcome(deadline: &Deadline) -> AnswerDeadline {
    AnswerDeadline {
        due_at: deadline.due_at,
        policy: deadline.policy.clone(),
        calendar: deadline.calendar.clone(),
    }
}

fn calendar_priority(priority: intake_zendesk::Priority) -> Priority {
    match priority {
        intake_zendesk::Priority::Urgent => Priority::Urgent,
        intake_zendesk::Priority::High => Priority::High,
        intake_zendesk::Priority::Normal => Priority::Normal,
        intake_zendesk::Priority::Low => Priority::Low,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use intake_event::Contact;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn event(channel: &str, received_at: &str) -> TicketEvent {
        let contact = Contact {
            key: format!("{channel}:v1"),
            ..Contact::default()
        };
        TicketEvent::new(channel, "m1", contact, "hi", at(received_at))
    }

    #[test]
    fn seeds_policies_give_the_golden_deadlines() {
        let sla = crate::options::default_sla();
        let chat = for_event(
            &sla,
            &ChannelRoute::new("chat"),
            &event("chat", "2026-12-04T17:57:00+03:00"),
        )
        .unwrap();
        assert_eq!(chat.due_at, at("2026-12-07T10:02:00+03:00"));
        assert_eq!(chat.policy, "chat");
        assert_eq!(tag(&chat), "intake_sla_chat");
        assert_eq!(field(7, &chat).value, "2026-12-07T07:02:00Z");
        let mail = for_event(
            &sla,
            &ChannelRoute::new("email"),
            &event("email", "2026-12-04T17:57:00+03:00"),
        )
        .unwrap();
        assert_eq!(mail.due_at, at("2026-12-08T13:57:00+03:00"));
    }

    #[test]
    fn a_channel_without_a_policy_has_no_deadline() {
        let sla = SlaPolicies::new(Vec::new(), intake_calendar::Calendars::default());
        let route = ChannelRoute::new("chat");
        assert_eq!(
            for_event(&sla, &route, &event("chat", "2026-12-04T17:57:00+03:00")),
            None
        );
    }
}
