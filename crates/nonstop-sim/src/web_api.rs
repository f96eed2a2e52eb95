//! The Web API subset a bot calls, plus the WebSocket endpoint that `apps.connections.open`
//! points at.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::reply::{ok, slack_error};
use crate::state::PostedMessage;
use crate::{AppState, MessageSpec};

/// How long after a 429 a client still may have calls in flight that could not know of it.
const EARLY_GRACE: std::time::Duration = std::time::Duration::from_millis(50);

/// Largest request body the simulator reads.
const MAX_BODY: usize = 1024 * 1024;

/// `POST /api/{method}`.
pub(crate) async fn call(
    State(app): State<AppState>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if body.len() > MAX_BODY {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    }
    let args = parse_args(&headers, &body);
    let token =
        bearer(&headers).or_else(|| args.get("token").and_then(Value::as_str).map(str::to_owned));
    let requested_at_ms = crate::state::unix_ms();
    if method == "apps.connections.open" {
        return answer(&app, &method, &args, token.as_deref(), requested_at_ms);
    }
    if method == "rtm.connect" || method == "rtm.start" {
        // Planned failures (429s, 5xx, ok:false) first, then the socket outage's.
        let arrived = Instant::now();
        let (response, status) = match method_fault(&app, &method, arrived) {
            Some(refusal) => refusal,
            None => {
                let response = rtm_connect(&app, &method, token.as_deref());
                let status = response.status().as_u16();
                (response, status)
            }
        };
        let team = team_of(&app, token.as_deref());
        record(&app, method, args, (requested_at_ms, arrived), status, team);
        return response;
    }
    let slow = app.shared.lock().faults.slow_web_api;
    if let Some(delay) = slow {
        tokio::time::sleep(delay).await;
    }
    let arrived = Instant::now();
    let refusal = method_fault(&app, &method, arrived)
        .or_else(|| channel_limit(&app, &method, &args, arrived));
    let (response, status) = match refusal {
        Some(refusal) => refusal,
        None => {
            let missing_charset = is_json_without_charset(&headers);
            let response = answer(&app, &method, &args, token.as_deref(), requested_at_ms);
            let warning = app
                .shared
                .lock()
                .faults
                .method_warnings
                .get(&method)
                .cloned();
            let warning = warning.or_else(|| missing_charset.then(|| "missing_charset".to_owned()));
            let response = match warning {
                Some(warning) => with_warning(response, &warning).await,
                None => response,
            };
            let response = if take_lost_reply(&app, &method) {
                broken_answer()
            } else {
                response
            };
            (response, 200)
        }
    };
    // Recorded after the answer, so the arguments move into the record instead of a copy.
    let team = team_of(&app, token.as_deref());
    let refused = response
        .extensions()
        .get::<crate::reply::Refused>()
        .is_some();
    let status = if refused && status == 200 {
        REFUSED
    } else {
        status
    };
    record(&app, method, args, (requested_at_ms, arrived), status, team);
    response
}

/// The status recorded for an HTTP 200 that said `ok:false`: Slack did not take the call.
const REFUSED: u16 = 299;

/// The workspace whose bot token `token` is: one `oauth.v2.access` gave, or the
/// configured one's.
fn team_of(app: &AppState, token: Option<&str>) -> Option<String> {
    let token = token?;
    if let Some(team) = app.shared.lock().issued_tokens.get(token) {
        return Some(team.clone());
    }
    (token == app.shared.config.bot_token).then(|| app.shared.config.team_id.clone())
}

fn record(
    app: &AppState,
    method: String,
    args: serde_json::Map<String, Value>,
    (at_ms, at): (u64, Instant),
    status: u16,
    team: Option<String>,
) {
    let call = crate::state::ApiCall {
        method,
        args,
        at_ms,
        at,
        status,
        team,
    };
    crate::state::Shared::record_call(&mut app.shared.lock(), call);
    app.shared.notify();
}

/// Whether this call's answer is to be lost ([`crate::Fault::LoseReply`]).
fn take_lost_reply(app: &AppState, method: &str) -> bool {
    let mut inner = app.shared.lock();
    match inner.faults.lost_replies.get_mut(method) {
        Some(left) if *left > 0 => {
            *left -= 1;
            true
        }
        _ => false,
    }
}

/// An answer whose body breaks off: the client sees the connection fail after the call was
/// carried out.
fn broken_answer() -> Response {
    let broken = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("the reply was lost (a fault)"))
    });
    axum::body::Body::from_stream(broken).into_response()
}

/// Slack warns `missing_charset` on JSON bodies sent without `charset=utf-8`.
fn is_json_without_charset(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") && !v.contains("charset"))
}

/// Adds `warning` (and the same note in `response_metadata`) to a successful JSON answer.
async fn with_warning(response: Response, warning: &str) -> Response {
    let (parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY * 16).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(mut answer) if answer["ok"] == true => {
            answer["warning"] = warning.into();
            answer["response_metadata"]["warnings"] = json!([warning]);
            answer["response_metadata"]["messages"] = json!([format!("[WARN] {warning}")]);
            (parts.status, Json(answer)).into_response()
        }
        _ => Response::from_parts(parts, axum::body::Body::from(bytes)),
    }
}

/// The answer to one Web API call.
fn answer(
    app: &AppState,
    method: &str,
    args: &serde_json::Map<String, Value>,
    token: Option<&str>,
    requested_at_ms: u64,
) -> Response {
    let config = &app.shared.config;
    match method {
        "apps.connections.open" => connections_open(app, token),
        // Authenticated by the client id and secret in the form, not a token.
        "oauth.v2.access" => {
            let answer = crate::oauth::access(app, args);
            let refused = answer["ok"] == false;
            let mut response = Json(answer).into_response();
            if refused {
                response.extensions_mut().insert(crate::reply::Refused);
            }
            response
        }
        // An installed token given up: Slack takes it back.
        "auth.revoke" => {
            let revoked =
                token.is_some_and(|t| app.shared.lock().issued_tokens.remove(t).is_some());
            if !revoked {
                if let Err(code) = bot_token_ok(app, token) {
                    return slack_error(code);
                }
            }
            ok(json!({"revoked": revoked}))
        }
        "auth.test" => {
            if let Err(code) = bot_token_ok(app, token) {
                return slack_error(code);
            }
            let scopes = config.scopes.join(",");
            // An installed workspace's token answers for that workspace.
            let team = team_of(app, token).unwrap_or_else(|| config.team_id.clone());
            let mut response = ok(json!({
                "url": "https://sim.example/",
                "team": "Simulated Workspace",
                "user": "nonstop-bot",
                "team_id": team,
                "user_id": config.bot_user_id,
                "bot_id": config.bot_id,
                "is_enterprise_install": false,
            }));
            // Slack names the token's scopes in a header of every answer.
            if let Ok(value) = header::HeaderValue::from_str(&scopes) {
                response.headers_mut().insert("x-oauth-scopes", value);
            }
            response
        }
        "chat.postMessage" => {
            if let Err(code) = bot_token_ok(app, token) {
                return slack_error(code);
            }
            let Some(channel) = args.get("channel").and_then(Value::as_str) else {
                return slack_error("channel_not_found");
            };
            let text = args.get("text").and_then(Value::as_str).unwrap_or_default();
            if text.is_empty() && args.get("blocks").is_none() {
                return slack_error("no_text");
            }
            let thread_ts = args
                .get("thread_ts")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned);
            let ts = app.shared.next_ts();
            let metadata = match args.get("metadata") {
                Some(Value::String(text)) => serde_json::from_str(text).ok(),
                Some(Value::Null) | None => None,
                Some(other) => Some(other.clone()),
            };
            let posted = PostedMessage {
                team: team_of(app, token),
                channel: channel.to_owned(),
                text: text.to_owned(),
                thread_ts: thread_ts.clone(),
                ts: ts.clone(),
                requested_at_ms,
                recorded_at_ms: crate::state::unix_ms(),
                metadata,
                over_rtm: false,
            };
            let mut inner = app.shared.lock();
            crate::stream::replied(&mut inner, channel, thread_ts.as_deref());
            inner.posted.push(posted);
            drop(inner);
            app.shared.notify();
            if config.echo_bot_messages {
                // Slack delivers the bot's own messages back to it; a bot must ignore them.
                crate::enqueue_message(
                    &app.shared,
                    &MessageSpec {
                        channel: channel.to_owned(),
                        user: config.bot_user_id.clone(),
                        text: text.to_owned(),
                        thread_ts: thread_ts.clone(),
                    },
                    Some(config.bot_id.clone()),
                    Some(ts.clone()),
                );
            }
            ok(json!({"channel": channel, "ts": ts, "message": {"text": text, "ts": ts}}))
        }
        "apps.manifest.validate" | "apps.manifest.export" => {
            if let Err(code) = check_token(token, &config.config_token) {
                return slack_error(code);
            }
            crate::manifest::answer(config, method, args)
        }
        other => {
            if let Err(code) = bot_token_ok(app, token) {
                return slack_error(code);
            }
            let team = team_of(app, token).unwrap_or_else(|| config.team_id.clone());
            crate::workspace::answer(app, other, args, &team)
                .unwrap_or_else(|| slack_error("unknown_method"))
        }
    }
}

/// A 429 when the channel a message goes to has no room under the `channel_limit` fault.
fn channel_limit(
    app: &AppState,
    method: &str,
    args: &serde_json::Map<String, Value>,
    now: Instant,
) -> Option<(Response, u16)> {
    if method != "chat.postMessage" {
        return None;
    }
    let channel = args.get("channel").and_then(Value::as_str)?;
    let mut inner = app.shared.lock();
    let limit = inner.faults.channel_limit.as_mut()?;
    let (room, early) = limit.take(channel, now, EARLY_GRACE);
    if early {
        inner.early_calls += 1;
    }
    let secs = room.err()?;
    let response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, secs.to_string())],
        Json(json!({"ok": false, "error": "ratelimited"})),
    )
        .into_response();
    Some((response, 429))
}

/// Records the call, and answers it with the fault planned for its method, if any: a 429
/// while the method is rate limited, or the next planned failure.
fn method_fault(app: &AppState, method: &str, now: Instant) -> Option<(Response, u16)> {
    let mut inner = app.shared.lock();
    let faults = &mut inner.faults;
    // Calls already in flight when the first 429 went out could not know of it: only a call
    // that arrives a grace period after the 429 and before its Retry-After ran out is early.
    let early = faults
        .method_told_until
        .get(method)
        .is_some_and(|(told_at, until)| *told_at + EARLY_GRACE < now && now < *until);
    let mut refusal = None;
    if let Some(until) = faults
        .method_limits
        .get(method)
        .copied()
        .filter(|u| *u > now)
    {
        let secs = until.duration_since(now).as_secs_f64().ceil().max(1.0) as u64;
        let told = now + std::time::Duration::from_secs(secs);
        let entry = faults
            .method_told_until
            .entry(method.to_owned())
            .or_insert((now, told));
        if entry.1 <= now {
            // The previous limit ran out: this is a new one, told now.
            *entry = (now, told);
        }
        entry.1 = entry.1.max(told);
        let response = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, secs.to_string())],
            Json(json!({"ok": false, "error": "ratelimited"})),
        )
            .into_response();
        refusal = Some((response, 429));
    } else if let Some(status) = faults
        .method_failures
        .get_mut(method)
        .and_then(VecDeque::pop_front)
    {
        let (status, code) = status;
        let response = match StatusCode::from_u16(status) {
            Ok(http) if http != StatusCode::OK => (http, "simulated failure").into_response(),
            _ => slack_error(&code),
        };
        refusal = Some((response, status));
    }
    if early {
        inner.early_calls += 1;
    }
    refusal
}

/// `POST /_sim/upload/{file_id}`: the bytes of a file, step two of an upload.
pub(crate) async fn upload(
    State(app): State<AppState>,
    Path(file_id): Path<String>,
    body: Bytes,
) -> Response {
    let mut inner = app.shared.lock();
    match inner.files.get_mut(&file_id) {
        Some(slot) => {
            *slot = Some(body.len());
            drop(inner);
            app.shared.notify();
            (StatusCode::OK, "OK - uploaded").into_response()
        }
        None => (StatusCode::NOT_FOUND, "no such upload").into_response(),
    }
}

/// `POST /_sim/respond/{id}`: a `response_url` the simulator gave with a slash command or
/// an interaction.
pub(crate) async fn respond(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "invalid_payload").into_response();
    };
    let mut inner = app.shared.lock();
    if inner.responses.len() < 100_000 {
        inner.responses.push(crate::state::Response { id, body });
    }
    drop(inner);
    app.shared.notify();
    Json(json!({"ok": true})).into_response()
}

fn connections_open(app: &AppState, token: Option<&str>) -> Response {
    match issue_ticket(app, token, &app.shared.config.app_token, "s") {
        Ok(ticket) => ok(json!({
            "url": format!("ws://{}/link/?ticket={ticket}&app_id={}", app.addr, app.shared.config.app_id),
        })),
        Err(refusal) => *refusal,
    }
}

/// `rtm.connect`, and `rtm.start`, which apps created since 2021-11-30 may not call (the
/// simulated app is one of them unless `SimConfig::rtm_start_allowed`).
fn rtm_connect(app: &AppState, method: &str, token: Option<&str>) -> Response {
    let config = &app.shared.config;
    if method == "rtm.start" && !config.rtm_start_allowed {
        if let Err(code) = bot_token_ok(app, token) {
            return slack_error(code);
        }
        return slack_error("method_deprecated");
    }
    match issue_ticket(app, token, &config.bot_token, "r") {
        Ok(ticket) => ok(json!({
            "url": format!("ws://{}/rtm/?ticket={ticket}", app.addr),
            "self": {"id": config.bot_user_id, "name": "nonstop-bot"},
            "team": {"id": config.team_id, "name": "Simulated Workspace", "domain": "sim"},
        })),
        Err(refusal) => *refusal,
    }
}

/// A single-use socket ticket (valid 30 s) for a client holding `expected`, or the refusal the
/// lasting faults call for: a 429 while rate limited, the revoked token's code, and during an
/// outage 503s, then `ok:false`, then tickets whose upgrade is refused. `kind` starts the
/// ticket: `s` for Socket Mode, `r` for RTM, so neither endpoint takes the other's.
fn issue_ticket(
    app: &AppState,
    token: Option<&str>,
    expected: &str,
    kind: &str,
) -> Result<String, Box<Response>> {
    let shared = &app.shared;
    let now = Instant::now();
    let mut inner = shared.lock();
    inner.stats.connect_calls += 1;
    if let Some(until) = inner.faults.rate_limited_until.filter(|u| *u > now) {
        inner.stats.connect_refusals += 1;
        let secs = until.duration_since(now).as_secs_f64().ceil().max(1.0) as u64;
        let told = now + std::time::Duration::from_secs(secs);
        let latest = inner
            .faults
            .retry_after_told_until
            .map_or(told, |t| t.max(told));
        inner.faults.retry_after_told_until = Some(latest);
        return Err(Box::new(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, secs.to_string())],
                Json(json!({"ok": false, "error": "ratelimited"})),
            )
                .into_response(),
        ));
    }
    if let Some(code) = inner.faults.revoked.clone() {
        inner.stats.connect_refusals += 1;
        return Err(Box::new(slack_error(&code)));
    }
    if let Err(code) = check_token(token, expected) {
        inner.stats.connect_refusals += 1;
        return Err(Box::new(slack_error(code)));
    }
    if let Some((start, end)) = inner.faults.outage.filter(|(_, end)| *end > now) {
        let third = end.duration_since(start) / 3;
        let elapsed = now.duration_since(start);
        if elapsed < third {
            inner.stats.connect_refusals += 1;
            return Err(Box::new(
                (StatusCode::SERVICE_UNAVAILABLE, "upstream unavailable").into_response(),
            ));
        }
        if elapsed < third * 2 {
            inner.stats.connect_refusals += 1;
            return Err(Box::new(slack_error("internal_error")));
        }
        // Last third: hand out a URL whose upgrade will be refused.
    }
    let ticket = format!("{kind}{:016x}", shared.next_id() ^ rand::random::<u64>());
    inner
        .tickets
        .retain(|_, issued| now.duration_since(*issued).as_secs() < 30);
    inner.tickets.insert(ticket.clone(), now);
    Ok(ticket)
}

/// `GET /link/?ticket=…`: the Socket Mode WebSocket.
pub(crate) async fn link(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade_socket(app, &query, upgrade, crate::socket::Kind::SocketMode)
}

/// `GET /rtm/?ticket=…`: the RTM WebSocket.
pub(crate) async fn rtm(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade_socket(app, &query, upgrade, crate::socket::Kind::Rtm)
}

fn upgrade_socket(
    app: AppState,
    query: &HashMap<String, String>,
    upgrade: WebSocketUpgrade,
    kind: crate::socket::Kind,
) -> Response {
    let now = Instant::now();
    {
        let mut inner = app.shared.lock();
        if inner.faults.outage.is_some_and(|(_, end)| end > now) {
            inner.stats.connect_refusals += 1;
            return (StatusCode::SERVICE_UNAVAILABLE, "link unavailable").into_response();
        }
        // Tickets are single-use and short-lived (Slack documents 30 s for RTM URLs).
        let prefix = match kind {
            crate::socket::Kind::SocketMode => "s",
            crate::socket::Kind::Rtm => "r",
        };
        let valid = query
            .get("ticket")
            .filter(|t| t.starts_with(prefix))
            .and_then(|t| inner.tickets.remove(t))
            .is_some_and(|issued| now.duration_since(issued).as_secs() < 30);
        if !valid {
            inner.stats.connect_refusals += 1;
            return (StatusCode::UNAUTHORIZED, "invalid or used ticket").into_response();
        }
    }
    let shared = Arc::clone(&app.shared);
    let shutdown = app.shutdown.clone();
    upgrade
        .max_message_size(crate::socket::MAX_CLIENT_FRAME)
        .on_upgrade(move |socket| crate::socket::serve(shared, socket, shutdown, kind))
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(|t| t.trim().to_owned())
}

/// The configured bot token, or one `oauth.v2.access` gave and that has not expired.
fn bot_token_ok(app: &AppState, token: Option<&str>) -> Result<(), &'static str> {
    if let Some(token) = token {
        let mut inner = app.shared.lock();
        if inner.issued_tokens.contains_key(token) {
            let expired = inner
                .token_expiry
                .get(token)
                .is_some_and(|at| *at <= tokio::time::Instant::now());
            if expired {
                inner.stats.expired_token_calls += 1;
                return Err("token_expired");
            }
            return Ok(());
        }
    }
    check_token(token, &app.shared.config.bot_token)
}

fn check_token(given: Option<&str>, expected: &str) -> Result<(), &'static str> {
    match given {
        None | Some("") => Err("not_authed"),
        Some(token) if token == expected => Ok(()),
        Some(token) if expected.starts_with("xapp-") && !token.starts_with("xapp-") => {
            Err("not_allowed_token_type")
        }
        Some(_) => Err("invalid_auth"),
    }
}

/// JSON bodies and form bodies both become a JSON object.
fn parse_args(headers: &HeaderMap, body: &[u8]) -> serde_json::Map<String, Value> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        match serde_json::from_slice(body) {
            Ok(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        }
    } else {
        serde_urlencoded::from_bytes::<Vec<(String, String)>>(body)
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect()
    }
}
