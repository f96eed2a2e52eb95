//! What every WebSocket transport shares: dialling a socket URL (DNS, TCP with a bounded send
//! buffer, TLS, the upgrade, each failure named by its stage), and the task that owns a live
//! socket: one `select!` over inbound frames, the liveness timer, its writes and orders from
//! its slot, with every decision taken by the [`Lifecycle`]. A transport says only what its
//! frames mean ([`Protocol`]).

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{FutureExt, SinkExt, StreamExt};
use nonstop_model::Ack;
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{error, warn};

use crate::cause::{ConnectStage, DisconnectCause};
use crate::log_limit::LogLimit;
use crate::supervisor::lifecycle::{Action, Input, Lifecycle, Timing};
use crate::supervisor::{OpenError, Order, Report};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type WsSink = SplitSink<Ws, Message>;
type WsStream = SplitStream<Ws>;

/// Hard limit on one WebSocket message. Frames above a transport's own limit but below this
/// are read and dropped with an error (the socket survives); above it the socket is closed.
pub(crate) const MAX_WS_MESSAGE: usize = 16 * 1024 * 1024;
/// Bytes read from a socket at a time, and the outgoing bytes gathered before a write.
const WS_READ_BUFFER: usize = 32 * 1024;
const WS_WRITE_BUFFER: usize = 16 * 1024;
/// The socket's kernel send buffer (Linux doubles it): far more than a second of acks at
/// 1,000 events/s (about 55 KB).
const SEND_BUFFER: u32 = 64 * 1024;

/// Acks waiting for a socket's writer; beyond it, acks are dropped and Slack redelivers.
pub(crate) const ACK_QUEUE: usize = 8192;
/// Acks gathered into one write, so one write's deadline covers a bounded amount.
const ACKS_PER_WRITE: usize = 256;

/// Lines about bad input a connection writes per window; the rest are counted and the count
/// is logged with the next line (and when the socket closes).
pub(crate) const BAD_INPUT_LINES: u32 = 10;
pub(crate) const BAD_INPUT_WINDOW: Duration = Duration::from_secs(10);

/// Frames read from the socket's buffer before a timer tick is judged; bounded so a flood
/// cannot hold the tick back for long.
const BUFFERED_READS: usize = 256;

/// What one transport's frames mean. The shared loop ([`run`]) calls it for every inbound
/// frame and every keepalive; it never waits.
pub(crate) trait Protocol: Send {
    /// The protocol's name in log lines ("Socket Mode", "RTM").
    const NAME: &'static str;

    /// One text frame; a lifecycle input when it is a control frame.
    fn on_text(&mut self, text: &str, now: Instant, log: &mut LogLimit) -> Option<Input>;

    /// Counts a frame that was dropped as bad (binary frames: neither protocol sends them;
    /// text frames over `max_frame_bytes`).
    fn count_bad_frame(&self);

    /// A text frame over `max_frame_bytes` (already counted as bad): true when the protocol
    /// dealt with it (Socket Mode acks an envelope it can still name); else it is dropped
    /// with a log line.
    fn on_oversized(
        &mut self,
        _text: &str,
        _limit: usize,
        _now: Instant,
        _log: &mut LogLimit,
    ) -> bool {
        false
    }

    /// The frames of one keepalive; `stamp` is unique within the connection.
    fn keepalive(&mut self, stamp: u64) -> Vec<Message>;

    /// The frame that acks an envelope, or `None` where the transport has no acks (RTM): the
    /// journal's acks are then only a sign that the envelope is safe.
    fn ack_frame(ack: Ack) -> Option<Message>;
}

/// Connects to a socket URL: DNS, TCP (with a bounded send buffer), TLS and the upgrade, each
/// failure named by its stage. The caller bounds the whole with its connect timeout.
pub(crate) async fn dial(url: &str) -> Result<Ws, OpenError> {
    let request = url.into_client_request().map_err(|e| {
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

pub(crate) fn transient(stage: ConnectStage, detail: String) -> OpenError {
    OpenError::Transient {
        cause: DisconnectCause::ConnectFailed { stage, detail },
        retry_after: None,
    }
}

/// Reads until `hello` turns a text frame into `Some`, within `timeout`; the close that came
/// instead, or the `hello_timeout` stage. Text frames `hello` returns `Ok(None)` for are
/// ignored (`Err` names a frame that ends the attempt, e.g. RTM's `error`).
pub(crate) async fn await_hello<H>(
    ws: &mut Ws,
    timeout: Duration,
    mut hello: impl FnMut(&str) -> Result<Option<H>, DisconnectCause>,
) -> Result<H, OpenError> {
    let waited = tokio::time::timeout(timeout, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Some(found) = hello(text.as_str())? {
                        return Ok(found);
                    }
                }
                Some(Ok(Message::Close(frame))) => return Err(close_cause(frame)),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(classify_read_error(&e)),
                None => return Err(DisconnectCause::EofWithoutClose),
            }
        }
    })
    .await;
    match waited {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(cause)) => Err(OpenError::Transient {
            cause,
            retry_after: None,
        }),
        Err(_) => Err(transient(
            ConnectStage::HelloTimeout,
            format!("no hello within {timeout:?}"),
        )),
    }
}

/// How one live socket is run.
pub(crate) struct Running<P> {
    pub(crate) connection: u64,
    pub(crate) ws: Ws,
    pub(crate) protocol: P,
    pub(crate) timing: Timing,
    /// The envelopes' acks, from the journal's writer.
    pub(crate) acks: mpsc::Receiver<Ack>,
    /// Other frames the transport sends (RTM's messages); closed where there are none.
    pub(crate) outgoing: mpsc::Receiver<Message>,
    /// How long a close may take at the end.
    pub(crate) drain_timeout: Duration,
    /// Text frames larger than this are not parsed (`Config::max_frame_bytes`).
    pub(crate) max_frame_bytes: usize,
}

/// Runs a live socket until it closes, then reports why to its slot.
///
/// Reading and writing are apart: the socket is split, and its writes (acks, keepalives) run
/// in a future of their own with a deadline (`dead_after`), polled in the same `select!`. A
/// peer that stops reading stalls only that future; frames, the liveness timer and orders go
/// on, and the stalled write ends the socket as `write_stalled`.
pub(crate) async fn run<P: Protocol>(
    running: Running<P>,
    mut orders: mpsc::Receiver<Order>,
    reports: mpsc::Sender<Report>,
) {
    let Running {
        connection,
        ws,
        mut protocol,
        timing,
        mut acks,
        mut outgoing,
        drain_timeout,
        max_frame_bytes,
    } = running;
    let started = Instant::now();
    let mut lifecycle = Lifecycle::new(started, timing);
    let (mut sink, mut stream) = ws.split();
    // One keepalive waiting is enough: if it has not gone out, the next one would not either.
    let (keepalive_tx, mut keepalive_rx) = mpsc::channel::<Vec<Message>>(1);
    let mut stamp = 0u64;
    let mut deadline = lifecycle.next_deadline();
    let timer = tokio::time::sleep_until(deadline);
    tokio::pin!(timer);
    let mut bad_input_log = LogLimit::new(BAD_INPUT_LINES, BAD_INPUT_WINDOW);
    let cause = {
        let writer = write_frames::<P>(
            &mut sink,
            &mut acks,
            &mut keepalive_rx,
            &mut outgoing,
            timing.dead_after,
        );
        tokio::pin!(writer);
        loop {
            let mut actions = Vec::new();
            let mut ticked = false;
            let mut ended = None;
            tokio::select! {
                frame = stream.next() => {
                    ended = on_message(connection, max_frame_bytes, &mut protocol, &mut lifecycle, frame, &mut actions, &mut bad_input_log);
                }
                () = &mut timer => {
                    // Judge silence by what the socket could deliver: read what already waits
                    // in its buffer first (after a stall of this process, the server's frames
                    // are there).
                    for _ in 0..BUFFERED_READS {
                        let Some(frame) = stream.next().now_or_never() else { break };
                        ended = on_message(connection, max_frame_bytes, &mut protocol, &mut lifecycle, frame, &mut actions, &mut bad_input_log);
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
            let keepalive = || {
                stamp += 1;
                protocol.keepalive(stamp)
            };
            if let Some(cause) = carry_out(connection, actions, keepalive, &keepalive_tx, &reports)
            {
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
    close_politely(&mut sink, &mut stream, &cause, drain_timeout).await;
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

/// Carries out the lifecycle's decisions for a live socket; the cause when one closes it.
fn carry_out(
    connection: u64,
    actions: Vec<Action>,
    mut keepalive: impl FnMut() -> Vec<Message>,
    keepalives: &mpsc::Sender<Vec<Message>>,
    reports: &mpsc::Sender<Report>,
) -> Option<DisconnectCause> {
    let mut closing = None;
    for action in actions {
        match action {
            Action::SendPing => {
                // Full means the last keepalive has not gone out yet: the write deadline
                // covers that.
                let _ = keepalives.try_send(keepalive());
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
    closing
}

/// One inbound message (or the end of the stream) through the lifecycle; the cause when it
/// ends the socket.
fn on_message<P: Protocol>(
    connection: u64,
    max_frame_bytes: usize,
    protocol: &mut P,
    lifecycle: &mut Lifecycle,
    frame: Option<Result<Message, tungstenite::Error>>,
    actions: &mut Vec<Action>,
    log: &mut LogLimit,
) -> Option<DisconnectCause> {
    let now = Instant::now();
    match frame {
        Some(Ok(Message::Text(text))) if text.len() > max_frame_bytes => {
            actions.extend(lifecycle.on(Input::Frame, now));
            protocol.count_bad_frame();
            if !protocol.on_oversized(text.as_str(), max_frame_bytes, now, log) {
                if let Some(folded) = log.admit(now) {
                    error!(
                        connection,
                        bytes = text.len(),
                        limit = max_frame_bytes,
                        folded,
                        "oversized frame dropped"
                    );
                }
            }
            None
        }
        Some(Ok(Message::Text(text))) => {
            actions.extend(lifecycle.on(Input::Frame, now));
            if let Some(more) = protocol.on_text(text.as_str(), now, log) {
                actions.extend(lifecycle.on(more, now));
            }
            None
        }
        Some(Ok(Message::Binary(bytes))) => {
            actions.extend(lifecycle.on(Input::Frame, now));
            protocol.count_bad_frame();
            if let Some(folded) = log.admit(now) {
                error!(
                    connection,
                    bytes = bytes.len(),
                    folded,
                    "binary frame dropped: {} sends text frames only",
                    P::NAME
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

/// Writes acks, keepalives and the transport's other frames as they come, each write within
/// `deadline`; returns only when a write fails or stalls, with the cause that ends the socket.
async fn write_frames<P: Protocol>(
    sink: &mut WsSink,
    acks: &mut mpsc::Receiver<Ack>,
    keepalives: &mut mpsc::Receiver<Vec<Message>>,
    outgoing: &mut mpsc::Receiver<Message>,
    deadline: Duration,
) -> DisconnectCause {
    loop {
        let first = tokio::select! {
            Some(ack) = acks.recv() => match P::ack_frame(ack) {
                Some(frame) => vec![frame],
                None => continue,
            },
            Some(frames) = keepalives.recv() => frames,
            Some(frame) = outgoing.recv() => vec![frame],
            else => std::future::pending().await,
        };
        let write = async {
            for frame in first {
                sink.feed(frame).await?;
            }
            // Acks that came back together go out in one write.
            for _ in 0..ACKS_PER_WRITE {
                let Ok(next) = acks.try_recv() else { break };
                if let Some(frame) = P::ack_frame(next) {
                    sink.feed(frame).await?;
                }
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
