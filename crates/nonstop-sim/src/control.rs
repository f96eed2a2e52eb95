//! `/_sim/*`: drive the simulator over HTTP (faults, messages, every inbound kind) and read
//! what happened (posts, every Web API call, acks, `response_url` posts).

use std::time::Duration;

use axum::extract::{Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use nonstop_model::inbound::Inbound;

use crate::{AppState, Fault, MessageSpec};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/_sim/fault", post(fault))
        .route("/_sim/message", post(message))
        .route("/_sim/stats", get(stats))
        .route("/_sim/posted", get(posted))
        .route("/_sim/send", post(send))
        .route("/_sim/calls", get(calls))
        .route("/_sim/acks", get(acks))
        .route("/_sim/responses", get(responses))
        .route("/_sim/streams", get(streams))
        .route("/_sim/request_url", post(request_url))
}

/// `{"url": "http://127.0.0.1:3000/slack/events"}`: envelopes go to the bot's request URL
/// as signed HTTP requests from now on; `{"url": null}` returns to sockets.
async fn request_url(State(app): State<AppState>, Json(body): Json<Value>) -> Json<Value> {
    let url = body.get("url").and_then(Value::as_str);
    if let Some(url) = url {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Json(json!({"ok": false, "error": "invalid_url"}));
        }
    }
    app.shared
        .lock()
        .request_url
        .set(url.into_iter().map(str::to_owned).collect());
    Json(json!({"ok": true}))
}

/// `?wait_ms=`: how long `/_sim/send` waits for the bot's ack (at most a minute).
#[derive(Debug, serde::Deserialize)]
struct SendQuery {
    #[serde(default)]
    wait_ms: u64,
}

/// Sends one inbound item (`{"kind": "slash_command", "command": "/todo", …}`); with
/// `?wait_ms=N`, also waits that long for the bot's ack and returns it (`"ack": null` when
/// none came).
async fn send(
    State(app): State<AppState>,
    Query(query): Query<SendQuery>,
    Json(inbound): Json<Inbound>,
) -> Json<Value> {
    let response_url = format!("http://{}/_sim/respond/in", app.addr);
    let sent = crate::enqueue_inbound(&app.shared, &inbound, &response_url);
    let mut answer =
        json!({"ok": true, "envelope_id": sent.envelope_id, "event_id": sent.event_id});
    if query.wait_ms > 0 {
        let wait = Duration::from_millis(query.wait_ms.min(60_000));
        let mut ack = None;
        crate::state::wait_until(&app.shared, wait, |shared| {
            ack = shared
                .lock()
                .acks
                .iter()
                .find(|a| a.envelope_id == sent.envelope_id)
                .cloned();
            ack.is_some()
        })
        .await;
        answer["ack"] = json!(ack);
    }
    Json(answer)
}

/// `?method=`: only calls to that method.
#[derive(Debug, serde::Deserialize)]
struct CallsQuery {
    method: Option<String>,
}

/// Every Web API call the bot made (arguments, blocks included), oldest first.
async fn calls(State(app): State<AppState>, Query(query): Query<CallsQuery>) -> Json<Value> {
    let inner = app.shared.lock();
    let calls: Vec<_> = inner
        .calls
        .iter()
        .filter(|c| query.method.as_deref().is_none_or(|m| c.method == m))
        .collect();
    Json(json!(calls))
}

/// Every ack, with the payload the bot put in it.
async fn acks(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.shared.lock().acks))
}

/// Every body POSTed to a `response_url` the simulator handed out.
async fn responses(State(app): State<AppState>) -> Json<Value> {
    Json(json!(app.shared.lock().responses))
}

/// Every streamed message as it stands, and every agent thread's state.
async fn streams(State(app): State<AppState>) -> Json<Value> {
    let inner = app.shared.lock();
    Json(json!({"streams": inner.streams, "agent_threads": inner.agent_threads}))
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
