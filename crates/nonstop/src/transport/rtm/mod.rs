//! The RTM API of classic Slack apps as a [`Transport`]: `rtm.connect` (or `rtm.start` when
//! configured) with the bot token, the single-use URL, `hello`, then bare event objects. The
//! loop that runs a socket is the one Socket Mode uses (`transport::ws::run`); slots, backoff
//! and make-before-break are the supervisor's.
//!
//! RTM has no envelopes, no acks and no redelivery: an event sent while no socket is live is
//! gone unless fetched from history. Every socket of the bot receives every event, so events
//! are deduplicated by a key made from the event itself (a message by channel and `ts`), and
//! each is wrapped here in the envelope shape the rest of the runtime reads, so nothing above
//! the transport knows it came over RTM.

use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use nonstop_model::{printable, Ack, ParsedFrame};
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, error, info, warn};

use crate::cause::{ConnectStage, DisconnectCause};
use crate::config::Config;
use crate::delivery::Intake;
use crate::envelope::{event_time, wrap_event, Envelope};
use crate::error::Error;
use crate::log_limit::LogLimit;
use crate::status::Status;
use crate::supervisor::lifecycle::{Input, Timing};
use crate::supervisor::{OpenError, OpenedInfo, Order, Report, Transport};
use crate::transport::ws::{self, Protocol, Ws};

pub(crate) mod send;

use send::RtmSends;

/// Slack ends an RTM connection after at most 8 hours (with `goodbye`); the bot replaces it
/// a little before, as it does a Socket Mode socket before `approximate_connection_time`.
const RTM_MAX_LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// What every RTM socket task needs.
#[derive(Debug)]
pub(crate) struct RtmContext {
    pub(crate) config: Config,
    pub(crate) web: nonstop_web::WebClient,
    pub(crate) intake: Arc<Intake>,
    pub(crate) status: Arc<Status>,
    /// Messages the outbox sends over the live sockets, and their confirmations.
    pub(crate) sends: Arc<RtmSends>,
}

/// An RTM socket that said `hello`.
pub(crate) struct Opened {
    ws: Ws,
    host: Option<String>,
    team_id: Arc<str>,
}

impl Transport for RtmContext {
    type Opened = Opened;

    async fn open(self: Arc<Self>, _connection: u64) -> Result<Opened, OpenError> {
        open(&self).await
    }

    fn describe(opened: &Opened) -> OpenedInfo {
        OpenedInfo {
            host: opened.host.clone(),
            approximate_connection_time: Some(RTM_MAX_LIFETIME),
        }
    }

    fn run(
        self: Arc<Self>,
        connection: u64,
        opened: Opened,
        orders: mpsc::Receiver<Order>,
        reports: mpsc::Sender<Report>,
    ) -> impl std::future::Future<Output = ()> + Send + 'static {
        run(self, connection, opened, orders, reports)
    }
}

/// `rtm.connect`, the upgrade (together within `connect_timeout`), then `hello` within
/// `hello_timeout`. The URL is single-use and valid for 30 s, so each attempt gets a new one.
async fn open(ctx: &RtmContext) -> Result<Opened, OpenError> {
    let config = &ctx.config;
    let connect = async {
        let answer = match ctx.web.rtm_connect(config.rtm_start).await {
            Ok(answer) => answer,
            Err(e) if e.is_fatal() => return Err(OpenError::Fatal(Error::from_web(&e))),
            Err(e) => {
                let retry_after = e.retry_after();
                if let Some(wait) = retry_after {
                    // rtm.connect allows about one call a minute; say why the bot waits.
                    warn!(
                        wait_ms = wait.as_millis() as u64,
                        "rtm.connect is rate limited (Tier 1, about one call a minute): the \
                         next socket waits as long as Slack asked"
                    );
                }
                return Err(OpenError::Transient {
                    retry_after,
                    cause: DisconnectCause::ConnectApi {
                        detail: e.to_string(),
                    },
                });
            }
        };
        let host = url_host(&answer.url);
        let ws = ws::dial(&answer.url).await?;
        Ok((ws, host, answer.team.id))
    };
    let (mut ws, host, team_id) = match tokio::time::timeout(config.connect_timeout, connect).await
    {
        Ok(result) => result?,
        Err(_) => {
            return Err(ws::transient(
                ConnectStage::Handshake,
                format!(
                    "rtm.connect and the upgrade took over connect_timeout ({:?})",
                    config.connect_timeout
                ),
            ))
        }
    };
    let mut log = LogLimit::new(ws::BAD_INPUT_LINES, ws::BAD_INPUT_WINDOW);
    ws::await_hello(&mut ws, config.hello_timeout, |text| {
        let frame: Value = match serde_json::from_str(text) {
            Ok(frame) => frame,
            Err(e) => {
                if let Some(folded) = log.admit(Instant::now()) {
                    warn!(error = %e, folded, "malformed frame before hello ignored");
                }
                return Ok(None);
            }
        };
        match frame.get("type").and_then(Value::as_str) {
            Some("hello") => Ok(Some(())),
            // Slack's answer to an expired or used URL: `{"type":"error","error":{…}}`.
            Some("error") => Err(DisconnectCause::Protocol {
                detail: format!("error frame before hello: {}", error_text(&frame)),
            }),
            // Events between rtm.connect and hello come after hello as well; RTM promises
            // nothing about what precedes it.
            _ => Ok(None),
        }
    })
    .await?;
    Ok(Opened {
        ws,
        host,
        team_id: Arc::from(team_id),
    })
}

/// The host of a socket URL, for the "live" log line.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let host = rest.split(['/', '?']).next()?;
    (!host.is_empty()).then(|| printable(host))
}

/// `{"error":{"code":1,"msg":"…"}}` in words, made safe to log.
fn error_text(frame: &Value) -> String {
    let error = &frame["error"];
    let code = error["code"].as_i64().unwrap_or(0);
    let msg = error["msg"].as_str().unwrap_or("no message");
    format!("code {code}: {}", printable(msg))
}

/// Runs a live RTM socket until it closes, then reports why.
async fn run(
    ctx: Arc<RtmContext>,
    connection: u64,
    opened: Opened,
    orders: mpsc::Receiver<Order>,
    reports: mpsc::Sender<Report>,
) {
    let config = &ctx.config;
    let started = Instant::now();
    // Replaced before Slack's 8 hours run out, with jitter so sockets don't move together.
    let margin = config.refresh_margin.min(RTM_MAX_LIFETIME / 2);
    let jitter = Duration::from_millis(rand::random_range(
        0..=margin.as_millis().min(30_000) as u64,
    ));
    let refresh_at = started + RTM_MAX_LIFETIME.saturating_sub(margin + jitter);
    let timing = Timing {
        ping_interval: config.ping_interval,
        dead_after: config.dead_after,
        refresh_at: Some(refresh_at),
    };
    // RTM has no acks: the journal's still come back here (the sign that an event is safe),
    // and the shared loop drops them.
    let (acks_tx, acks) = mpsc::channel::<Ack>(ws::ACK_QUEUE);
    let (outgoing_tx, outgoing) = mpsc::channel(send::SOCKET_QUEUE);
    // Messages may go over this socket while it runs, however its task ends.
    let _attached = ctx.sends.attach(connection, outgoing_tx);
    let running = ws::Running {
        connection,
        ws: opened.ws,
        protocol: RtmFrames {
            ctx: Arc::clone(&ctx),
            connection,
            team_id: opened.team_id,
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

/// What RTM frames mean: events become envelopes for the intake; `goodbye` and
/// `team_migration_started` ask for a replacement; `reply_to` frames answer our pings.
struct RtmFrames {
    ctx: Arc<RtmContext>,
    connection: u64,
    team_id: Arc<str>,
    acks: mpsc::Sender<Ack>,
}

impl Protocol for RtmFrames {
    const NAME: &'static str = "RTM";

    fn on_text(&mut self, text: &str, now: Instant, log: &mut LogLimit) -> Option<Input> {
        let connection = self.connection;
        let frame: Value = match serde_json::from_str(text) {
            Ok(frame @ Value::Object(_)) => frame,
            Ok(_) | Err(_) => {
                self.ctx.status.count_bad_frame();
                if let Some(folded) = log.admit(now) {
                    error!(
                        connection,
                        bytes = text.len(),
                        folded,
                        "unreadable frame dropped"
                    );
                }
                return None;
            }
        };
        if frame.get("reply_to").is_some() {
            // A pong, or the confirmation of something we sent.
            if self.ctx.sends.on_reply(&frame) {
                return None;
            }
            if frame.get("ok").and_then(Value::as_bool) == Some(false) {
                if let Some(folded) = log.admit(now) {
                    warn!(connection, error = %error_text(&frame), folded, "Slack refused a frame we sent");
                }
            }
            return None;
        }
        let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
        match kind {
            "goodbye" => {
                info!(connection, "Slack sent goodbye: replacing the socket");
                Some(Input::ReplacementAsked("goodbye"))
            }
            "team_migration_started" => {
                info!(
                    connection,
                    "Slack is moving the workspace to another server: replacing the socket"
                );
                Some(Input::ReplacementAsked("team_migration_started"))
            }
            "hello" => {
                debug!(connection, "repeated hello ignored");
                None
            }
            "error" => {
                if let Some(folded) = log.admit(now) {
                    error!(connection, error = %error_text(&frame), folded, "Slack sent an error frame");
                }
                None
            }
            // Documented as experimental and unsupported; every socket gets its own URL.
            "pong" | "reconnect_url" => None,
            "" => {
                self.ctx.status.count_bad_frame();
                if let Some(folded) = log.admit(now) {
                    warn!(connection, folded, "frame without a type ignored");
                }
                None
            }
            _ => {
                self.submit(&frame, text, now, log);
                None
            }
        }
    }

    fn count_bad_frame(&self) {
        self.ctx.status.count_bad_frame();
    }

    fn keepalive(&mut self, stamp: u64) -> Vec<Message> {
        // RTM's own ping, answered with a `pong` frame, and a WebSocket ping: either answer
        // (any frame at all) keeps the socket alive. The ping's id is from the sequence
        // messages use, so a pong never looks like a message's confirmation.
        let ping = format!(r#"{{"id":{},"type":"ping"}}"#, self.ctx.sends.next_id());
        vec![
            Message::Text(ping.into()),
            Message::Ping(stamp.to_string().into_bytes().into()),
        ]
    }

    fn ack_frame(_ack: Ack) -> Option<Message> {
        None
    }
}

impl RtmFrames {
    /// Wraps one event in an envelope and hands it to the intake.
    fn submit(&self, event: &Value, text: &str, now: Instant, log: &mut LogLimit) {
        let key = event_key(event, text);
        let raw = wrap_event(text.trim(), &key, &self.team_id, event_time(event), "");
        let Ok(frame) = ParsedFrame::parse(raw.as_bytes()) else {
            // Cannot happen for an object we just wrapped; counted all the same.
            self.ctx.status.count_bad_frame();
            return;
        };
        if self.ctx.intake.is_own_message(&frame) {
            // Proof that a message we sent landed, if its confirmation is still awaited.
            self.ctx.sends.on_own_message(event);
            debug!(connection = self.connection, key = %printable(&key), "the bot's own message dropped");
            self.ctx.intake.ack_and_drop(&key, &self.acks);
            return;
        }
        let Some(envelope) = Envelope::from_frame(frame, Arc::from(raw), now, 0) else {
            return;
        };
        if let Err(why) = self.ctx.intake.submit(envelope, &self.acks) {
            // RTM has no redelivery: the event is gone unless catch-up finds it.
            if let Some(folded) = log.admit(now) {
                warn!(connection = self.connection, key = %printable(&key), why = why.as_str(), folded, "RTM event not journaled: RTM does not send it again");
            }
        }
    }
}

/// The journal's key for an RTM event, the same on every socket that receives it: a message
/// by channel and `ts` (what `conversations.history` also gives, for catch-up), another
/// event by type, channel, user and `event_ts`, and an event with no time at all by a hash of
/// its text (the two sockets get the same bytes).
fn event_key(event: &Value, text: &str) -> String {
    let field = |name: &str| event.get(name).and_then(Value::as_str);
    let kind = field("type").unwrap_or("");
    match (kind, field("channel"), field("ts")) {
        ("message", Some(channel), Some(ts)) => format!("msg:{channel}:{ts}"),
        _ => match field("event_ts").or(field("ts")) {
            Some(at) => format!(
                "rtm:{kind}:{}:{}:{at}",
                field("channel").unwrap_or(""),
                field("user").unwrap_or("")
            ),
            None => {
                let mut hasher = std::collections::hash_map::DefaultHasher::new();
                text.hash(&mut hasher);
                format!("rtm:{kind}:h{:016x}", hasher.finish())
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str) -> String {
        event_key(&serde_json::from_str(text).unwrap(), text)
    }

    #[test]
    fn a_message_is_known_by_channel_and_ts_on_every_socket() {
        let text =
            r#"{"type":"message","channel":"C1","user":"U1","text":"hi","ts":"1700000000.000100"}"#;
        assert_eq!(key_of(text), "msg:C1:1700000000.000100");
        // The same event with its fields in another order is the same key.
        let reordered =
            r#"{"ts":"1700000000.000100","text":"hi","user":"U1","channel":"C1","type":"message"}"#;
        assert_eq!(key_of(reordered), key_of(text));
    }

    #[test]
    fn other_events_are_known_by_type_channel_user_and_time() {
        let a = r#"{"type":"reaction_added","user":"U1","reaction":"+1","item":{"type":"message","channel":"C1","ts":"1.2"},"event_ts":"1700000001.000001"}"#;
        let b = r#"{"type":"reaction_added","user":"U2","reaction":"+1","item":{"type":"message","channel":"C1","ts":"1.2"},"event_ts":"1700000001.000001"}"#;
        assert_ne!(key_of(a), key_of(b));
        let timeless = r#"{"type":"presence_change","user":"U1","presence":"away"}"#;
        assert_eq!(key_of(timeless), key_of(timeless));
        assert_ne!(
            key_of(timeless),
            key_of(r#"{"type":"presence_change","user":"U1","presence":"active"}"#)
        );
    }

    #[test]
    fn a_wrapped_event_reads_as_an_events_api_envelope() {
        let text = r#"{"type":"message","channel":"C1","user":"U1","text":"say \"hi\"","ts":"1700000000.000100"}"#;
        let event: Value = serde_json::from_str(text).unwrap();
        let key = event_key(&event, text);
        let raw = wrap_event(text, &key, "T1", event_time(&event), "");
        let frame = ParsedFrame::parse(raw.as_bytes()).unwrap();
        let envelope = Envelope::from_frame(frame, Arc::from(raw.as_str()), Instant::now(), 0)
            .expect("an envelope");
        assert_eq!(envelope.dedup_key(), "msg:C1:1700000000.000100");
        let callback = envelope.event_callback().expect("an event_callback");
        assert_eq!(callback.team_id.as_deref(), Some("T1"));
        assert_eq!(callback.event["text"], "say \"hi\"");
        assert_eq!(callback.event_time, Some(1_700_000_000));
    }

    #[test]
    fn the_host_of_a_socket_url() {
        assert_eq!(
            url_host("wss://cerberus-xxxx.lb.slack-msgs.com/websocket/abc?x=1").as_deref(),
            Some("cerberus-xxxx.lb.slack-msgs.com")
        );
        assert_eq!(url_host("nonsense"), None);
    }
}
