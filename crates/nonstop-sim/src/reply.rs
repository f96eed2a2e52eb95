//! The two shapes of a Web API answer, shared by the method handlers (`web_api.rs`) and the
//! workspace's methods (`workspace.rs`).

use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

/// `{"ok": true, …body}`.
pub(crate) fn ok(mut body: Value) -> Response {
    body["ok"] = Value::Bool(true);
    Json(body).into_response()
}

/// `{"ok": false, "error": code}`.
pub(crate) fn slack_error(code: &str) -> Response {
    let mut response = Json(json!({"ok": false, "error": code})).into_response();
    response.extensions_mut().insert(Refused);
    response
}

/// Marks an answer that said `ok:false`, for the record of calls.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refused;
