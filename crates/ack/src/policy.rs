//! Whether an outcome gets an acknowledgement: pure rules, no I/O.

use std::time::Duration;

use chrono::{DateTime, Utc};
use intake_event::{OutcomeEffect, TicketOutcome};

/// Why an outcome gets no acknowledgement (a bounded set: the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suppression {
    /// A comment on the conversation's open ticket: the customer already
    /// has a ticket and a promise.
    Comment,
    /// An effect that is not a new ticket (dead letter, department routing).
    OtherEffect,
    /// An auto-reply, bounce or list message: answering it could loop.
    AutoSubmitted,
    /// Acknowledgements are switched off for the channel (Zendesk's own
    /// triggers notify requesters there).
    ChannelOff,
    /// The channel has no reply sender (it cannot answer yet).
    NoSender,
    /// The outcome names no ticket to quote.
    NoTicket,
    /// The sender already got one within the window.
    SenderWindow,
    /// This outcome was already handled (a redelivery).
    Duplicate,
}

impl Suppression {
    pub const ALL: [Suppression; 8] = [
        Suppression::Comment,
        Suppression::OtherEffect,
        Suppression::AutoSubmitted,
        Suppression::ChannelOff,
        Suppression::NoSender,
        Suppression::NoTicket,
        Suppression::SenderWindow,
        Suppression::Duplicate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Comment => "comment",
            Suppression::OtherEffect => "other_effect",
            Suppression::AutoSubmitted => "auto_submitted",
            Suppression::ChannelOff => "channel_off",
            Suppression::NoSender => "no_sender",
            Suppression::NoTicket => "no_ticket",
            Suppression::SenderWindow => "sender_window",
            Suppression::Duplicate => "duplicate",
        }
    }

    /// True when the decision is kept in the state store, so a redelivered
    /// outcome is decided the same way; comments and other effects are
    /// decided by their effect alone and are not written down.
    pub fn is_recorded(self) -> bool {
        !matches!(
            self,
            Suppression::Comment | Suppression::OtherEffect | Suppression::Duplicate
        )
    }
}

/// The rules that need no state: effect, auto-submitted, channel switch,
/// sender, ticket. `Ok` means: acknowledge, subject to the sender window.
pub fn static_rules(
    outcome: &TicketOutcome,
    channel_enabled: bool,
    has_sender: bool,
) -> Result<(), Suppression> {
    match outcome.effect {
        // A request passed to another department gets the notice that it
        // was passed on (the rulebook makes it mandatory).
        OutcomeEffect::Created | OutcomeEffect::FollowUp | OutcomeEffect::RoutedToDepartment => {}
        OutcomeEffect::Commented => return Err(Suppression::Comment),
        OutcomeEffect::DeadLettered => return Err(Suppression::OtherEffect),
    }
    if outcome.auto_submitted {
        return Err(Suppression::AutoSubmitted);
    }
    if !channel_enabled {
        return Err(Suppression::ChannelOff);
    }
    if !has_sender {
        return Err(Suppression::NoSender);
    }
    if outcome.ticket_id.is_none() {
        return Err(Suppression::NoTicket);
    }
    Ok(())
}

/// At most one acknowledgement per sender per `window` (zero: no limit).
pub fn window_rule(
    last_sent: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    window: Duration,
) -> Result<(), Suppression> {
    let Some(last_sent) = last_sent else {
        return Ok(());
    };
    if window.is_zero() {
        return Ok(());
    }
    let since = (now - last_sent).to_std().unwrap_or_default();
    if since < window {
        Err(Suppression::SenderWindow)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use intake_event::{OUTCOME_SCHEMA_ID, OutcomeContact, outcome_id};
    use uuid::Uuid;

    fn outcome(effect: OutcomeEffect) -> TicketOutcome {
        let event_id = Uuid::new_v4();
        TicketOutcome {
            schema: OUTCOME_SCHEMA_ID.to_owned(),
            outcome_id: outcome_id(event_id, effect),
            event_id: Some(event_id),
            channel: "chat".to_owned(),
            contact: OutcomeContact {
                key: "chat:v1".to_owned(),
                locale: None,
            },
            conversation_id: Some("c1".to_owned()),
            effect,
            ticket_id: Some(7),
            deadline: None,
            locale: None,
            auto_submitted: false,
            received_at: None,
            dead_letter_reason: None,
            channel_account: None,
            omitted_attachments: Vec::new(),
        }
    }

    #[test]
    fn new_tickets_follow_ups_and_department_hand_overs_are_acknowledged_and_nothing_else() {
        let cases = [
            (OutcomeEffect::Created, Ok(())),
            (OutcomeEffect::FollowUp, Ok(())),
            (OutcomeEffect::Commented, Err(Suppression::Comment)),
            (OutcomeEffect::DeadLettered, Err(Suppression::OtherEffect)),
            (OutcomeEffect::RoutedToDepartment, Ok(())),
        ];
        for (effect, expected) in cases {
            assert_eq!(
                static_rules(&outcome(effect), true, true),
                expected,
                "{effect:?}"
            );
        }
    }

    #[test]
    fn auto_submitted_switched_off_senderless_and_ticketless_outcomes_are_suppressed() {
        let mut auto = outcome(OutcomeEffect::Created);
        auto.auto_submitted = true;
        assert_eq!(
            static_rules(&auto, true, true),
            Err(Suppression::AutoSubmitted)
        );
        let created = outcome(OutcomeEffect::Created);
        assert_eq!(
            static_rules(&created, false, true),
            Err(Suppression::ChannelOff)
        );
        assert_eq!(
            static_rules(&created, true, false),
            Err(Suppression::NoSender)
        );
        let mut ticketless = created.clone();
        ticketless.ticket_id = None;
        assert_eq!(
            static_rules(&ticketless, true, true),
            Err(Suppression::NoTicket)
        );
    }

    #[test]
    fn one_per_sender_per_window() {
        let now = Utc::now();
        let window = Duration::from_secs(600);
        assert_eq!(window_rule(None, now, window), Ok(()));
        let recent = now - chrono::Duration::minutes(9);
        assert_eq!(
            window_rule(Some(recent), now, window),
            Err(Suppression::SenderWindow)
        );
        let old = now - chrono::Duration::minutes(10);
        assert_eq!(window_rule(Some(old), now, window), Ok(()));
        assert_eq!(window_rule(Some(recent), now, Duration::ZERO), Ok(()));
    }

    #[test]
    fn reasons_have_distinct_labels() {
        let mut labels: Vec<_> = Suppression::ALL.iter().map(|s| s.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), Suppression::ALL.len());
    }
}
