//! Rule 4, the pure part: which earlier ticket names the original agent,
//! and whether a request can wait for that agent's return.

use std::time::Duration;

use chrono::{DateTime, Utc};
use intake_zendesk::{Status, Ticket};

/// The earlier ticket of the requester that names the original agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Earlier {
    pub ticket_id: u64,
    pub agent_id: u64,
    /// Still open (new, open, pending, on hold) rather than recently solved.
    pub open: bool,
}

/// The requester's most recently updated ticket that has an assignee and
/// is open, or was solved or closed within `window` before `at`.
pub fn earlier_ticket(tickets: &[Ticket], at: DateTime<Utc>, window: Duration) -> Option<Earlier> {
    let window = chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let since = at
        .checked_sub_signed(window)
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    tickets
        .iter()
        .filter_map(|ticket| {
            let agent_id = ticket.assignee_id?;
            let open = !matches!(ticket.status, Status::Solved | Status::Closed);
            let updated = ticket.updated_at.or(ticket.created_at)?;
            (open || updated >= since).then_some((updated, ticket.id, agent_id, open))
        })
        .max_by_key(|(updated, id, _, _)| (*updated, *id))
        .map(|(_, ticket_id, agent_id, open)| Earlier {
            ticket_id,
            agent_id,
            open,
        })
}

/// Whether a request with answer deadline `deadline` can wait for an agent
/// back at `until`: yes when they are back by the deadline or the request
/// has none; no when the return is unknown and there is a deadline.
pub fn can_wait(until: Option<DateTime<Utc>>, deadline: Option<DateTime<Utc>>) -> bool {
    match (until, deadline) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(until), Some(deadline)) => until <= deadline,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn ticket(id: u64, status: Status, assignee: Option<u64>, updated: &str) -> Ticket {
        let value = serde_json::json!({
            "id": id,
            "status": status,
            "assignee_id": assignee,
            "updated_at": updated,
        });
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_newest_open_or_recently_solved_ticket_with_an_assignee_names_the_agent() {
        let now = at("2026-12-10T12:00:00Z");
        let window = Duration::from_secs(7 * 24 * 3600);
        let tickets = [
            ticket(1, Status::Solved, Some(11), "2026-11-01T00:00:00Z"),
            ticket(2, Status::Open, Some(12), "2026-11-20T00:00:00Z"),
            ticket(3, Status::Solved, Some(13), "2026-12-09T00:00:00Z"),
            ticket(4, Status::New, None, "2026-12-10T00:00:00Z"),
        ];
        let found = earlier_ticket(&tickets, now, window).unwrap();
        assert_eq!(
            (found.ticket_id, found.agent_id, found.open),
            (3, 13, false)
        );
        // Out of the window, the solved one no longer counts; the open one still does.
        let found = earlier_ticket(&tickets[..2], now, window).unwrap();
        assert_eq!((found.ticket_id, found.agent_id, found.open), (2, 12, true));
        assert_eq!(earlier_ticket(&tickets[..1], now, window), None);
        assert_eq!(
            earlier_ticket(&tickets[3..], now, window),
            None,
            "no assignee"
        );
    }

    #[test]
    fn waiting_depends_on_the_return_and_the_deadline() {
        let deadline = Some(at("2026-12-10T12:00:00Z"));
        assert!(can_wait(Some(at("2026-12-10T11:00:00Z")), deadline));
        assert!(can_wait(Some(at("2026-12-10T12:00:00Z")), deadline));
        assert!(!can_wait(Some(at("2026-12-10T12:01:00Z")), deadline));
        assert!(!can_wait(None, deadline), "unknown return");
        assert!(can_wait(None, None), "no deadline");
    }
}
