//! The admin API (no auth): reset, inspection, clock, faults, agents.

use axum::Router;

use crate::state::SimState;

pub fn routes() -> Router<SimState> {
    Router::new()
}
