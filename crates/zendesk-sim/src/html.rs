//! Read-only HTML page listing tickets and comments.

use axum::extract::State;
use axum::response::Html;

use crate::state::SimState;

pub async fn index(State(state): State<SimState>) -> Html<String> {
    Html(format!("{}", state.tickets().len()))
}
