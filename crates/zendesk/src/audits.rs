//! `GET /api/v2/tickets/{id}/audits`: the history of a ticket's creates and
//! updates, each with the custom metadata the request carried.
//!
//! Zendesk documents offset and cursor pagination for this endpoint (at most
//! 100 per page) and no `sort_order`, so audits always come oldest first.
//! Newest-first reads use the offset form: the first page tells the count,
//! then pages are read from the last one backwards.

use std::collections::HashSet;

use serde::Deserialize;

use crate::api::MAX_PAGES;
use crate::client::{Call, Client};
use crate::error::Error;
use crate::types::TicketAudit;

/// Audits per page (Zendesk's maximum for this endpoint).
const AUDITS_PER_PAGE: usize = 100;

#[derive(Deserialize)]
struct AuditPage {
    #[serde(default)]
    audits: Vec<TicketAudit>,
    #[serde(default)]
    count: Option<usize>,
    #[serde(default)]
    next_page: Option<String>,
}

impl Client {
    /// Up to `limit` audits of a ticket, newest first or oldest first, in
    /// at most [`MAX_PAGES`] requests of 100. A read, so every retryable
    /// failure is retried; an unknown ticket is a not-found error.
    pub async fn list_audits(
        &self,
        ticket_id: u64,
        newest_first: bool,
        limit: usize,
    ) -> Result<Vec<TicketAudit>, Error> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let first = self.audit_page(ticket_id, 1).await?;
        match first.count {
            Some(count) if newest_first => self.newest_audits(ticket_id, first, count, limit).await,
            _ => {
                let mut audits = self
                    .oldest_audits(ticket_id, first, limit, newest_first)
                    .await?;
                if newest_first {
                    audits.reverse();
                }
                audits.truncate(limit);
                Ok(audits)
            }
        }
    }

    /// Pages forward from `first`; stops at `limit` unless `read_all` (for
    /// an answer without a `count`, whose newest audits are on the last page).
    /// May hold more than `limit`: the caller truncates (after reversing).
    async fn oldest_audits(
        &self,
        ticket_id: u64,
        first: AuditPage,
        limit: usize,
        read_all: bool,
    ) -> Result<Vec<TicketAudit>, Error> {
        let mut audits = first.audits;
        let mut more = first.next_page.is_some();
        let mut page = 1;
        while more && page < MAX_PAGES && (read_all || audits.len() < limit) {
            page += 1;
            let next = self.audit_page(ticket_id, page).await?;
            more = next.next_page.is_some() && !next.audits.is_empty();
            audits.extend(next.audits);
        }
        Ok(audits)
    }

    /// Reads pages from the last one backwards until `limit` audits.
    async fn newest_audits(
        &self,
        ticket_id: u64,
        first: AuditPage,
        count: usize,
        limit: usize,
    ) -> Result<Vec<TicketAudit>, Error> {
        let mut page = count.div_ceil(AUDITS_PER_PAGE).max(1);
        let mut first_audits = Some(first.audits);
        let mut requests = 1;
        let mut seen = HashSet::new();
        let mut audits = Vec::new();
        loop {
            let batch = match (page, first_audits.take()) {
                (1, Some(batch)) => batch,
                (_, kept) => {
                    first_audits = kept;
                    requests += 1;
                    self.audit_page(ticket_id, page).await?.audits
                }
            };
            // Audits added between requests shift the pages: never list one twice.
            for audit in batch.into_iter().rev() {
                if seen.insert(audit.id) {
                    audits.push(audit);
                }
            }
            if audits.len() >= limit || page == 1 || requests >= MAX_PAGES {
                break;
            }
            page -= 1;
        }
        audits.truncate(limit);
        Ok(audits)
    }

    async fn audit_page(&self, ticket_id: u64, page: usize) -> Result<AuditPage, Error> {
        let call = Call::get("list_audits", format!("/api/v2/tickets/{ticket_id}/audits"))
            .query("page", page.to_string())
            .query("per_page", AUDITS_PER_PAGE.to_string());
        self.execute(call).await?.json()
    }
}
