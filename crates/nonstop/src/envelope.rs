//! What comes in, as everything after the transport sees it: the [`Envelope`] (whichever way
//! it came), the [`AckHandle`] that carries a listener's response payload back to the socket,
//! and the `events_api` envelope an event that came without one is wrapped in. Transports
//! build envelopes, delivery journals and routes them, the bot API hands them to handlers;
//! this file imports none of them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nonstop_model::{Ack, EnvelopeKind, EventCallback, ParsedFrame};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// The `retry_reason` of an event fetched from history after downtime.
pub(crate) const CATCH_UP: &str = "catch_up";

/// One envelope as the handlers see it, whichever way it came (a Socket Mode envelope, an RTM
/// event, a message caught up from history, a replay from the journal). Read-only: the
/// runtime builds it, and may add to it without breaking a handler.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub(crate) envelope_id: String,
    pub(crate) kind: EnvelopeKind,
    /// `payload.event_id` for Events API envelopes.
    pub(crate) event_id: Option<String>,
    pub(crate) retry_attempt: u32,
    pub(crate) retry_reason: Option<String>,
    pub(crate) accepts_response_payload: bool,
    /// The whole frame as received; parsed off the read loop.
    pub(crate) raw: Arc<str>,
    pub(crate) received_at: Instant,
    pub(crate) attempt: u32,
    /// Set on envelopes whose ack waits for a listener's response payload.
    pub(crate) ack: Option<AckHandle>,
    /// The dedup key when it is not the event id: `msg:<channel>:<ts>` for a message event
    /// (the same on every path a message can come by: an envelope, RTM, catch-up from
    /// history), or, for an envelope read back from the journal, the key it is held under
    /// there (whatever made it).
    pub(crate) key: Option<String>,
}

/// The ack of one envelope that accepts a response payload, held back after the journal
/// commit until a listener answers or the deadline passes. The first answer wins; later ones
/// are ignored, so the deadline, the listener and the dispatcher can all try.
#[derive(Clone)]
pub(crate) struct AckHandle {
    inner: Arc<AckInner>,
}

struct AckInner {
    envelope_id: String,
    acks: mpsc::Sender<Ack>,
    sent: AtomicBool,
}

impl std::fmt::Debug for AckHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AckHandle")
            .field("envelope_id", &self.inner.envelope_id)
            .field("sent", &self.inner.sent.load(Ordering::Relaxed))
            .finish()
    }
}

impl AckHandle {
    pub(crate) fn new(envelope_id: String, acks: mpsc::Sender<Ack>) -> Self {
        Self {
            inner: Arc::new(AckInner {
                envelope_id,
                acks,
                sent: AtomicBool::new(false),
            }),
        }
    }

    /// Sends the ack with `payload` unless one went out already. True when this call sent it.
    pub(crate) fn send(&self, payload: Option<serde_json::Value>) -> bool {
        if self.inner.sent.swap(true, Ordering::AcqRel) {
            return false;
        }
        let ack = Ack {
            envelope_id: self.inner.envelope_id.clone(),
            payload,
        };
        // A closed or full queue means the socket is gone or stuck: Slack redelivers, and the
        // journal knows the event.
        let _ = self.inner.acks.try_send(ack);
        true
    }
}

impl Envelope {
    /// The envelope's id (Socket Mode's `envelope_id`; an RTM or caught-up event's key).
    pub fn envelope_id(&self) -> &str {
        &self.envelope_id
    }

    /// What kind of envelope it is (`events_api`, `slash_commands`, `interactive`, …).
    pub fn kind(&self) -> &EnvelopeKind {
        &self.kind
    }

    /// `payload.event_id` of an Events API envelope.
    pub fn event_id(&self) -> Option<&str> {
        self.event_id.as_deref()
    }

    /// Slack's redelivery count: 0 on a first delivery.
    pub fn retry_attempt(&self) -> u32 {
        self.retry_attempt
    }

    /// Why Slack delivered it again, or `catch_up` for an event fetched from history.
    pub fn retry_reason(&self) -> Option<&str> {
        self.retry_reason.as_deref()
    }

    /// True when Slack waits for a response payload in the ack (slash commands, some
    /// interactions).
    pub fn accepts_response_payload(&self) -> bool {
        self.accepts_response_payload
    }

    /// The whole frame as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// 0 normally; 1 or more when the event is replayed from the journal after a restart, so
    /// a handler may already have started on it (the number counts recorded starts, at least
    /// 1). A handler with side effects that must not happen twice (a reply, a payment) can
    /// check for them when this is not 0.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The key that identifies this delivery across sockets, retries and transports: a
    /// message's channel and `ts`, else the event id, else the envelope id.
    pub fn dedup_key(&self) -> &str {
        self.key
            .as_deref()
            .or(self.event_id.as_deref())
            .unwrap_or(&self.envelope_id)
    }

    /// True for an event fetched from history after the bot was away (`retry_reason`
    /// `catch_up`), not delivered by Slack.
    pub fn is_catch_up(&self) -> bool {
        self.retry_reason.as_deref() == Some(CATCH_UP)
    }

    /// The envelope's `payload`, parsed.
    pub fn payload(&self) -> Result<serde_json::Value, serde_json::Error> {
        #[derive(serde::Deserialize)]
        struct Outer {
            #[serde(default)]
            payload: serde_json::Value,
        }
        serde_json::from_str::<Outer>(&self.raw).map(|o| o.payload)
    }

    /// The `event_callback` payload of an Events API envelope.
    pub fn event_callback(&self) -> Option<EventCallback> {
        if self.kind != EnvelopeKind::EventsApi {
            return None;
        }
        serde_json::from_value(self.payload().ok()?).ok()
    }
}

impl Envelope {
    /// An envelope from a classified frame; `None` when the frame is not an envelope.
    pub(crate) fn from_frame(
        frame: ParsedFrame,
        raw: Arc<str>,
        received_at: Instant,
        attempt: u32,
    ) -> Option<Self> {
        let ParsedFrame::Envelope {
            envelope_id,
            kind,
            accepts_response_payload,
            retry_attempt,
            retry_reason,
            event_id,
            event,
        } = frame
        else {
            return None;
        };
        Some(Self {
            envelope_id,
            kind,
            event_id,
            retry_attempt,
            retry_reason,
            accepts_response_payload,
            raw,
            received_at,
            attempt,
            ack: None,
            key: event.and_then(|head| head.message_key()),
        })
    }
}

/// An event that did not come in an envelope (an RTM frame, a message fetched from history)
/// as the `events_api` envelope the rest of the runtime reads: `key` is both its envelope id
/// and its event id, `retry_reason` says how it came (`""`, or [`CATCH_UP`]). `event` must
/// be one JSON object.
pub(crate) fn wrap_event(
    event: &str,
    key: &str,
    team_id: &str,
    event_time: u64,
    retry_reason: &str,
) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    format!(
        r#"{{"envelope_id":{key},"type":"events_api","accepts_response_payload":false,"retry_attempt":0,"retry_reason":{reason},"payload":{{"type":"event_callback","team_id":{team},"event_id":{key},"event_time":{event_time},"event":{event}}}}}"#,
        key = quote(key),
        reason = quote(retry_reason),
        team = quote(team_id),
    )
}

/// The whole seconds of an event's `event_ts` (else `ts`), 0 when it has neither.
pub(crate) fn event_time(event: &serde_json::Value) -> u64 {
    event
        .get("event_ts")
        .or_else(|| event.get("ts"))
        .and_then(serde_json::Value::as_str)
        .and_then(|ts| ts.split('.').next())
        .and_then(|secs| secs.parse::<u64>().ok())
        .unwrap_or(0)
}
