#![forbid(unsafe_code)]
//! A faithful local simulator of the Zendesk Support API slice that intake uses.
//!
//! [`Simulator::app`] gives the axum router for in-process tests;
//! [`Simulator::start`] serves it on a listener (with real dropped connections).
//! The admin API under `/admin` drives faults, the sim clock and inspection;
//! see `docs/zendesk-simulator.md`.

mod admin;
mod api;
mod auth;
mod config;
mod conn;
mod directory;
pub mod endpoint_limits;
mod error;
mod faults;
mod html;
mod index;
mod layers;
mod model;
mod retention;
mod state;
pub mod triggers;
pub mod webhooks;

use axum::Router;
use axum::routing::{get, post, put};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use auth::AuthUser;
pub use config::{DEFAULT_MAX_UPLOAD_BYTES, DEFAULT_REQUESTS_PER_MINUTE, SimConfig};
pub use endpoint_limits::UserCreateLimits;
pub use error::{ApiError, SAFE_UPDATE_CONFLICT_DESCRIPTION, SimError};
pub use faults::{FaultSpec, RATE_WINDOW_SECS, RequestRecord};
pub use retention::{PRUNE_INTERVAL_SECS, Retained};
pub use state::SimState;

/// The simulator: builds the router and serves it.
pub struct Simulator;

fn api_routes() -> Router<SimState> {
    use api::{
        audits, availability, comments, groups, identities, search, tickets, uploads, users,
    };
    Router::new()
        .route("/api/v2/tickets", post(tickets::create).get(tickets::list))
        .route("/api/v2/tickets/show_many", get(tickets::show_many))
        .route(
            "/api/v2/tickets/{id}",
            get(tickets::show).put(tickets::update),
        )
        .route("/api/v2/tickets/{id}/comments", get(comments::list))
        .route("/api/v2/tickets/{id}/audits", get(audits::list))
        .route("/api/v2/search", get(search::search))
        .route(
            "/api/v2/users/create_or_update",
            post(users::create_or_update),
        )
        .route("/api/v2/users/search", get(users::search))
        .route("/api/v2/users/{id}", get(users::show).delete(users::delete))
        .route("/api/v2/users/{id}/merge", put(users::merge))
        .route(
            "/api/v2/users/{id}/identities",
            get(identities::list).post(identities::create),
        )
        .route(
            "/api/v2/users/{id}/tickets/requested",
            get(users::requested),
        )
        .route(
            "/api/v2/users/{id}/group_memberships",
            get(groups::user_memberships),
        )
        .route("/api/v2/uploads", post(uploads::create))
        .route(
            "/api/v2/webhooks",
            get(triggers::list_webhooks).post(triggers::create_webhook),
        )
        .route(
            "/api/v2/webhooks/{id}",
            axum::routing::patch(triggers::update_webhook),
        )
        .route(
            "/api/v2/webhooks/{id}/signing_secret",
            get(triggers::signing_secret),
        )
        .route(
            "/api/v2/triggers",
            get(triggers::list_triggers).post(triggers::create_trigger),
        )
        .route("/api/v2/triggers/{id}", put(triggers::update_trigger))
        .route("/api/v2/groups", get(groups::list))
        .route("/api/v2/groups/{id}/memberships", get(groups::memberships))
        .route("/api/v2/agent_availabilities", get(availability::list))
        .route("/api/v2/agent_availabilities/{id}", get(availability::show))
}

impl Simulator {
    /// The axum app and its state, for `oneshot` tests without a socket.
    ///
    /// A state file that cannot be read is logged and ignored (the account starts fresh);
    /// use [`Simulator::try_app`] to get the error instead.
    pub fn app(config: SimConfig) -> (Router, SimState) {
        match Simulator::try_app(config.clone()) {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "state file ignored");
                let state = SimState::fresh(config);
                (Simulator::router(state.clone()), state)
            }
        }
    }

    /// Like [`Simulator::app`], but a bad state file is an error.
    pub fn try_app(config: SimConfig) -> Result<(Router, SimState), SimError> {
        let state = SimState::new(config)?;
        Ok((Simulator::router(state.clone()), state))
    }

    fn router(state: SimState) -> Router {
        let inner = api_routes()
            .merge(admin::routes())
            .merge(directory::routes())
            .route("/", get(html::index))
            .with_state(state.clone());
        Router::new()
            .fallback_service(inner)
            .layer(axum::middleware::from_fn_with_state(
                state,
                layers::sim_layer,
            ))
    }

    /// Serves the simulator on `listener` until the handle is shut down or dropped.
    pub async fn start(config: SimConfig, listener: TcpListener) -> std::io::Result<SimHandle> {
        let (router, state) = Simulator::try_app(config)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let listener = conn::KillableListener { inner: listener };
        let service = router.into_make_service_with_connect_info::<conn::ConnHandle>();
        let task = tokio::spawn(async move {
            let served = axum::serve(listener, service)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.await;
                })
                .await;
            if let Err(e) = served {
                tracing::warn!(error = %e, "simulator server stopped with an error");
            }
        });
        Ok(SimHandle {
            base_url,
            state,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// A running simulator; dropping it stops the server.
pub struct SimHandle {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    state: SimState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl SimHandle {
    /// The simulator's state, for inspection and clock control.
    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stops accepting connections and waits for the server task to end.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
