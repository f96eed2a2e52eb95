//! What the simulator puts into a workspace from outside: users' messages and events
//! (queued for every socket, RTM's bare and Socket Mode's in envelopes) and faults.

use std::time::Duration;

use nonstop_model::inbound::{Built, Inbound, Stamp};
use serde_json::Value;
use tokio::time::Instant;

use crate::fault::{Fault, Target};
use crate::settings::MessageSpec;
use crate::state::{self, Sent, Shared, SocketCommand};

/// Builds a `message` event as Slack's Events API would and queues it for delivery.
pub(crate) fn enqueue_message(
    shared: &Shared,
    spec: &MessageSpec,
    bot_id: Option<String>,
    ts: Option<String>,
) -> String {
    let ts = ts.unwrap_or_else(|| shared.next_ts());
    let event_id = format!("Ev{:010}", shared.next_id());
    let config = &shared.config;
    let mut event = serde_json::json!({
        "type": "message",
        "channel": spec.channel,
        "channel_type": "channel",
        "user": spec.user,
        "text": spec.text,
        "ts": ts,
        "event_ts": ts,
        "team": config.team_id,
    });
    if let Some(thread_ts) = &spec.thread_ts {
        event["thread_ts"] = thread_ts.clone().into();
    }
    match bot_id {
        Some(bot_id) => event["bot_id"] = bot_id.into(),
        // The bot's own posts are in the record of posts; a user's message goes into the
        // channel's history here, so that a bot can fetch what it missed.
        None => shared.record_said(state::Said {
            channel: spec.channel.clone(),
            user: spec.user.clone(),
            text: spec.text.clone(),
            ts: ts.clone(),
            thread_ts: spec.thread_ts.clone(),
            team: shared.config.team_id.clone(),
        }),
    }
    enqueue_event_with_id(shared, event, event_id.clone());
    event_id
}

/// Wraps `event` in an `event_callback` as Slack's Events API does and queues it.
pub(crate) fn enqueue_event(shared: &Shared, event: serde_json::Value) -> String {
    let event_id = format!("Ev{:010}", shared.next_id());
    enqueue_event_with_id(shared, event, event_id.clone());
    event_id
}

/// Builds `inbound` as Slack would in this workspace and queues it. A user's message also
/// goes into its channel's history (for catch-up), as [`enqueue_message`] does.
pub(crate) fn enqueue_inbound(shared: &Shared, inbound: &Inbound, response_url: &str) -> Sent {
    enqueue_inbound_in(shared, &shared.config.team_id, inbound, response_url)
}

/// [`enqueue_inbound`] from workspace `team` (one the app was installed in).
pub(crate) fn enqueue_inbound_in(
    shared: &Shared,
    team: &str,
    inbound: &Inbound,
    response_url: &str,
) -> Sent {
    let n = shared.next_id();
    let ts = shared.next_ts();
    let config = &shared.config;
    let stamp = Stamp {
        team_id: team,
        app_id: &config.app_id,
        bot_user_id: &config.bot_user_id,
        n,
        ts: &ts,
        response_url: &format!("{response_url}{n}"),
    };
    match inbound.build(&stamp) {
        Built::Event(event) => {
            if matches!(inbound, Inbound::Message(_)) {
                record_user_message(shared, team, &event);
            }
            let event_id = format!("Ev{n:010}");
            let envelope_id = enqueue_event_from(shared, team, event, event_id.clone());
            Sent {
                envelope_id,
                event_id: Some(event_id),
                trigger_id: None,
                response_url: None,
            }
        }
        Built::Envelope {
            envelope_type,
            payload,
            accepts_response_payload,
        } => {
            let text = |key: &str| payload.get(key).and_then(Value::as_str).map(str::to_owned);
            let (trigger_id, response_url) = (text("trigger_id"), text("response_url"));
            Sent {
                envelope_id: shared.enqueue_envelope(
                    &envelope_type,
                    payload,
                    accepts_response_payload,
                ),
                event_id: None,
                trigger_id,
                response_url,
            }
        }
    }
}

/// A user's message into its channel's history, so that a bot can fetch what it missed.
fn record_user_message(shared: &Shared, team: &str, event: &serde_json::Value) {
    let text = |key: &str| event.get(key).and_then(serde_json::Value::as_str);
    if let (Some(channel), Some(user), Some(ts)) = (text("channel"), text("user"), text("ts")) {
        shared.record_said(state::Said {
            channel: channel.to_owned(),
            user: user.to_owned(),
            text: text("text").unwrap_or_default().to_owned(),
            ts: ts.to_owned(),
            thread_ts: text("thread_ts").map(str::to_owned),
            team: team.to_owned(),
        });
    }
}

/// Queues the event under `event_id` and returns the envelope's id.
fn enqueue_event_with_id(shared: &Shared, event: serde_json::Value, event_id: String) -> String {
    enqueue_event_from(shared, &shared.config.team_id, event, event_id)
}

/// [`enqueue_event_with_id`] for an event of workspace `team`.
fn enqueue_event_from(
    shared: &Shared,
    team: &str,
    event: serde_json::Value,
    event_id: String,
) -> String {
    // RTM sockets get the bare event, Socket Mode sockets the envelope below.
    broadcast_to_rtm(shared, &event);
    let config = &shared.config;
    let payload = serde_json::json!({
        "type": "event_callback",
        "token": "deprecated-verification-token",
        "team_id": team,
        "api_app_id": config.app_id,
        "event": event,
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "event_context": format!("EC{event_id}"),
        "authorizations": [{
            "enterprise_id": null,
            "team_id": team,
            "user_id": config.bot_user_id,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
    });
    shared.enqueue_envelope("events_api", payload, false)
}

pub(crate) fn apply_fault(shared: &Shared, fault: Fault) {
    tracing::info!(fault = fault.name(), "sim: injecting fault");
    let now = Instant::now();
    let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
    let mut inner = shared.lock();
    let live = Shared::live_any(&inner);
    let pick = |target: Target| live.get(target.unwrap_or(0)).copied();
    let mut orders: Vec<(u64, SocketCommand)> = Vec::new();
    let disconnect = |reason: &str, close_after: Duration| SocketCommand::Disconnect {
        reason: reason.to_owned(),
        close_after,
    };
    let drop_all = |orders: &mut Vec<(u64, SocketCommand)>| {
        orders.extend(live.iter().map(|id| (*id, SocketCommand::Drop)));
    };
    match fault {
        Fault::Drop { target } => orders.extend(pick(target).map(|id| (id, SocketCommand::Drop))),
        Fault::DropAll => drop_all(&mut orders),
        Fault::HalfOpen { target } => {
            orders.extend(pick(target).map(|id| (id, SocketCommand::HalfOpen)));
        }
        Fault::Outage {
            secs: s,
            drop_all: all,
        } => {
            inner.faults.outage = Some((now, now + secs(s)));
            if all {
                drop_all(&mut orders);
            }
        }
        Fault::DisconnectWarning {
            target,
            close_after_secs,
        } => orders
            .extend(pick(target).map(|id| (id, disconnect("warning", secs(close_after_secs))))),
        Fault::Refresh {
            target,
            close_after_secs,
        } => orders.extend(
            pick(target).map(|id| (id, disconnect("refresh_requested", secs(close_after_secs)))),
        ),
        Fault::RateLimit {
            secs: s,
            drop_all: all,
        } => {
            inner.faults.rate_limited_until = Some(now + Duration::from_secs(s.min(86_400)));
            if all {
                drop_all(&mut orders);
            }
        }
        Fault::Goodbye {
            target,
            close_after_secs,
        } => orders.extend(pick(target).map(|id| {
            (
                id,
                SocketCommand::Goodbye {
                    close_after: secs(close_after_secs),
                },
            )
        })),
        Fault::ExpireTokens => {
            for at in inner.token_expiry.values_mut() {
                *at = now;
            }
        }
        Fault::BadSignature { count } => inner.faults.http.bad_signature += count,
        Fault::StaleTimestamp { count } => inner.faults.http.stale_timestamp += count,
        Fault::ReplayRequest { count } => inner.faults.http.replay += count,
        Fault::LateAnswer { count } => inner.faults.http.late_answer += count,
        Fault::ReorderReplies => inner.faults.reorder_rtm_replies = true,
        Fault::RefuseMessages { count } => inner.faults.refuse_rtm_messages = count,
        Fault::DropBeforeReply { posted, late_reply } => {
            inner.faults.drop_before_reply = Some((posted, late_reply));
        }
        Fault::ErrorFrame { target } => orders.extend(pick(target).map(|id| {
            let frame = r#"{"type":"error","error":{"code":2,"msg":"simulated server error"}}"#;
            (id, SocketCommand::Text(frame.to_owned()))
        })),
        Fault::TooManyWebsockets { target } => orders.extend(pick(target).map(|id| {
            (
                id,
                disconnect("too_many_websockets", Duration::from_millis(200)),
            )
        })),
        Fault::LinkDisabled => orders.extend(
            live.iter()
                .map(|id| (*id, disconnect("link_disabled", Duration::from_millis(200)))),
        ),
        Fault::RevokeToken { code } => {
            inner.faults.revoked = Some(code);
            orders.extend(live.iter().map(|id| {
                (
                    *id,
                    SocketCommand::Close {
                        code: 1000,
                        reason: String::new(),
                    },
                )
            }));
        }
        Fault::Malformed { target } => orders.extend(pick(target).map(|id| {
            (
                id,
                SocketCommand::Text(r#"{"type":"events_api","envelope_id":"#.to_owned()),
            )
        })),
        Fault::Binary { target } => orders.extend(
            pick(target).map(|id| (id, SocketCommand::Binary(vec![0xde, 0xad, 0xbe, 0xef]))),
        ),
        Fault::Oversized { target, bytes } => orders.extend(pick(target).map(|id| {
            let padding = "x".repeat(bytes.min(64 * 1024 * 1024));
            let text = format!(r#"{{"type":"sim_padding","padding":"{padding}"}}"#);
            (id, SocketCommand::Text(text))
        })),
        Fault::UnknownEnvelope { target: _ } => {
            drop(inner);
            shared.enqueue_envelope("sim_future_envelope", serde_json::json!({"x": 1}), false);
            return;
        }
        Fault::CloseFrame {
            target,
            code,
            reason,
        } => orders.extend(pick(target).map(|id| (id, SocketCommand::Close { code, reason }))),
        Fault::WithholdHello { count } => inner.faults.withhold_hello = count,
        Fault::OddHello { count, value } => inner.faults.odd_hello = (count, value),
        Fault::RefreshAfterHello => inner.faults.refresh_after_hello = true,
        Fault::HalfOpenAfterHello { count } => inner.faults.half_open_after_hello = count,
        Fault::StopReading { target } => {
            orders.extend(pick(target).map(|id| (id, SocketCommand::StopReading)));
        }
        Fault::RateLimitMethod { method, secs: s } => {
            inner
                .faults
                .method_limits
                .insert(method, now + Duration::from_secs(s.min(86_400)));
        }
        Fault::FailMethod {
            method,
            count,
            status,
            code,
        } => {
            let queue = inner.faults.method_failures.entry(method).or_default();
            let failure = (status, code.unwrap_or_else(|| "internal_error".to_owned()));
            queue.extend(std::iter::repeat_n(failure, count.min(10_000) as usize));
        }
        Fault::WarnMethod { method, warning } => {
            inner.faults.method_warnings.insert(method, warning);
        }
        Fault::LoseReply { method, count } => {
            inner.faults.lost_replies.insert(method, count);
        }
        Fault::SlowWebApi { millis } => {
            inner.faults.slow_web_api = Some(Duration::from_millis(millis));
        }
        Fault::ChannelLimit { burst, per_sec } => {
            inner.faults.channel_limit = Some(state::ChannelLimit::new(burst, per_sec));
        }
        Fault::Heal => inner.faults = state::Faults::default(),
    }
    for (id, order) in orders {
        if let Some(socket) = inner.sockets.get(&id) {
            let _ = socket.commands.try_send(order);
        }
    }
    drop(inner);
    shared.notify();
}

/// Sends `event` to every live RTM socket. Counts the sends, or the miss when none is live
/// and an RTM socket was ever open.
fn broadcast_to_rtm(shared: &Shared, event: &Value) {
    let mut inner = shared.lock();
    if inner.stats.rtm_sockets_opened == 0 {
        return;
    }
    let text = event.to_string();
    let mut sent = 0;
    for socket in inner.sockets.values().filter(|s| s.live && s.rtm) {
        // A full queue behaves like a lost frame, as on a real socket that fell behind.
        if socket
            .commands
            .try_send(SocketCommand::Text(text.clone()))
            .is_ok()
        {
            sent += 1;
        }
    }
    if sent == 0 {
        inner.stats.rtm_events_missed += 1;
    }
    inner.stats.rtm_events_sent += sent;
}
