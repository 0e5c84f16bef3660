//! The middleware every request passes: `.json` suffix, auth, rate limit
//! (the account's, and Update Ticket's own), concurrent-update detection, faults, response headers and the request log.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::auth::authenticate;
use crate::conn::ConnHandle;
use crate::error::ApiError;
use crate::faults::{FaultAction, RequestRecord};
use crate::state::SimState;

/// Nominal limit reported in headers when the simulator runs without a rate limit.
pub const UNLIMITED_REPORTED: u32 = 1_000_000;

/// Marker on a response whose connection was cut (or must be, for `oneshot`).
#[derive(Clone, Copy)]
struct Dropped;

/// Rate-limit figures for the response headers.
struct RateInfo {
    limit: u32,
    remaining: u32,
    reset_secs: u64,
}

/// Removes the `.json` suffix Zendesk allows on every API path.
fn strip_json_suffix(uri: &Uri) -> Option<Uri> {
    let path = uri.path();
    let stripped = path.strip_suffix(".json")?;
    let rebuilt = match uri.query() {
        Some(q) => format!("{stripped}?{q}"),
        None => stripped.to_owned(),
    };
    rebuilt.parse().ok()
}

/// `Some(id)` for `PUT /api/v2/tickets/{id}`.
fn ticket_update_target(method: &Method, path: &str) -> Option<u64> {
    if method != Method::PUT {
        return None;
    }
    path.strip_prefix("/api/v2/tickets/")?.parse().ok()
}

/// Removes a ticket from the in-flight set when the update finishes or is cancelled.
struct InFlightGuard {
    state: SimState,
    ticket_id: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.state
            .runtime()
            .updates_in_flight
            .remove(&self.ticket_id);
    }
}

/// Counts a slow ticket update until it has finished (`SimState::slow_updates`).
struct SlowUpdate(SimState);

impl Drop for SlowUpdate {
    fn drop(&mut self) {
        let mut rt = self.0.runtime();
        rt.slow_updates = rt.slow_updates.saturating_sub(1);
    }
}

fn fault_response(action: &FaultAction, status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let text = status.canonical_reason().unwrap_or("Error").to_owned();
    let mut resp = (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        text,
    )
        .into_response();
    if let Some(secs) = action.retry_after_secs {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A response whose body fails at once, so an in-process caller also sees a broken exchange.
fn broken_response() -> Response {
    let stream = futures::stream::once(async {
        Err::<bytes::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "connection dropped by fault",
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.extensions_mut().insert(Dropped);
    resp
}

async fn api_pipeline(
    state: &SimState,
    mut req: Request,
    next: Next,
    rate: &mut Option<RateInfo>,
    fault_hit: &mut bool,
) -> Response {
    let user = match authenticate(state, req.headers()) {
        Ok(user) => user,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(user);
    let now = state.now();
    req.extensions_mut()
        .insert(crate::endpoint_limits::Arrived(now));
    let path = req.uri().path().to_owned();
    {
        let mut rt = state.runtime();
        match state.config().requests_per_minute {
            Some(limit) => match rt.take_rate(limit, now) {
                Ok(remaining) => {
                    *rate = Some(RateInfo {
                        limit,
                        remaining,
                        reset_secs: rt.rate_reset_secs(now),
                    });
                }
                Err(retry_after_secs) => {
                    *rate = Some(RateInfo {
                        limit,
                        remaining: 0,
                        reset_secs: retry_after_secs,
                    });
                    return ApiError::TooManyRequests { retry_after_secs }.into_response();
                }
            },
            None => {
                *rate = Some(RateInfo {
                    limit: UNLIMITED_REPORTED,
                    remaining: UNLIMITED_REPORTED,
                    reset_secs: 60,
                });
            }
        }
    }
    if let (Some(limit), Some(_)) = (
        state.config().update_ticket_per_minute,
        ticket_update_target(req.method(), &path),
    ) {
        // Update Ticket's own per-account minute (`endpoint_limits.rs`).
        let taken = state.runtime().endpoints.take_update(limit, now);
        if let Err(retry_after_secs) = taken {
            return ApiError::TooManyRequests { retry_after_secs }.into_response();
        }
    }
    let _guard = match ticket_update_target(req.method(), &path) {
        Some(ticket_id) => {
            if !state.runtime().updates_in_flight.insert(ticket_id) {
                return ApiError::Conflict.into_response();
            }
            Some(InFlightGuard {
                state: state.clone(),
                ticket_id,
            })
        }
        None => None,
    };
    let conn = req
        .extensions()
        .get::<ConnectInfo<ConnHandle>>()
        .map(|ConnectInfo(conn)| conn.clone());
    if let Some((shortest, longest)) = state.config().response_delay {
        let delay = state.runtime().draw_delay(shortest, longest);
        tokio::time::sleep(delay).await;
    }
    let method = req.method().as_str().to_owned();
    let action = state.runtime().pick_fault(&method, &path, now);
    let Some(action) = action else {
        return next.run(req).await;
    };
    *fault_hit = true;
    if action.after_processing {
        // The request is handled and its effect kept; only what the client sees changes.
        let handled = next.run(req).await;
        return match apply_fault(&action, conn.as_ref()).await {
            Some(replaced) => replaced,
            None => handled,
        };
    }
    if _guard.is_some() && action.status.is_none() && !action.drop_connection {
        // A slow ticket update: Zendesk finishes what it received even when
        // the client stops waiting (a timeout), so the work goes on in its
        // own task, holding the ticket until it is applied.
        let queued = action.queued;
        let ticket_id = _guard.as_ref().map(|g| g.ticket_id);
        let held = if queued {
            // Queued: the ticket is free while the request waits.
            drop(_guard);
            None
        } else {
            _guard
        };
        let task_state = state.clone();
        state.runtime().slow_updates += 1;
        let task = tokio::spawn(async move {
            let _held = held;
            let _slow = SlowUpdate(task_state.clone());
            apply_fault(&action, None).await;
            let _taken = match (queued, ticket_id) {
                (true, Some(ticket_id)) => {
                    if !task_state.runtime().updates_in_flight.insert(ticket_id) {
                        return ApiError::Conflict.into_response();
                    }
                    Some(InFlightGuard {
                        state: task_state.clone(),
                        ticket_id,
                    })
                }
                _ => None,
            };
            next.run(req).await
        });
        return task.await.unwrap_or_else(|_| broken_response());
    }
    match apply_fault(&action, conn.as_ref()).await {
        Some(resp) => resp,
        None => next.run(req).await,
    }
}

/// The fault's effects in order: delay, then drop or status. `None` when the rule only
/// delays and the request's own response goes out.
async fn apply_fault(action: &FaultAction, conn: Option<&ConnHandle>) -> Option<Response> {
    if action.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(action.delay_ms)).await;
    }
    if action.drop_connection {
        return Some(match conn {
            Some(conn) => {
                conn.kill();
                let mut resp = StatusCode::SERVICE_UNAVAILABLE.into_response();
                resp.extensions_mut().insert(Dropped);
                resp
            }
            None => broken_response(),
        });
    }
    action.status.map(|status| fault_response(action, status))
}

/// Telemetry event: the simulator answered (or dropped) one request.
struct ResponseSent {
    status: u16,
    dropped: bool,
    fault: bool,
}

impl ResponseSent {
    fn emit(&self) {
        let outcome = if self.dropped {
            "dropped"
        } else {
            match self.status {
                200..=299 => "2xx",
                400..=499 => "4xx",
                500..=599 => "5xx",
                _ => "other",
            }
        };
        tracing::debug!(
            status = self.status,
            outcome,
            fault = self.fault,
            "sim response sent"
        );
        metrics::counter!(
            "intake_zendesk_sim_responses_total",
            "outcome" => outcome,
            "fault" => if self.fault { "true" } else { "false" }
        )
        .increment(1);
    }
}

fn set(resp: &mut Response, name: &'static str, value: impl Into<HeaderValue>) {
    resp.headers_mut()
        .insert(HeaderName::from_static(name), value.into());
}

/// Names under which every response carries its request id.
pub const REQUEST_ID_HEADERS: [&str; 2] = ["x-zendesk-request-id", "x-request-id"];

/// Whether a path answers with the `ratelimit-*` spelling (ticketing endpoints per the
/// reference; recorded on `/api/v2/search/export` in 2024).
fn uses_ietf_spelling(path: &str) -> bool {
    path.starts_with("/api/v2/tickets") || path.starts_with("/api/v2/search")
}

/// The account limit in every spelling recorded real responses use: `X-Rate-Limit*` on
/// all of them, `rate-limit*` on all 2023 recordings (tickets, uploads, views), and
/// `ratelimit-*` on ticketing and search endpoints.
fn set_rate_headers(resp: &mut Response, path: &str, info: &RateInfo) {
    set(resp, "x-rate-limit", info.limit);
    set(resp, "x-rate-limit-remaining", info.remaining);
    set(resp, "rate-limit", info.limit);
    set(resp, "rate-limit-remaining", info.remaining);
    set(resp, "rate-limit-reset", info.reset_secs);
    if uses_ietf_spelling(path) {
        set(resp, "ratelimit-limit", info.limit);
        set(resp, "ratelimit-remaining", info.remaining);
        set(resp, "ratelimit-reset", info.reset_secs);
    }
}

/// The single middleware wrapped around the whole router.
pub async fn sim_layer(State(state): State<SimState>, mut req: Request, next: Next) -> Response {
    if let Some(uri) = strip_json_suffix(req.uri()) {
        *req.uri_mut() = uri;
    }
    state.prune_if_due();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let idempotency_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let authorization = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(' ').next())
        .map(str::to_owned);
    let is_api = path.starts_with("/api/");
    let mut rate = None;
    let mut fault_hit = false;
    let mut resp = if is_api {
        api_pipeline(&state, req, next, &mut rate, &mut fault_hit).await
    } else {
        next.run(req).await
    };
    let dropped = resp.extensions().get::<Dropped>().is_some();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        // Older recordings carry `X-Zendesk-Request-Id`, recent ones only `x-request-id`.
        for name in REQUEST_ID_HEADERS {
            resp.headers_mut()
                .insert(HeaderName::from_static(name), value.clone());
        }
    }
    if let Some(info) = rate {
        set_rate_headers(&mut resp, &path, &info);
    }
    let status = if dropped { 0 } else { resp.status().as_u16() };
    ResponseSent {
        status,
        dropped,
        fault: fault_hit,
    }
    .emit();
    state.runtime().record(RequestRecord {
        request_id,
        method,
        path,
        query,
        idempotency_key,
        authorization,
        status,
        dropped,
        fault: fault_hit,
        at: state.now(),
    });
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_suffix_is_removed_and_query_kept() {
        let uri: Uri = "/api/v2/tickets/5.json?include=users".parse().unwrap();
        let out = strip_json_suffix(&uri).unwrap();
        assert_eq!(out.path(), "/api/v2/tickets/5");
        assert_eq!(out.query(), Some("include=users"));
        assert!(strip_json_suffix(&"/api/v2/tickets".parse().unwrap()).is_none());
    }

    #[test]
    fn only_put_to_a_numeric_ticket_is_an_update_target() {
        assert_eq!(
            ticket_update_target(&Method::PUT, "/api/v2/tickets/12"),
            Some(12)
        );
        assert_eq!(
            ticket_update_target(&Method::GET, "/api/v2/tickets/12"),
            None
        );
        assert_eq!(
            ticket_update_target(&Method::PUT, "/api/v2/tickets/show_many"),
            None
        );
    }
}
