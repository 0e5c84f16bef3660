//! The HTTP side: one paced, retried call to the Zendesk API.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::endpoint_limits::{self, EndpointLimitOptions, EndpointLimits, Limited};
use crate::error::{ApiErrorBody, Error};
use crate::events::{
    CallFailed, CallSucceeded, RateBudgetLowered, RateBudgetObserved, RateLimitHit, RateLimitWaited,
};
use crate::headers::{self, RateLimitInfo};
use crate::options::{ClientOptions, without_userinfo};
use crate::pacer::SharedPacer;
use crate::retry::{self, Hold, Next, RetryPolicy};
use crate::ticket_limit::TicketLimits;
use crate::user_cache::UserCache;

/// A Zendesk API client. Cheap to clone; all clones share one pacer, one
/// per-ticket update log and one user cache.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    http: reqwest::Client,
    base_url: url::Url,
    authorization: HeaderValue,
    max_attempts: u32,
    pacer: SharedPacer,
    tickets: TicketLimits,
    endpoints: EndpointLimits,
    pub(crate) users: Mutex<UserCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &without_userinfo(&self.inner.base_url).as_str())
            .field("requests_per_minute", &self.inner.pacer.limit_per_minute())
            .field("max_attempts", &self.inner.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The body of a request.
pub(crate) enum Body {
    None,
    Json(Bytes),
    Raw { bytes: Bytes, content_type: String },
}

/// One logical call, possibly sent several times.
pub(crate) struct Call {
    pub endpoint: &'static str,
    pub method: Method,
    /// Path under the base URL, starting with `/api/v2/`.
    pub path: String,
    pub query: Vec<(String, String)>,
    pub body: Body,
    pub idempotency_key: Option<String>,
    pub policy: RetryPolicy,
    /// Set for ticket updates: per-ticket limit and one update at a time.
    pub ticket: Option<u64>,
    /// Set for endpoints with a limit of their own (`endpoint_limits.rs`).
    pub limited: Option<Limited>,
}

impl Call {
    pub fn get(endpoint: &'static str, path: String) -> Call {
        Call {
            endpoint,
            method: Method::GET,
            path,
            query: Vec::new(),
            body: Body::None,
            idempotency_key: None,
            policy: RetryPolicy::Always,
            ticket: None,
            limited: None,
        }
    }

    pub fn json<T: serde::Serialize>(
        endpoint: &'static str,
        method: Method,
        path: String,
        body: &T,
    ) -> Result<Call, Error> {
        let bytes = serde_json::to_vec(body)
            .map_err(|e| Error::InvalidInput(format!("{endpoint} body: {e}")))?;
        Ok(Call {
            body: Body::Json(Bytes::from(bytes)),
            method,
            ..Call::get(endpoint, path)
        })
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Call {
        self.query.push((name.to_owned(), value.into()));
        self
    }
}

/// A success answer.
pub(crate) struct Answer {
    pub endpoint: &'static str,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            // Position only: serde's message may quote customer data.
            let detail = format!(
                "{:?} error at line {} column {}",
                e.classify(),
                e.line(),
                e.column()
            );
            self.decode_error(self.endpoint, detail)
        })
    }

    /// An [`Error::Decode`] for this answer (status and request id taken from it).
    pub fn decode_error(&self, endpoint: &'static str, detail: String) -> Error {
        Error::Decode {
            endpoint,
            status: self.status,
            request_id: headers::request_id(&self.headers),
            detail,
        }
    }
}

impl Client {
    /// Builds a client; checks the options and reports every problem at once.
    pub fn new(options: ClientOptions) -> Result<Client, Error> {
        options.validate()?;
        let authorization = options.auth.header_value()?;
        let http = reqwest::Client::builder()
            .timeout(options.request_timeout)
            .connect_timeout(options.request_timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("intake-zendesk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Config(format!("http client: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base_url: options.base_url,
                authorization,
                max_attempts: options.max_attempts,
                pacer: SharedPacer::new(options.requests_per_minute),
                tickets: TicketLimits::default(),
                endpoints: EndpointLimits::default(),
                users: Mutex::new(UserCache::default()),
            }),
        })
    }

    /// Paces Update Ticket and user creation under their own limits (a
    /// client is built with neither): for every clone, from now on.
    pub fn set_endpoint_limits(&self, options: EndpointLimitOptions) {
        self.inner.endpoints.set(options);
    }

    /// How many processes spend this account's budget at the same time
    /// (`zendesk.replicas`, at least 1): each paces by its share of what
    /// the account's answers say is left. For every clone, from now on.
    pub fn set_budget_replicas(&self, replicas: u32) {
        self.inner.pacer.set_replicas(replicas);
    }

    /// The base URL the client talks to.
    pub fn base_url(&self) -> &url::Url {
        &self.inner.base_url
    }

    fn url(&self, path: &str, query: &[(String, String)]) -> url::Url {
        let mut url = self.inner.base_url.clone();
        let base_path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base_path}{path}"));
        url.set_query(None);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends a call with pacing and retries; returns the first success answer
    /// or the last error.
    pub(crate) async fn execute(&self, call: Call) -> Result<Answer, Error> {
        let inner = &self.inner;
        let _turn = match call.ticket {
            Some(ticket) => Some(inner.tickets.exclusive(ticket).await),
            None => None,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let slot = match call.ticket {
                Some(ticket) => {
                    let slot = match crate::caller::ticket_wait_limit() {
                        None => inner.tickets.wait_slot(ticket).await,
                        Some(limit) => match inner.tickets.wait_slot_within(ticket, limit).await {
                            Ok(slot) => slot,
                            Err(free_at) => {
                                return Err(Error::TicketHeld {
                                    endpoint: call.endpoint,
                                    ticket,
                                    retry_in: free_at.saturating_duration_since(Instant::now()),
                                });
                            }
                        },
                    };
                    RateLimitWaited {
                        endpoint: call.endpoint,
                        reason: "ticket_updates",
                        waited: slot.waited,
                    }
                    .emit();
                    Some(slot)
                }
                None => None,
            };
            if let Some(limited) = &call.limited {
                let wait_limit = crate::caller::ticket_wait_limit();
                match inner.endpoints.wait_turn(limited, wait_limit).await {
                    Ok(waited) => RateLimitWaited {
                        endpoint: call.endpoint,
                        reason: limited.endpoint.as_str(),
                        waited,
                    }
                    .emit(),
                    Err(retry_in) => {
                        if let Some(slot) = &slot {
                            inner.tickets.release(slot);
                        }
                        return Err(Error::EndpointHeld {
                            endpoint: call.endpoint,
                            limit: limited.endpoint.as_str(),
                            retry_in,
                        });
                    }
                }
            }
            let waited = inner.pacer.wait_turn().await;
            RateLimitWaited {
                endpoint: call.endpoint,
                reason: "pace",
                waited,
            }
            .emit();

            let started = Instant::now();
            let mut budget = RateLimitInfo::default();
            let in_flight = inner.pacer.in_flight();
            let result = self.exchange(&call, &mut budget).await;
            drop(in_flight);
            let error = match result {
                Ok(answer) => {
                    CallSucceeded {
                        endpoint: call.endpoint,
                        status: answer.status,
                        attempt,
                        elapsed: started.elapsed(),
                    }
                    .emit();
                    return Ok(answer);
                }
                Err(error) => error,
            };
            if let Some(slot) = &slot
                && !retry::counts_as_ticket_update(&error)
            {
                inner.tickets.release(slot);
            }
            let jitter = rand::random::<f64>();
            let endpoint_hold = endpoint_limits::hold_after(
                &error,
                call.limited.as_ref(),
                &budget,
                attempt,
                jitter,
            );
            if let Some((endpoint, wait)) = endpoint_hold {
                inner.endpoints.hold_for(endpoint, wait);
                RateLimitHit {
                    endpoint: call.endpoint,
                    scope: endpoint.as_str(),
                    retry_after: wait,
                    request_id: error.request_id().map(str::to_owned),
                }
                .emit();
            }
            let account_hold = match endpoint_hold {
                // The user-creation limit answered: the account has room.
                Some((endpoint_limits::Endpoint::UserCreate, _)) => None,
                _ => retry::rate_limit_hold(&error, call.ticket, &budget, attempt, jitter),
            };
            if let Some(hold) = account_hold {
                let (scope, wait) = match hold {
                    Hold::Everyone(wait) => {
                        inner.pacer.pause_for(wait);
                        ("account", wait)
                    }
                    Hold::Ticket(ticket, wait) => {
                        inner.tickets.hold_for(ticket, wait);
                        ("ticket", wait)
                    }
                };
                RateLimitHit {
                    endpoint: call.endpoint,
                    scope,
                    retry_after: wait,
                    request_id: error.request_id().map(str::to_owned),
                }
                .emit();
            }
            let next = retry::next_step(&error, attempt, inner.max_attempts, call.policy, jitter);
            let retry_in = match next {
                Next::GiveUp => None,
                Next::HeldThenRetry(wait) | Next::RetryAfter(wait) => Some(wait),
            };
            CallFailed {
                endpoint: call.endpoint,
                error: &error,
                attempt,
                max_attempts: inner.max_attempts,
                retry_in,
            }
            .emit();
            match next {
                Next::GiveUp => return Err(error),
                // The hold (the pacer for everyone, the ticket limiter for one
                // ticket) keeps this caller back at the top of the loop.
                Next::HeldThenRetry(_) => {}
                Next::RetryAfter(wait) => tokio::time::sleep(wait).await,
            }
        }
    }

    /// One HTTP exchange; also returns what the response said about the
    /// account's budget (empty when no response came).
    async fn exchange(&self, call: &Call, budget: &mut RateLimitInfo) -> Result<Answer, Error> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(call.method.clone(), self.url(&call.path, &call.query))
            .header(AUTHORIZATION, inner.authorization.clone())
            .header(ACCEPT, "application/json");
        if let Some(key) = &call.idempotency_key {
            request = request.header("Idempotency-Key", key.as_str());
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(bytes) => request
                .header(CONTENT_TYPE, "application/json")
                .body(bytes.clone()),
            Body::Raw {
                bytes,
                content_type,
            } => request
                .header(CONTENT_TYPE, content_type.as_str())
                .body(bytes.clone()),
        };
        let endpoint = call.endpoint;
        let transport = |e: reqwest::Error| {
            if e.is_timeout() {
                Error::Timeout { endpoint }
            } else {
                Error::Connection {
                    endpoint,
                    source: e.without_url(),
                }
            }
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        *budget = self.observe_budget(&headers);
        let body = response.bytes().await.map_err(transport)?;
        if (200..300).contains(&status) {
            return Ok(Answer {
                endpoint,
                status,
                headers,
                body,
            });
        }
        Err(Error::Api {
            endpoint,
            status,
            body: Box::new(ApiErrorBody::parse(&body)),
            request_id: headers::request_id(&headers),
            retry_after: headers::retry_after(&headers, chrono::Utc::now()),
        })
    }

    fn observe_budget(&self, headers: &HeaderMap) -> RateLimitInfo {
        let info = RateLimitInfo::from_headers(headers);
        if let Some(remaining) = info.remaining {
            RateBudgetObserved {
                remaining,
                limit: info.limit,
            }
            .emit();
        }
        let before = self.inner.pacer.limit_per_minute();
        let hold = self.inner.pacer.observe(&info);
        let after = self.inner.pacer.limit_per_minute();
        if after < before || hold.is_some() {
            RateBudgetLowered {
                limit_per_minute: after,
                hold,
            }
            .emit();
        }
        info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::Auth;
    use secrecy::SecretString;

    const TOKEN: &str = "very-secret-api-token";

    fn client(base: &str) -> Client {
        Client::new(ClientOptions::new(
            base.parse().unwrap(),
            Auth::ApiToken {
                email: "agent@acme.test".into(),
                token: SecretString::from(TOKEN),
            },
        ))
        .unwrap()
    }

    #[test]
    fn debug_of_client_hides_the_token() {
        let client = client("https://acme.zendesk.com");
        let text = format!("{client:?} {client:#?}");
        assert!(!text.contains(TOKEN), "{text}");
        assert!(!text.contains("dG9rZW4"), "{text}"); // no base64 of the header either
        assert!(text.contains("acme.zendesk.com"), "{text}");
    }

    #[test]
    fn urls_keep_a_base_path_and_encode_queries() {
        let plain = client("http://127.0.0.1:8089");
        let url = plain.url(
            "/api/v2/users/search",
            &[("query".into(), "email:a+b@x.test".into())],
        );
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:8089/api/v2/users/search?query=email%3Aa%2Bb%40x.test"
        );
        let prefixed = client("https://proxy.test/zendesk/");
        assert_eq!(
            prefixed.url("/api/v2/tickets", &[]).as_str(),
            "https://proxy.test/zendesk/api/v2/tickets"
        );
    }

    /// An update refused by the account limit (429, no budget left) never
    /// reached the ticket logic: it is not counted against the ticket, and
    /// it does not hold the ticket (the whole account is held instead).
    #[tokio::test]
    async fn an_account_429_is_not_counted_as_a_ticket_update() {
        use base64::Engine as _;
        let config = intake_zendesk_sim::SimConfig {
            requests_per_minute: Some(3),
            ..intake_zendesk_sim::SimConfig::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let sim = intake_zendesk_sim::Simulator::start(config, listener)
            .await
            .unwrap();
        let basic = base64::engine::general_purpose::STANDARD
            .encode("agent@intake-sim.test/token:sim-token");
        let raw = reqwest::Client::new();
        let client = Client::new(ClientOptions {
            max_attempts: 1,
            ..ClientOptions::new(
                sim.base_url.parse().unwrap(),
                Auth::ApiToken {
                    email: "agent@intake-sim.test".into(),
                    token: SecretString::from("sim-token"),
                },
            )
        })
        .unwrap();
        let update = crate::TicketUpdate {
            status: Some(crate::Status::Open),
            ..crate::TicketUpdate::default()
        };
        // The sim's window is a whole minute: should it roll over between
        // using up the budget and the update, try again (bounded).
        let mut refused = None;
        for ticket in 1..=3 {
            for _ in 0..10 {
                let status = raw
                    .get(format!("{}/api/v2/groups", sim.base_url))
                    .header(AUTHORIZATION, format!("Basic {basic}"))
                    .send()
                    .await
                    .unwrap()
                    .status();
                if status == 429 {
                    break;
                }
            }
            match client.update_ticket(ticket, &update).await {
                Err(error) if error.is_rate_limited() => {
                    refused = Some(ticket);
                    break;
                }
                // The window rolled over (a 404: no such ticket): next round, next ticket.
                _ => {}
            }
        }
        let ticket = refused.expect("the update was refused by the account limit");
        assert_eq!(client.inner.tickets.counted(ticket), 0);
    }

    #[test]
    fn bad_options_are_a_config_error() {
        let mut options = ClientOptions::new(
            "https://acme.zendesk.com".parse().unwrap(),
            Auth::OAuth {
                token: SecretString::from(TOKEN),
            },
        );
        options.max_attempts = 0;
        let error = Client::new(options).unwrap_err();
        assert!(matches!(error, Error::Config(_)));
        assert!(!error.is_retryable());
    }
}
