//! The web UI: server-rendered pages that work without JavaScript and get
//! better with htmx.

use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
}
