//! The server side of one WebSocket, Socket Mode or RTM: `hello`, envelopes (Socket Mode) or
//! bare events (RTM) out, acks or RTM frames in, server pings, and the socket faults.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::state::{Shared, SocketCommand, SocketEntry};

/// Commands queued per socket before further envelopes are treated as lost (and redelivered).
const COMMAND_QUEUE: usize = 4096;

/// Upper bound on a client frame; a client never needs more than an ack with a response body.
pub(crate) const MAX_CLIENT_FRAME: usize = 1024 * 1024;

/// RTM disconnects a client that sends a frame over 16 KB.
pub(crate) const RTM_MAX_CLIENT_FRAME: usize = 16 * 1024;

/// Which protocol a socket speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    SocketMode,
    Rtm,
}

pub(crate) async fn serve(
    shared: Arc<Shared>,
    mut socket: WebSocket,
    shutdown: tokio::sync::watch::Receiver<bool>,
    kind: Kind,
) {
    let id = shared.next_id();
    let (commands, mut inbox) = mpsc::channel(COMMAND_QUEUE);
    {
        let mut inner = shared.lock();
        inner.stats.sockets_opened += 1;
        if kind == Kind::Rtm {
            inner.stats.rtm_sockets_opened += 1;
        }
        inner.sockets.insert(
            id,
            SocketEntry {
                commands,
                live: false,
                rtm: kind == Kind::Rtm,
            },
        );
    }
    let withhold = {
        let mut inner = shared.lock();
        let withhold = inner.faults.withhold_hello > 0;
        inner.faults.withhold_hello = inner.faults.withhold_hello.saturating_sub(1);
        withhold
    };
    if withhold {
        // Upgraded, then silence: the client must give up on its own.
        let hold = tokio::time::sleep(shared.config.half_open_hold);
        tokio::pin!(hold);
        loop {
            tokio::select! {
                frame = socket.recv() => if !matches!(frame, Some(Ok(_))) { break },
                () = &mut hold => break,
            }
        }
        shared.remove_socket(id);
        shared.notify();
        return;
    }
    let live_count = Shared::live_ids(&shared.lock()).len() as u32 + 1;
    let odd = (kind == Kind::SocketMode)
        .then(|| {
            let mut inner = shared.lock();
            let (count, value) = &mut inner.faults.odd_hello;
            (*count > 0).then(|| {
                *count -= 1;
                value.clone()
            })
        })
        .flatten();
    let hello = if kind == Kind::Rtm {
        serde_json::json!({"type": "hello"}).to_string()
    } else {
        let lifetime = match &odd {
            Some(Some(value)) => value.clone(),
            _ => serde_json::json!(shared.config.approximate_connection_time.as_secs()),
        };
        let hello = serde_json::json!({
        "type": "hello",
        "num_connections": live_count,
        "connection_info": {"app_id": shared.config.app_id},
        "debug_info": {
            "host": format!("sim-applink-{id}"),
            "build_number": 1,
            "approximate_connection_time": lifetime,
        },
        })
        .to_string();
        match odd {
            // Garbled past reading: cut off half-way.
            Some(None) => hello[..hello.len() / 2].to_owned(),
            _ => hello,
        }
    };
    let outcome = if socket
        .send(Message::Text(Utf8Bytes::from(hello)))
        .await
        .is_ok()
    {
        if let Some(entry) = shared.lock().sockets.get_mut(&id) {
            entry.live = true;
        }
        shared.notify();
        if kind == Kind::SocketMode {
            shared.flush_undelivered();
        }
        let late_reply = if kind == Kind::Rtm {
            shared.lock().faults.late_rtm_reply.take()
        } else {
            None
        };
        if let Some(reply) = late_reply {
            // Slack may confirm the last message of a dropped socket on the next one.
            let _ = socket.send(Message::Text(Utf8Bytes::from(reply))).await;
        }
        if kind == Kind::SocketMode && shared.lock().faults.refresh_after_hello {
            let frame = serde_json::json!({
                "type": "disconnect",
                "reason": "refresh_requested",
                "debug_info": {"host": format!("sim-applink-{id}")},
            });
            let _ = socket
                .send(Message::Text(Utf8Bytes::from(frame.to_string())))
                .await;
        }
        let over_limit = kind == Kind::SocketMode
            && Shared::live_ids(&shared.lock()).len() > shared.config.max_sockets;
        if over_limit {
            // Slack's answer to an app past its sockets: this one goes, and gets nothing.
            if let Some(entry) = shared.lock().sockets.get_mut(&id) {
                entry.live = false;
            }
            let frame = serde_json::json!({
                "type": "disconnect",
                "reason": "too_many_websockets",
                "debug_info": {"host": format!("sim-applink-{id}")},
            });
            let _ = socket
                .send(Message::Text(Utf8Bytes::from(frame.to_string())))
                .await;
            shared.lock().stats.refused_over_limit += 1;
            shared.notify();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let silent = {
            let mut inner = shared.lock();
            let silent = inner.faults.half_open_after_hello > 0;
            inner.faults.half_open_after_hello =
                inner.faults.half_open_after_hello.saturating_sub(1);
            silent
        };
        if over_limit {
            Outcome::Gone
        } else if silent {
            Outcome::HalfOpen
        } else {
            run(&shared, id, kind, &mut socket, &mut inbox, shutdown.clone()).await
        }
    } else {
        Outcome::Gone
    };
    if let Outcome::HalfOpen = outcome {
        hold_half_open(&shared, &mut inbox, shutdown).await;
    }
    shared.remove_socket(id);
    shared.notify();
    tracing::debug!(socket = id, ?outcome, "sim socket ended");
    // Dropping the socket here closes TCP without a close frame unless one was sent.
    drop(socket);
}

/// A half-open socket stays registered, as Slack would not know it is dead either: envelopes
/// routed to it vanish and come back as redeliveries on another socket. After
/// `half_open_hold` the server "notices" and lets it go.
async fn hold_half_open(
    shared: &Shared,
    inbox: &mut mpsc::Receiver<SocketCommand>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let until = Instant::now() + shared.config.half_open_hold;
    loop {
        tokio::select! {
            command = inbox.recv() => match command {
                Some(SocketCommand::Drop) | None => return,
                Some(_) => {}
            },
            () = tokio::time::sleep_until(until) => return,
            _ = shutdown.changed() => return,
        }
    }
}

#[derive(Debug)]
enum Outcome {
    Gone,
    Dropped,
    HalfOpen,
    Closed,
}

async fn run(
    shared: &Shared,
    id: u64,
    kind: Kind,
    socket: &mut WebSocket,
    inbox: &mut mpsc::Receiver<SocketCommand>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> Outcome {
    let mut ping = tokio::time::interval_at(
        Instant::now() + shared.config.server_ping_interval,
        shared.config.server_ping_interval,
    );
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut close_at: Option<(Instant, u16, String)> = None;
    // A command taken from the inbox while batching text frames, to be run next.
    let mut carried: Option<SocketCommand> = None;
    // False once told to stop reading: the client's writes then fill the TCP buffers.
    let mut reading = true;
    let mut rtm = crate::rtm::Session::new();
    loop {
        let close_sleep = async {
            match &close_at {
                Some((at, _, _)) => tokio::time::sleep_until(*at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            frame = socket.recv(), if reading => match frame {
                Some(Ok(Message::Text(text))) if kind == Kind::Rtm => {
                    if text.len() > RTM_MAX_CLIENT_FRAME {
                        // Slack's answer to a frame over 16 KB: the client is disconnected.
                        shared.lock().stats.oversized_client_frames += 1;
                        let _ = close(socket, 1009, "message too big").await;
                        return Outcome::Closed;
                    }
                    let answer = crate::rtm::answer(shared, &mut rtm, text.as_str());
                    if answer.drop {
                        return Outcome::Dropped;
                    }
                    for reply in answer.replies {
                        if socket.send(Message::Text(Utf8Bytes::from(reply))).await.is_err() {
                            return Outcome::Gone;
                        }
                    }
                    if answer.disconnect {
                        let _ = close(socket, 1008, "rate limited").await;
                        return Outcome::Closed;
                    }
                }
                Some(Ok(Message::Text(text))) => on_client_text(shared, text.as_str()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return Outcome::Gone,
                Some(Ok(_)) => {}
            },
            command = next_command(inbox, &mut carried) => {
                let Some(command) = command else { return Outcome::Gone };
                let sent = match command {
                    SocketCommand::Text(text) => {
                        send_texts(socket, text, inbox, &mut carried).await
                    }
                    SocketCommand::Binary(bytes) => socket.send(Message::Binary(bytes.into())).await,
                    SocketCommand::Drop => return Outcome::Dropped,
                    SocketCommand::HalfOpen => return Outcome::HalfOpen,
                    SocketCommand::StopReading => {
                        reading = false;
                        Ok(())
                    }
                    SocketCommand::Close { code, reason } => {
                        let _ = close(socket, code, &reason).await;
                        return Outcome::Closed;
                    }
                    SocketCommand::Goodbye { close_after } => {
                        close_at = Some((Instant::now() + close_after, 1000, String::new()));
                        socket.send(Message::Text(Utf8Bytes::from(r#"{"type":"goodbye"}"#))).await
                    }
                    SocketCommand::Disconnect { reason, close_after } => {
                        let frame = serde_json::json!({
                            "type": "disconnect",
                            "reason": reason,
                            "debug_info": {"host": format!("sim-applink-{id}")},
                        });
                        close_at = Some((Instant::now() + close_after, 1000, String::new()));
                        socket.send(Message::Text(Utf8Bytes::from(frame.to_string()))).await
                    }
                };
                if sent.is_err() {
                    return Outcome::Gone;
                }
            }
            _ = ping.tick() => {
                let payload = format!("Ping from sim-applink-{id}");
                if socket.send(Message::Ping(payload.into_bytes().into())).await.is_err() {
                    return Outcome::Gone;
                }
            }
            () = close_sleep => {
                let (_, code, reason) = close_at.take().unwrap_or((Instant::now(), 1000, String::new()));
                let _ = close(socket, code, &reason).await;
                return Outcome::Closed;
            }
            _ = shutdown.changed() => {
                let _ = close(socket, 1001, "simulator shutting down").await;
                return Outcome::Closed;
            }
        }
    }
}

/// Text frames queued together go out in one write, as a busy server's would.
const FRAMES_PER_WRITE: usize = 64;

/// The carried command if there is one, else the next from the inbox.
async fn next_command(
    inbox: &mut mpsc::Receiver<SocketCommand>,
    carried: &mut Option<SocketCommand>,
) -> Option<SocketCommand> {
    match carried.take() {
        Some(command) => Some(command),
        None => inbox.recv().await,
    }
}

/// Sends `first` and the text frames queued behind it with one flush. A command of another
/// kind ends the batch and is carried to the next turn, so order is kept.
async fn send_texts(
    socket: &mut WebSocket,
    first: String,
    inbox: &mut mpsc::Receiver<SocketCommand>,
    carried: &mut Option<SocketCommand>,
) -> Result<(), axum::Error> {
    use futures_util::SinkExt as _;
    socket.feed(Message::Text(Utf8Bytes::from(first))).await?;
    for _ in 1..FRAMES_PER_WRITE {
        match inbox.try_recv() {
            Ok(SocketCommand::Text(text)) => {
                socket.feed(Message::Text(Utf8Bytes::from(text))).await?;
            }
            Ok(other) => {
                *carried = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    socket.flush().await
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) -> Result<(), axum::Error> {
    socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from(reason.to_owned()),
        })))
        .await?;
    // Give the client a moment to answer the close, as a real server would.
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        while let Some(Ok(frame)) = socket.recv().await {
            if matches!(frame, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
    Ok(())
}

fn on_client_text(shared: &Shared, text: &str) {
    #[derive(serde::Deserialize)]
    struct ClientFrame {
        envelope_id: Option<String>,
        payload: Option<serde_json::Value>,
    }
    match serde_json::from_str::<ClientFrame>(text) {
        Ok(ClientFrame {
            envelope_id: Some(envelope_id),
            payload,
        }) => shared.record_ack(envelope_id, payload),
        _ => shared.lock().stats.other_client_frames += 1,
    }
}
