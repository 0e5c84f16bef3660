//! Read-only HTML page listing tickets and their comments, for the demo.

use std::fmt::Write;

use axum::extract::State;
use axum::response::Html;

use crate::model::{escape_html, ts};
use crate::state::SimState;

/// Seconds between automatic reloads of the page.
const REFRESH_SECS: u32 = 3;

/// `GET /`
pub async fn index(State(state): State<SimState>) -> Html<String> {
    let subdomain = escape_html(&state.config().subdomain);
    let now = ts(state.now());
    let data = state.data();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!doctype html><html><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{REFRESH_SECS}\">\
         <title>Zendesk simulator: {subdomain}</title>\
         <style>body{{font-family:sans-serif;margin:2em}}.t{{border:1px solid #ccc;margin:1em 0;padding:.5em 1em}}\
         .c{{border-left:3px solid #8ab;margin:.5em 0;padding:0 .8em;white-space:pre-wrap}}.note{{border-color:#e9b949;background:#fff8e1}}\
         .meta{{color:#666;font-size:.85em}}</style></head><body>\
         <h1>Zendesk simulator: {subdomain}</h1><p class=\"meta\">sim time {now}, {} tickets</p>",
        data.tickets.len()
    );
    for ticket in data.tickets.values().rev() {
        let requester = data
            .users
            .get(&ticket.requester_id)
            .map(|u| {
                format!(
                    "{} &lt;{}&gt;",
                    escape_html(&u.name),
                    escape_html(u.email.as_deref().unwrap_or(""))
                )
            })
            .unwrap_or_default();
        let _ = write!(
            page,
            "<div class=\"t\"><h2>#{} {}</h2><p class=\"meta\">status {} · priority {} · requester {} · tags {} · external_id {}</p>",
            ticket.id,
            escape_html(ticket.subject.as_deref().unwrap_or("(no subject)")),
            escape_html(&ticket.status),
            escape_html(ticket.priority.as_deref().unwrap_or("-")),
            requester,
            escape_html(&ticket.tags.join(", ")),
            escape_html(ticket.external_id.as_deref().unwrap_or("-")),
        );
        for comment in &ticket.comments {
            let class = if comment.public { "c" } else { "c note" };
            let files: Vec<String> = comment
                .attachments
                .iter()
                .map(|a| format!("{} ({} bytes)", escape_html(&a.file_name), a.size))
                .collect();
            let _ = write!(
                page,
                "<div class=\"{class}\"><p class=\"meta\">{} by {}{}{}</p>{}</div>",
                ts(comment.created_at),
                comment.author_id,
                if comment.public {
                    ""
                } else {
                    " · internal note"
                },
                if files.is_empty() {
                    String::new()
                } else {
                    format!(" · files: {}", files.join(", "))
                },
                escape_html(&comment.body),
            );
        }
        page.push_str("</div>");
    }
    page.push_str("</body></html>");
    Html(page)
}
