//! `/_sim/*`: drive the simulator over HTTP (faults, messages) and read what happened.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::{AppState, Fault, MessageSpec};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/fault", post(fault))
        .route("/_sim/message", post(message))
        .route("/_sim/stats", get(stats))
        .route("/_sim/posted", get(posted))
}

async fn fault(State(app): State<AppState>, Json(fault): Json<Fault>) -> Json<Value> {
    let name = fault.name();
    crate::apply_fault(&app.shared, fault);
    Json(json!({"ok": true, "applied": name}))
}

async fn message(State(app): State<AppState>, Json(spec): Json<MessageSpec>) -> Json<Value> {
    let event_id = crate::enqueue_message(&app.shared, &spec, None, None);
    Json(json!({"ok": true, "event_id": event_id}))
}

async fn stats(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.shared.stats()))
}

async fn posted(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.shared.lock().posted))
}
