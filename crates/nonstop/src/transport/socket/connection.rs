//! One Socket Mode WebSocket: opening it (`apps.connections.open`, the upgrade, `hello`) and
//! what its frames mean ([`SocketFrames`]); the loop that runs it is the one every WebSocket
//! transport shares (`transport::ws::run`).

use std::sync::Arc;
use std::time::Duration;

use nonstop_model::socket_mode::FrameError;
use nonstop_model::{printable, Ack, DisconnectReason, ParsedFrame};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, error, warn};

use crate::cause::{ConnectStage, DisconnectCause};
use crate::config::Config;
use crate::delivery::Intake;
use crate::envelope::Envelope;
use crate::error::Error;
use crate::log_limit::LogLimit;
use crate::status::Status;
use crate::supervisor::lifecycle::{Input, Timing};
use crate::supervisor::{OpenError, Order, Report};
use crate::transport::ws::{self, Protocol, Ws, BAD_INPUT_LINES, BAD_INPUT_WINDOW};

/// What every socket task needs.
#[derive(Debug)]
pub(crate) struct SocketContext {
    pub(crate) config: Config,
    pub(crate) web: nonstop_web::WebClient,
    pub(crate) intake: Arc<Intake>,
    pub(crate) status: Arc<Status>,
}

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
            return Err(ws::transient(
                ConnectStage::Handshake,
                format!(
                    "apps.connections.open and the upgrade took over connect_timeout ({:?})",
                    config.connect_timeout
                ),
            ))
        }
    };
    let mut log = LogLimit::new(BAD_INPUT_LINES, BAD_INPUT_WINDOW);
    // The first unreadable frame before hello: if no hello comes, the timeout names it.
    let mut unreadable: Option<(usize, String)> = None;
    let hello = ws::await_hello(&mut ws, config.hello_timeout, |text| {
        match ParsedFrame::parse(text.as_bytes()) {
            Ok(ParsedFrame::Hello {
                approximate_connection_time,
                host,
                ignored,
                ..
            }) => {
                if !ignored.is_empty() {
                    warn!(fields = %ignored.join(","), "hello with unreadable fields; they are ignored and the socket is live");
                }
                return Ok(Some((approximate_connection_time, host)));
            }
            Ok(other) => debug!(?other, "frame before hello ignored"),
            Err(e) => {
                let (count, _) = unreadable.get_or_insert_with(|| (0, e.to_string()));
                *count += 1;
                if let Some(folded) = log.admit(Instant::now()) {
                    warn!(error = %e, folded, "malformed frame before hello ignored");
                }
            }
        }
        Ok(None)
    })
    .await;
    let (approximate_connection_time, host) = match (hello, unreadable) {
        (Ok(hello), _) => hello,
        // No hello, but frames that could not be read: likely the hello itself.
        (
            Err(OpenError::Transient {
                cause:
                    DisconnectCause::ConnectFailed {
                        stage: ConnectStage::HelloTimeout,
                        detail,
                    },
                retry_after,
            }),
            Some((count, first)),
        ) => {
            return Err(OpenError::Transient {
                cause: DisconnectCause::Protocol {
                    detail: format!(
                        "{detail}, but {count} unreadable frame(s) instead (the hello, perhaps); the first: {first}"
                    ),
                },
                retry_after,
            })
        }
        (Err(e), _) => return Err(e),
    };
    Ok(Opened {
        ws,
        approximate_connection_time: approximate_connection_time.and_then(connection_lifetime),
        host,
    })
}

/// `apps.connections.open`, then the socket to the URL it gave: DNS, TCP (with a bounded send
/// buffer), TLS and the upgrade, each failure named by its stage.
async fn connect(ctx: &SocketContext) -> Result<Ws, OpenError> {
    // Config::validate requires the app token for Socket Mode; this is its last word.
    let missing = crate::config::ConfigError::Missing {
        name: crate::config::ENV_APP_TOKEN,
        hint: crate::config::APP_TOKEN_HINT,
    };
    let app_token =
        (ctx.config.app_token.as_ref()).ok_or(OpenError::Fatal(Error::Config(missing)))?;
    let url = match ctx.web.apps_connections_open(app_token).await {
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
    ws::dial(&url).await
}

/// Runs a live socket until it closes, then reports why.
pub(crate) async fn run(
    ctx: Arc<SocketContext>,
    connection: u64,
    opened: Opened,
    orders: mpsc::Receiver<Order>,
    reports: mpsc::Sender<Report>,
) {
    let config = &ctx.config;
    let started = Instant::now();
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
    let timing = Timing {
        ping_interval: config.ping_interval,
        dead_after: config.dead_after,
        refresh_at,
    };
    let (acks_tx, acks) = mpsc::channel::<Ack>(ws::ACK_QUEUE);
    // Socket Mode sends nothing but acks and pings.
    let (_, outgoing) = mpsc::channel(1);
    let running = ws::Running {
        connection,
        ws: opened.ws,
        protocol: SocketFrames {
            ctx: Arc::clone(&ctx),
            connection,
            acks: acks_tx,
        },
        timing,
        acks,
        outgoing,
        drain_timeout: config.drain_timeout,
        max_frame_bytes: config.max_frame_bytes,
    };
    ws::run(running, orders, reports).await;
}

/// What Socket Mode frames mean: envelopes go to the intake (their acks come back through
/// the journal), `disconnect` asks for a replacement or a close.
struct SocketFrames {
    ctx: Arc<SocketContext>,
    connection: u64,
    acks: mpsc::Sender<Ack>,
}

impl Protocol for SocketFrames {
    const NAME: &'static str = "Socket Mode";

    fn on_text(&mut self, text: &str, now: Instant, log: &mut LogLimit) -> Option<Input> {
        on_text(&self.ctx, self.connection, &self.acks, text, now, log)
    }

    fn count_bad_frame(&self) {
        self.ctx.status.count_bad_frame();
    }

    /// An envelope too large to read is recorded as failed (without its bytes) and acked,
    /// or Slack would send it again for as long as it tries.
    fn on_oversized(&mut self, text: &str, limit: usize, now: Instant, log: &mut LogLimit) -> bool {
        let connection = self.connection;
        let Some(envelope_id) = envelope_id_in(text) else {
            return false;
        };
        if let Some(folded) = log.admit(now) {
            error!(connection, envelope_id = %printable(&envelope_id), bytes = text.len(), limit, folded, "oversized envelope: recorded as failed and acked");
        }
        let why = format!(
            "envelope of {} bytes is over max_frame_bytes ({limit})",
            text.len()
        );
        if let Err(refused) =
            self.ctx
                .intake
                .reject(&envelope_id, "oversized", "{}", why, &self.acks)
        {
            if let Some(folded) = log.admit(now) {
                warn!(connection, envelope_id = %printable(&envelope_id), why = refused.as_str(), folded, "envelope not acked; Slack will redeliver it");
            }
        }
        true
    }

    fn keepalive(&mut self, stamp: u64) -> Vec<Message> {
        vec![Message::Ping(stamp.to_string().into_bytes().into())]
    }

    fn ack_frame(ack: Ack) -> Option<Message> {
        Some(Message::Text(ack.to_json().into()))
    }
}

/// What the lifecycle makes of Slack's `disconnect`: `too_many_websockets` must close before
/// another socket can open, `link_disabled` cannot be helped by reconnecting; every other
/// reason (`warning`, `refresh_requested`, ones we don't know) is a refresh: make before
/// break.
fn disconnect_input(reason: DisconnectReason) -> Input {
    match reason {
        DisconnectReason::LinkDisabled | DisconnectReason::TooManyWebsockets => {
            Input::CloseFirst(DisconnectCause::SlackDisconnect(reason))
        }
        _ => Input::ReplacementAsked("slack disconnect"),
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
            let envelope = Envelope::from_frame(frame, Arc::from(text), now, 0)?;
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
            Some(disconnect_input(reason))
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn refresh_reasons_make_before_break_and_two_close_first() {
        for reason in [
            DisconnectReason::Warning,
            DisconnectReason::RefreshRequested,
            DisconnectReason::Other("server_maintenance".into()),
        ] {
            assert_eq!(
                disconnect_input(reason),
                Input::ReplacementAsked("slack disconnect")
            );
        }
        for reason in [
            DisconnectReason::TooManyWebsockets,
            DisconnectReason::LinkDisabled,
        ] {
            assert_eq!(
                disconnect_input(reason.clone()),
                Input::CloseFirst(DisconnectCause::SlackDisconnect(reason))
            );
        }
    }
}
