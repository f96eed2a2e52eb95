//! The operator endpoint: `/healthz` and `/readyz` for a process supervisor or a container
//! platform, `/metrics` for Prometheus, and a status page at `/` for people. Off unless `Config::http_addr` (`NONSTOP_HTTP`) names
//! an address or the app is given a listener; it has no authentication, so binding beyond
//! loopback is said in the log.
//!
//! Everything it shows is read from [`Status`] when asked: serving it costs the bot nothing
//! between requests.

mod metrics;
mod page;
pub(crate) mod summary;
pub(crate) mod systemd;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::status::{LifecycleChange, LifecycleRecord, Status};

/// How many operations wait for the journal's writer (envelopes, marks, answers).
pub(crate) type Backlog = Arc<dyn Fn() -> usize + Send + Sync>;

#[derive(Clone)]
struct Ops {
    status: Arc<Status>,
    web: nonstop_web::WebClient,
    backlog: Backlog,
    grace: Duration,
}

/// Connections the endpoint serves at once; any more are closed as they come. Far below a
/// process's usual limit of 1,024 open files, so that a flood of connections to the endpoint
/// never leaves the sockets to Slack or the journal without one (issue 25).
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// How the endpoint is served: at most [`MAX_CONNECTIONS`] at once, each with
/// [`crate::serving::HEADER_TIMEOUT`] to say what it wants and a minute in all, so that
/// half-sent requests cannot pile up.
pub(crate) const LIMITS: crate::serving::Limits = crate::serving::Limits {
    connections: MAX_CONNECTIONS,
    lifetime: Duration::from_secs(60),
    name: "operator endpoint",
};

/// The endpoint's routes: `/`, `/healthz`, `/readyz`, `/metrics`.
pub(crate) fn routes(
    status: Arc<Status>,
    web: nonstop_web::WebClient,
    backlog: Backlog,
    grace: Duration,
) -> Router {
    Router::new()
        .route("/", get(status_page))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(Ops {
            status,
            web,
            backlog,
            grace,
        })
}

/// Says where the endpoint listens, and warns when that is beyond this machine.
pub(crate) fn announce(listener: &TcpListener) {
    match listener.local_addr() {
        Ok(addr) if addr.ip().is_loopback() => {
            tracing::info!(%addr, "operator endpoint: /healthz /readyz /metrics");
        }
        Ok(addr) => tracing::warn!(
            %addr,
            "operator endpoint listening beyond this machine, without authentication: anyone who reaches it reads the bot's state; bind to 127.0.0.1 or put it behind a proxy"
        ),
        Err(_) => {}
    }
}

/// What both health answers show: each slot's phase, how long the bot has been deaf, the last
/// unplanned disconnect.
fn state(status: &Status) -> Value {
    let snapshot = status.snapshot();
    let history = status.history();
    let slots: Vec<Value> = snapshot
        .slots
        .iter()
        .enumerate()
        .map(|(slot, phase)| {
            let mut entry = json!({"slot": slot, "state": phase.name()});
            if let Some((connection, age)) = live_connection(&history, slot) {
                entry["connection"] = connection.into();
                entry["age_secs"] = age.as_secs().into();
            }
            if let Some(cause) = last_cause(&history, slot) {
                entry["last_cause"] = cause.into();
            }
            entry
        })
        .collect();
    json!({
        "uptime_secs": snapshot.uptime.as_secs(),
        "live_connections": snapshot.live_connections,
        "deaf_for_secs": status.deaf_for().map(|d| d.as_secs_f64()),
        "awaiting_socket_share": status.awaiting_socket_share(),
        "slots": slots,
        "last_disconnect": snapshot.last_disconnect.map(|d| json!({
            "cause": d.cause,
            "secs_ago": d.at.elapsed().map(|e| e.as_secs()).unwrap_or(0),
        })),
        "journal_failing": status.journal_failing(),
    })
}

/// The slot's newest connection that went live and has not closed, and how long it has been
/// live (from the lifecycle history, which holds the last 256 changes).
fn live_connection(history: &[LifecycleRecord], slot: usize) -> Option<(u64, Duration)> {
    let mine = || history.iter().filter(|r| r.slot == slot);
    mine()
        .rev()
        .filter(|r| matches!(r.change, LifecycleChange::Live { .. }))
        .find(|live| {
            !mine().any(|r| {
                r.connection == live.connection
                    && matches!(r.change, LifecycleChange::Closed { .. })
            })
        })
        .map(|live| {
            let age = live.at.elapsed().unwrap_or_default();
            (live.connection, age)
        })
}

/// The cause of the slot's last unplanned close.
fn last_cause(history: &[LifecycleRecord], slot: usize) -> Option<String> {
    history.iter().rev().find_map(|r| match &r.change {
        LifecycleChange::Closed {
            cause,
            planned: false,
            ..
        } if r.slot == slot => Some(cause.clone()),
        _ => None,
    })
}

fn answer(healthy: bool, why: &str, mut body: Value) -> Response {
    body["status"] = if healthy { "ok" } else { "unhealthy" }.into();
    body["why"] = why.into();
    let code = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// 200 while a socket is live, or for `grace` after the last one closed, or while the bot's
/// other replicas hold every socket the app may have; else 503.
async fn healthz(State(ops): State<Ops>) -> Response {
    let body = state(&ops.status);
    let (healthy, why) = health(
        ops.status.deaf_for(),
        ops.grace,
        ops.status.awaiting_socket_share(),
    );
    answer(healthy, why, body)
}

/// Healthy, and why, for a bot deaf for `deaf_for` (`None`: a socket is live), `standby`
/// when it has none because the replicas together hold `NONSTOP_APP_SOCKETS` (restarting it
/// would not give it one).
fn health(deaf_for: Option<Duration>, grace: Duration, standby: bool) -> (bool, &'static str) {
    match deaf_for {
        None => (true, "a socket is live"),
        Some(deaf) if deaf <= grace => {
            (true, "no live socket, within the grace after the last one")
        }
        Some(_) if standby => (
            true,
            "standby: the bot's other replicas hold all the sockets NONSTOP_APP_SOCKETS allows",
        ),
        Some(_) => (false, "no live socket for longer than the grace"),
    }
}

/// 200 when the bot takes events now: a socket live and the journal writing.
async fn readyz(State(ops): State<Ops>) -> Response {
    let body = state(&ops.status);
    if ops.status.journal_failing() {
        return answer(false, "journal writes fail: nothing is acked", body);
    }
    if ops.status.deaf_for().is_some() {
        return answer(false, "no live socket", body);
    }
    answer(true, "a socket is live and the journal writes", body)
}

async fn status_page(State(ops): State<Ops>) -> Response {
    axum::response::Html(page::render(&ops.status)).into_response()
}

async fn metrics(State(ops): State<Ops>) -> Response {
    match metrics::render(&ops.status, &ops.web, (ops.backlog)()) {
        Ok(text) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthy_while_live_and_within_the_grace_after() {
        let grace = Duration::from_secs(30);
        assert!(health(None, grace, false).0);
        assert!(health(Some(Duration::from_secs(29)), grace, false).0);
        assert!(!health(Some(Duration::from_secs(31)), grace, false).0);
        // Waiting for a socket the other replicas hold: alive, only not taking events.
        let (healthy, why) = health(Some(Duration::from_secs(31)), grace, true);
        assert!(healthy && why.starts_with("standby"), "{why}");
    }
}
