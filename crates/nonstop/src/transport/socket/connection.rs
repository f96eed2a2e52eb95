//! One Socket Mode WebSocket: opening it (`apps.connections.open`, upgrade, `hello`) and the
//! task that owns it while it lives. The task is one `select!` over inbound frames, the
//! liveness timer, its writes and orders from its slot; all decisions come from [`Lifecycle`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use nonstop_model::socket_mode::FrameError;
use nonstop_model::{printable, Ack, ParsedFrame};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, error, warn};

use super::lifecycle::{Action, Input, Lifecycle, Timing};
use super::SocketContext;
use crate::cause::{ConnectStage, DisconnectCause};
use crate::delivery::Envelope;
use crate::error::Error;
use crate::log_limit::LogLimit;
use crate::supervisor::{OpenError, Order, Report};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type WsSink = SplitSink<Ws, Message>;
type WsStream = SplitStream<Ws>;

/// Hard limit on one WebSocket message. Frames above `max_frame_bytes` but below this are
/// read and dropped with an error (the socket survives); above it the socket is closed.
const MAX_WS_MESSAGE: usize = 16 * 1024 * 1024;
/// Bytes read from a socket at a time, and the outgoing bytes gathered before a write.
const WS_READ_BUFFER: usize = 32 * 1024;
const WS_WRITE_BUFFER: usize = 16 * 1024;
/// The socket's kernel send buffer (Linux doubles it): far more than a second of acks at
/// 1,000 events/s (about 55 KB).
const SEND_BUFFER: u32 = 64 * 1024;

/// Acks waiting for this socket's writer; beyond it, acks are dropped and Slack redelivers.
const ACK_QUEUE: usize = 8192;
/// Acks gathered into one write, so one write's deadline covers a bounded amount.
const ACKS_PER_WRITE: usize = 256;

/// Bounds on Slack's `approximate_connection_time` as the socket's planned lifetime. Slack
/// says about five hours. Under a couple of seconds the number means nothing (0 would have
/// the bot replace its sockets again and again): no replacement is planned, and Slack's own
/// `disconnect` still replaces the socket. Over a day it is capped: a huge one overflowed the
/// clock (a panic that ended the slot).
const MIN_CONNECTION_LIFETIME: Duration = Duration::from_secs(2);
const MAX_CONNECTION_LIFETIME: Duration = Duration::from_secs(24 * 3600);

/// Slack's `approximate_connection_time`, in seconds, as a planned lifetime within those
/// bounds; `None` when too short to mean anything.
fn connection_lifetime(secs: u64) -> Option<Duration> {
    let lifetime = Duration::from_secs(secs);
    (lifetime >= MIN_CONNECTION_LIFETIME).then(|| lifetime.min(MAX_CONNECTION_LIFETIME))
}

/// A socket that said `hello`.
pub(crate) struct Opened {
    ws: Ws,
    pub(crate) approximate_connection_time: Option<Duration>,
    pub(crate) host: Option<String>,
}

/// Opens a socket: a fresh URL from `apps.connections.open`, the upgrade, then `hello`. The
/// first two together within `connect_timeout`, `hello` within `hello_timeout`.
pub(crate) async fn open(ctx: &SocketContext) -> Result<Opened, OpenError> {
    let config = &ctx.config;
    let mut ws = match tokio::time::timeout(config.connect_timeout, connect(ctx)).await {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(transient(
                ConnectStage::Handshake,
                format!(
                    "apps.connections.open and the upgrade took over connect_timeout ({:?})",
                    config.connect_timeout
                ),
            ))
        }
    };
    let mut log = LogLimit::new(BAD_INPUT_LINES, BAD_INPUT_WINDOW);
    let hello = tokio::time::timeout(config.hello_timeout, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => match ParsedFrame::parse(text.as_bytes()) {
                    Ok(ParsedFrame::Hello {
                        approximate_connection_time,
                        host,
                        ..
                    }) => return Ok((approximate_connection_time, host)),
                    Ok(other) => debug!(?other, "frame before hello ignored"),
                    Err(e) => {
                        if let Some(folded) = log.admit(Instant::now()) {
                            warn!(error = %e, folded, "malformed frame before hello ignored");
                        }
                    }
                },
                Some(Ok(Message::Close(frame))) => return Err(close_cause(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(classify_read_error(&e)),
                None => return Err(DisconnectCause::EofWithoutClose),
            }
        }
    })
    .await;
    match hello {
        Ok(Ok((approximate_connection_time, host))) => Ok(Opened {
            ws,
            approximate_connection_time: approximate_connection_time.and_then(connection_lifetime),
            host,
        }),
        Ok(Err(cause)) => Err(OpenError::Transient {
            cause,
            retry_after: None,
        }),
        Err(_) => Err(transient(
            ConnectStage::HelloTimeout,
            format!("no hello within {:?}", config.hello_timeout),
        )),
    }
}

/// `apps.connections.open`, then the socket to the URL it gave: DNS, TCP (with a bounded send
/// buffer), TLS and the upgrade, each failure named by its stage.
async fn connect(ctx: &SocketContext) -> Result<Ws, OpenError> {
    let url = match ctx.web.apps_connections_open(&ctx.config.app_token).await {
        Ok(url) => url,
        Err(e) if e.is_fatal() => return Err(OpenError::Fatal(Error::from_web(&e))),
        Err(e) => {
            return Err(OpenError::Transient {
                retry_after: e.retry_after(),
                cause: DisconnectCause::ConnectApi {
                    detail: e.to_string(),
                },
            })
        }
    };
    let request = url.as_str().into_client_request().map_err(|e| {
        transient(
            ConnectStage::Handshake,
            format!("bad socket URL from Slack: {e}"),
        )
    })?;
    let uri = request.uri();
    let host = uri
        .host()
        .ok_or_else(|| transient(ConnectStage::Handshake, "socket URL without a host".into()))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if uri.scheme_str() == Some("ws") {
        80
    } else {
        443
    });
    let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| transient(ConnectStage::Dns, format!("{host}: {e}")))?
        .collect();
    let mut last_error = None;
    let mut tcp = None;
    for address in &addresses {
        match connect_tcp(*address).await {
            Ok(stream) => {
                tcp = Some(stream);
                break;
            }
            Err(e) => last_error = Some(format!("{address}: {e}")),
        }
    }
    let Some(tcp) = tcp else {
        let detail = last_error.unwrap_or_else(|| format!("{host} has no address"));
        return Err(transient(ConnectStage::Tcp, detail));
    };
    // Buffers of 128 KiB each (the library's default) would be touched and kept by every
    // socket for its lifetime; envelopes are a few KiB, and larger ones are still assembled.
    let ws_config = WebSocketConfig::default()
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER);
    match tokio_tungstenite::client_async_tls_with_config(request, tcp, Some(ws_config), None).await
    {
        Ok((ws, _response)) => Ok(ws),
        Err(e) => Err(OpenError::Transient {
            cause: classify_connect_error(&e),
            retry_after: None,
        }),
    }
}

/// A TCP connection whose send buffer holds a second or so of acks, not the megabytes the
/// kernel would grow it to: behind a peer that stopped reading, queued acks only arrive too
/// late to matter, and a small buffer lets the write deadline find the stall in seconds.
async fn connect_tcp(address: SocketAddr) -> std::io::Result<TcpStream> {
    let socket = if address.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_send_buffer_size(SEND_BUFFER)?;
    let stream = socket.connect(address).await?;
    // Acks go out at once, not gathered by Nagle's algorithm.
    stream.set_nodelay(true)?;
    Ok(stream)
}

fn transient(stage: ConnectStage, detail: String) -> OpenError {
    OpenError::Transient {
        cause: DisconnectCause::ConnectFailed { stage, detail },
        retry_after: None,
    }
}

/// Lines about bad input a connection writes per window; the rest are counted and the count
/// is logged with the next line (and when the socket closes).
const BAD_INPUT_LINES: u32 = 10;
const BAD_INPUT_WINDOW: Duration = Duration::from_secs(10);

/// Frames read from the socket's buffer before a timer tick is judged; bounded so a flood
/// cannot hold the tick back for long.
const BUFFERED_READS: usize = 256;

/// Runs a live socket until it closes, then reports why.
///
/// Reading and writing are apart: the socket is split, and its writes (acks, pings) run in a
/// future of their own with a deadline, polled in the same `select!`. A peer that stops
/// reading stalls only that future; frames, the liveness timer and orders go on, and the
/// stalled write ends the socket as `write_stalled`.
pub(crate) async fn run(
    ctx: Arc<SocketContext>,
    connection: u64,
    opened: Opened,
    mut orders: mpsc::Receiver<Order>,
    reports: mpsc::Sender<Report>,
) {
    let started = Instant::now();
    let config = &ctx.config;
    let refresh_at = opened.approximate_connection_time.map(|lifetime| {
        // Replace the socket before Slack does, with jitter so sockets don't move together.
        let margin = config.refresh_margin.min(lifetime / 2);
        let jitter = Duration::from_millis(rand::random_range(
            0..=margin.as_millis().min(30_000) as u64,
        ));
        let after = lifetime.saturating_sub(margin).saturating_sub(jitter);
        started
            .checked_add(after)
            .unwrap_or(started + MAX_CONNECTION_LIFETIME)
    });
    let mut lifecycle = Lifecycle::new(
        started,
        Timing {
            ping_interval: config.ping_interval,
            dead_after: config.dead_after,
            refresh_at,
        },
    );
    let (mut sink, mut stream) = opened.ws.split();
    let (acks_tx, mut acks_rx) = mpsc::channel::<Ack>(ACK_QUEUE);
    // One ping waiting is enough: if it has not gone out, the next one would not either.
    let (pings_tx, mut pings_rx) = mpsc::channel::<Vec<u8>>(1);
    let mut deadline = lifecycle.next_deadline();
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    let mut bad_input_log = LogLimit::new(BAD_INPUT_LINES, BAD_INPUT_WINDOW);
    let cause = {
        let writer = write_frames(&mut sink, &mut acks_rx, &mut pings_rx, config.dead_after);
        tokio::pin!(writer);
        loop {
            let mut actions = Vec::new();
            let mut ticked = false;
            let mut ended = None;
            tokio::select! {
                frame = stream.next() => {
                    ended = on_message(&ctx, connection, &acks_tx, &mut lifecycle, frame, &mut actions, &mut bad_input_log);
                }
                () = &mut timer => {
                    // Judge silence by what the socket could deliver: read what already waits
                    // in its buffer first (after a stall of this process, Slack's frames and
                    // redeliveries are there).
                    for _ in 0..BUFFERED_READS {
                        let Some(frame) = stream.next().now_or_never() else { break };
                        ended = on_message(&ctx, connection, &acks_tx, &mut lifecycle, frame, &mut actions, &mut bad_input_log);
                        if ended.is_some() {
                            break;
                        }
                    }
                    if ended.is_none() {
                        ticked = true;
                        actions.extend(lifecycle.on(Input::Tick, Instant::now()));
                    }
                }
                cause = &mut writer => ended = Some(cause),
                order = orders.recv() => {
                    let input = match order {
                        Some(Order::ReplacementLive) => Input::ReplacementLive,
                        Some(Order::Shutdown) | None => Input::Shutdown,
                    };
                    actions.extend(lifecycle.on(input, Instant::now()));
                }
            }
            if let Some(cause) = ended {
                break cause;
            }
            let mut closing = None;
            for action in actions {
                match action {
                    Action::SendPing => {
                        let stamp = started.elapsed().as_millis().to_string();
                        // Full means the last ping has not gone out yet: the write deadline
                        // covers that.
                        let _ = pings_tx.try_send(stamp.into_bytes());
                    }
                    Action::ProcessStalled { late_by } => {
                        warn!(
                            connection,
                            late_by_ms = late_by.as_millis() as u64,
                            "this process did not run for a while (stopped, paused or starved); \
                             reading what the socket holds and pinging before judging its silence"
                        );
                    }
                    Action::RequestReplacement(why) => {
                        let _ = reports.try_send(Report::WantsReplacement { connection, why });
                    }
                    Action::Close(cause) => closing = Some(cause),
                }
            }
            if let Some(cause) = closing {
                break cause;
            }
            // Touch the timer wheel only when the deadline moved: most frames don't move it,
            // because the next ping is due before the dead line.
            let mut next = lifecycle.next_deadline();
            if ticked {
                // Every tick moves the deadline (a ping sent, a refresh asked for, or the
                // socket closed); never let an unmoved one spin the loop.
                next = next.max(Instant::now() + Duration::from_millis(1));
            }
            if next != deadline {
                deadline = next;
                timer.as_mut().reset(next);
            }
        }
    };
    close_politely(&mut sink, &mut stream, &cause, config.drain_timeout).await;
    if bad_input_log.folded() > 0 {
        warn!(
            connection,
            folded = bad_input_log.folded(),
            "further warnings about this socket's frames were folded"
        );
    }
    let lifetime = started.elapsed();
    // The slot may be gone at shutdown; nothing else needs this report then.
    let _ = reports
        .send(Report::Closed {
            connection,
            cause,
            lifetime,
        })
        .await;
}

/// One inbound message (or the end of the stream) through the lifecycle; the cause when it
/// ends the socket.
fn on_message(
    ctx: &SocketContext,
    connection: u64,
    acks: &mpsc::Sender<Ack>,
    lifecycle: &mut Lifecycle,
    frame: Option<Result<Message, tungstenite::Error>>,
    actions: &mut Vec<Action>,
    log: &mut LogLimit,
) -> Option<DisconnectCause> {
    let now = Instant::now();
    match frame {
        Some(Ok(Message::Text(text))) => {
            actions.extend(lifecycle.on(Input::Frame, now));
            if let Some(more) = on_text(ctx, connection, acks, text.as_str(), now, log) {
                actions.extend(lifecycle.on(more, now));
            }
            None
        }
        Some(Ok(Message::Binary(bytes))) => {
            actions.extend(lifecycle.on(Input::Frame, now));
            ctx.status.count_bad_frame();
            if let Some(folded) = log.admit(now) {
                error!(
                    connection,
                    bytes = bytes.len(),
                    folded,
                    "binary frame dropped: Socket Mode sends text frames only"
                );
            }
            None
        }
        Some(Ok(Message::Close(frame))) => Some(close_cause(frame)),
        // A ping (answered by tungstenite), a pong, a raw frame: the socket is alive.
        Some(Ok(_)) => {
            actions.extend(lifecycle.on(Input::Frame, now));
            None
        }
        Some(Err(e)) => Some(classify_read_error(&e)),
        None => Some(DisconnectCause::EofWithoutClose),
    }
}

/// Writes acks and pings as they come, each write within `deadline`; returns only when a
/// write fails or stalls, with the cause that ends the socket.
async fn write_frames(
    sink: &mut WsSink,
    acks: &mut mpsc::Receiver<Ack>,
    pings: &mut mpsc::Receiver<Vec<u8>>,
    deadline: Duration,
) -> DisconnectCause {
    loop {
        let first = tokio::select! {
            Some(ack) = acks.recv() => Message::Text(ack.to_json().into()),
            Some(stamp) = pings.recv() => Message::Ping(stamp.into()),
            else => std::future::pending().await,
        };
        let write = async {
            sink.feed(first).await?;
            // Acks that came back together go out in one write.
            for _ in 0..ACKS_PER_WRITE {
                let Ok(next) = acks.try_recv() else { break };
                sink.feed(Message::Text(next.to_json().into())).await?;
            }
            sink.flush().await
        };
        match tokio::time::timeout(deadline, write).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return classify_read_error(&e),
            Err(_) => {
                return DisconnectCause::WriteStalled {
                    stalled_for: deadline,
                }
            }
        }
    }
}

/// The `envelope_id` of a frame too large to parse, found by a scan for its field (Slack puts
/// it first); `None` when there is none or it is not a plain short string.
fn envelope_id_in(text: &str) -> Option<String> {
    const FIELD: &str = "\"envelope_id\":\"";
    let start = text.find(FIELD)? + FIELD.len();
    let rest = text.get(start..)?;
    let end = rest.find('"')?;
    let id = rest.get(..end)?;
    (!id.is_empty() && id.len() <= 128 && !id.contains('\\')).then(|| id.to_owned())
}

/// Handles one text frame; returns an input for the lifecycle when the frame is a control frame.
fn on_text(
    ctx: &SocketContext,
    connection: u64,
    acks: &mpsc::Sender<Ack>,
    text: &str,
    now: Instant,
    log: &mut LogLimit,
) -> Option<Input> {
    if text.len() > ctx.config.max_frame_bytes {
        ctx.status.count_bad_frame();
        let limit = ctx.config.max_frame_bytes;
        let Some(envelope_id) = envelope_id_in(text) else {
            if let Some(folded) = log.admit(now) {
                error!(
                    connection,
                    bytes = text.len(),
                    limit,
                    folded,
                    "oversized frame dropped"
                );
            }
            return None;
        };
        // An envelope: recorded as failed (without its bytes) and acked, or Slack would send
        // it again for as long as it tries.
        if let Some(folded) = log.admit(now) {
            error!(connection, envelope_id = %printable(&envelope_id), bytes = text.len(), limit, folded, "oversized envelope: recorded as failed and acked");
        }
        let why = format!(
            "envelope of {} bytes is over max_frame_bytes ({limit})",
            text.len()
        );
        if let Err(refused) = ctx
            .intake
            .reject(&envelope_id, "oversized", "{}", why, acks)
        {
            if let Some(folded) = log.admit(now) {
                warn!(connection, envelope_id = %printable(&envelope_id), why = refused.as_str(), folded, "envelope not acked; Slack will redeliver it");
            }
        }
        return None;
    }
    let frame = match ParsedFrame::parse(text.as_bytes()) {
        Ok(frame) => frame,
        Err(FrameError::UnreadableEnvelope {
            envelope_id,
            kind,
            detail,
        }) => {
            ctx.status.count_bad_frame();
            if let Some(folded) = log.admit(now) {
                error!(connection, envelope_id = %printable(&envelope_id), kind = %printable(&kind), error = %detail, folded, "unreadable envelope: recorded as failed and acked");
            }
            let why = format!("envelope could not be read: {detail}");
            if let Err(refused) = ctx.intake.reject(&envelope_id, &kind, text, why, acks) {
                if let Some(folded) = log.admit(now) {
                    warn!(connection, envelope_id = %printable(&envelope_id), why = refused.as_str(), folded, "envelope not acked; Slack will redeliver it");
                }
            }
            return None;
        }
        Err(e) => {
            ctx.status.count_bad_frame();
            if let Some(folded) = log.admit(now) {
                error!(connection, bytes = text.len(), error = %e, folded, "unreadable frame dropped");
            }
            return None;
        }
    };
    match frame {
        ParsedFrame::Envelope {
            ref envelope_id, ..
        } if ctx.intake.is_own_message(&frame) => {
            debug!(connection, %envelope_id, "the bot's own message: acked and dropped");
            ctx.intake.ack_and_drop(envelope_id, acks);
            None
        }
        ParsedFrame::Envelope { .. } => {
            let envelope = Envelope::from_frame(frame, Arc::from(text), now, connection, 0)?;
            let envelope_id = envelope.envelope_id.clone();
            // The ack comes back on `acks` once the journal holds the envelope.
            if let Err(why) = ctx.intake.submit(envelope, acks) {
                if let Some(folded) = log.admit(now) {
                    warn!(connection, envelope_id = %printable(&envelope_id), why = why.as_str(), folded, "envelope not acked; Slack will redeliver it");
                }
            }
            None
        }
        ParsedFrame::Disconnect { reason } => {
            tracing::info!(connection, %reason, "Slack sent disconnect");
            Some(Input::Disconnect(reason))
        }
        ParsedFrame::Hello { .. } => {
            debug!(connection, "repeated hello ignored");
            None
        }
        ParsedFrame::Unknown { kind } => {
            ctx.status.count_bad_frame();
            if let Some(folded) = log.admit(now) {
                warn!(connection, kind = %printable(&kind), folded, "frame of unknown type ignored");
            }
            None
        }
    }
}

/// Sends a close frame and waits briefly for the answer, unless the peer is already gone.
async fn close_politely(
    sink: &mut WsSink,
    stream: &mut WsStream,
    cause: &DisconnectCause,
    wait: Duration,
) {
    if matches!(
        cause,
        DisconnectCause::EofWithoutClose
            | DisconnectCause::Reset
            | DisconnectCause::CloseFrame { .. }
    ) {
        return;
    }
    let (code, reason) = match cause {
        DisconnectCause::Shutdown => (CloseCode::Away, "shutting down"),
        DisconnectCause::Dead { .. } => (CloseCode::Away, "no frames received"),
        DisconnectCause::WriteStalled { .. } => (CloseCode::Away, "writes stalled"),
        _ => (CloseCode::Normal, "replaced"),
    };
    let frame = CloseFrame {
        code,
        reason: reason.into(),
    };
    // A dead or stalled socket will not answer, and its write may never drain: try briefly,
    // then go, so the slot can open the replacement at once. A live peer gets time to answer.
    let hopeless = matches!(
        cause,
        DisconnectCause::Dead { .. } | DisconnectCause::WriteStalled { .. }
    );
    let patience = if hopeless {
        Duration::from_millis(100).min(wait)
    } else {
        wait
    };
    let _ = tokio::time::timeout(patience, async {
        if sink.send(Message::Close(Some(frame))).await.is_ok() && !hopeless {
            while let Some(Ok(_)) = stream.next().await {}
        }
    })
    .await;
}

fn close_cause(frame: Option<CloseFrame>) -> DisconnectCause {
    match frame {
        Some(frame) => DisconnectCause::CloseFrame {
            code: frame.code.into(),
            reason: nonstop_model::printable(frame.reason.as_str()),
        },
        // A close frame with no status: RFC 6455 calls this 1005.
        None => DisconnectCause::CloseFrame {
            code: 1005,
            reason: "no status code".to_owned(),
        },
    }
}

fn classify_read_error(error: &tungstenite::Error) -> DisconnectCause {
    use tungstenite::error::ProtocolError;
    use tungstenite::Error as E;
    match error {
        E::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            DisconnectCause::EofWithoutClose
        }
        E::ConnectionClosed | E::AlreadyClosed => DisconnectCause::EofWithoutClose,
        E::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted => {
                DisconnectCause::Reset
            }
            std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::BrokenPipe => {
                DisconnectCause::EofWithoutClose
            }
            _ => DisconnectCause::Protocol {
                detail: format!("read failed: {io}"),
            },
        },
        E::Capacity(e) => DisconnectCause::Protocol {
            detail: format!("message over the {MAX_WS_MESSAGE}-byte limit: {e}"),
        },
        other => DisconnectCause::Protocol {
            detail: other.to_string(),
        },
    }
}

fn classify_connect_error(error: &tungstenite::Error) -> DisconnectCause {
    use tungstenite::Error as E;
    let (stage, detail) = match error {
        E::Http(response) => (
            ConnectStage::Http,
            format!("upgrade refused with HTTP {}", response.status()),
        ),
        E::Io(io) if io.to_string().contains("lookup") => (ConnectStage::Dns, io.to_string()),
        // tokio-rustls reports TLS failures (bad certificate, not TLS at all) as InvalidData.
        E::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            let mut detail = io.to_string();
            if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
                detail.push_str(": the server answered in plain text, not TLS");
            }
            (ConnectStage::Tls, detail)
        }
        E::Io(io) => (ConnectStage::Tcp, io.to_string()),
        E::Tls(tls) => (ConnectStage::Tls, tls.to_string()),
        E::Url(url) => (
            ConnectStage::Handshake,
            format!("bad socket URL from Slack: {url}"),
        ),
        other => (ConnectStage::Handshake, other.to_string()),
    };
    DisconnectCause::ConnectFailed { stage, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn an_oversized_frame_still_names_its_envelope() {
        let big = format!(
            r#"{{"envelope_id":"8b4e-1","type":"events_api","payload":{{"x":"{}"}}}}"#,
            "y".repeat(4096)
        );
        assert_eq!(envelope_id_in(&big).as_deref(), Some("8b4e-1"));
        assert_eq!(envelope_id_in(r#"{"type":"sim_padding"}"#), None);
        assert_eq!(envelope_id_in(r#"{"envelope_id":""}"#), None);
    }

    #[test]
    fn slacks_connection_time_is_kept_within_what_a_socket_can_mean() {
        assert_eq!(
            connection_lifetime(18_060),
            Some(Duration::from_secs(18_060))
        );
        assert_eq!(connection_lifetime(4), Some(Duration::from_secs(4)));
        assert_eq!(connection_lifetime(0), None);
        assert_eq!(connection_lifetime(u64::MAX), Some(MAX_CONNECTION_LIFETIME));
    }

    /// The stage a failed connect to `url` is reported at.
    async fn stage_of(url: &str) -> ConnectStage {
        let err = tokio_tungstenite::connect_async(url).await.unwrap_err();
        match classify_connect_error(&err) {
            DisconnectCause::ConnectFailed { stage, .. } => stage,
            other => panic!("not a connect failure: {other}"),
        }
    }

    /// wss:// goes through rustls (a crypto provider is present, nothing panics), and a peer
    /// that does not speak TLS is reported at the tls stage.
    #[tokio::test]
    async fn wss_to_a_non_tls_peer_fails_at_the_tls_stage() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            if let Ok((mut stream, _)) = listener.accept().await {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\n\r\nplain text, not TLS")
                    .await;
            }
        });
        let url = format!("wss://127.0.0.1:{port}/link");
        let err = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap_err();
        match classify_connect_error(&err) {
            DisconnectCause::ConnectFailed { stage, detail } => {
                assert_eq!(stage, ConnectStage::Tls);
                assert!(detail.contains("plain text, not TLS"), "{detail}");
            }
            other => panic!("not a connect failure: {other}"),
        }
    }

    #[tokio::test]
    async fn refused_tcp_is_the_tcp_stage() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert_eq!(
            stage_of(&format!("ws://127.0.0.1:{port}/link")).await,
            ConnectStage::Tcp
        );
    }
}
