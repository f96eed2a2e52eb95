//! Between the socket and the handlers: the envelope handed on, and the intake that passes it
//! to the journal.
//!
//! Invariant: an envelope is acked only once the journal holds it. The read loop submits it
//! without waiting; the journal's writer commits it, dedups it by event id, and sends the ack
//! back to the socket that delivered it. The one exception is the bot's own messages: they
//! are acked at receipt and dropped, as no handler may see them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use nonstop_model::{Ack, EnvelopeKind, EventCallback, ParsedFrame};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::context::BotIdentity;
use crate::journal::writer::{Op, Rejection, Submission};
use crate::journal::NewEntry;
use crate::status::Status;

/// One envelope as the handlers see it, whichever socket it came on.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub envelope_id: String,
    pub kind: EnvelopeKind,
    /// `payload.event_id` for Events API envelopes.
    pub event_id: Option<String>,
    /// Slack's redelivery count: 0 on a first delivery.
    pub retry_attempt: u32,
    pub retry_reason: Option<String>,
    pub accepts_response_payload: bool,
    /// The whole frame as received; parsed off the read loop.
    pub raw: Arc<str>,
    pub received_at: Instant,
    /// Which connection delivered it (0 for an envelope replayed from the journal).
    pub connection: u64,
    /// 0 normally; 1 or more when the event is replayed from the journal after a restart, so
    /// a handler may already have started on it (the number counts recorded starts, at least
    /// 1). A handler with side effects that must not happen twice (a reply, a payment) can
    /// check for them when this is not 0.
    pub attempt: u32,
    /// Set on envelopes whose ack waits for a listener's response payload.
    pub(crate) ack: Option<AckHandle>,
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
    /// The key that identifies this delivery across sockets and retries.
    pub fn dedup_key(&self) -> &str {
        self.event_id.as_deref().unwrap_or(&self.envelope_id)
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
        connection: u64,
        attempt: u32,
    ) -> Option<Self> {
        let ParsedFrame::Envelope {
            envelope_id,
            kind,
            accepts_response_payload,
            retry_attempt,
            retry_reason,
            event_id,
            ..
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
            connection,
            attempt,
            ack: None,
        })
    }

    /// Rebuilds an envelope from its journal entry, for replay. Its `attempt` is the starts
    /// recorded before, at least 1: an entry that waited in the journal may have been handed
    /// to a handler whose start was not yet written. A replay is always told so.
    pub(crate) fn from_entry(entry: &crate::journal::Entry) -> Option<Self> {
        Self::from_stored(entry, entry.attempts.max(1))
    }

    /// Rebuilds an envelope that waited in the journal for room in the dispatch queue: no
    /// handler has seen it, so it is not a replay.
    pub(crate) fn from_waiting_entry(entry: &crate::journal::Entry) -> Option<Self> {
        Self::from_stored(entry, 0)
    }

    fn from_stored(entry: &crate::journal::Entry, attempt: u32) -> Option<Self> {
        let frame = ParsedFrame::parse(entry.raw.as_bytes()).ok()?;
        Self::from_frame(frame, Arc::clone(&entry.raw), Instant::now(), 0, attempt)
    }
}

/// Why the intake could not take an envelope; it is then not acked, and Slack redelivers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    JournalBusy,
    ShuttingDown,
}

impl Refused {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::JournalBusy => "journal queue full",
            Self::ShuttingDown => "shutting down",
        }
    }
}

/// Hands envelopes from the read loops to the journal's writer without waiting.
#[derive(Debug)]
pub(crate) struct Intake {
    ops: mpsc::Sender<Op>,
    status: Arc<Status>,
    /// Who the bot is: its own messages are dropped here.
    me: Arc<BotIdentity>,
}

impl Intake {
    pub(crate) fn new(ops: mpsc::Sender<Op>, status: Arc<Status>, me: Arc<BotIdentity>) -> Self {
        Self { ops, status, me }
    }

    /// True for a message the bot wrote itself (or an edit of one). Slack sends a bot its
    /// own messages; no listener may see them, so they are acked at once and go no further:
    /// a bot that answers every message would otherwise pay a journal write and a dispatch
    /// for each of its own answers.
    pub(crate) fn is_own_message(&self, frame: &ParsedFrame) -> bool {
        let ParsedFrame::Envelope {
            event: Some(event), ..
        } = frame
        else {
            return false;
        };
        self.me.wrote(event)
    }

    /// Acks an envelope that goes no further (the bot's own message).
    pub(crate) fn ack_and_drop(&self, envelope_id: &str, acks: &mpsc::Sender<Ack>) {
        self.status.count_own_message();
        // A full or closed ack queue: the socket is stuck or gone, and Slack redelivers
        // to another one, where it is dropped again.
        let _ = acks.try_send(Ack::new(envelope_id));
    }

    /// Hands `op` to the journal's writer without waiting: a full queue refuses it.
    fn hand_over(&self, op: Op) -> Result<(), Refused> {
        match self.ops.try_send(op) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.status.count_refused();
                Err(Refused::JournalBusy)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Refused::ShuttingDown),
        }
    }

    /// An envelope that cannot be read past its id: journaled as failed with `error`, then
    /// acked (Slack would otherwise redeliver it for as long as it tries).
    pub(crate) fn reject(
        &self,
        envelope_id: &str,
        kind: &str,
        raw: &str,
        error: String,
        acks: &mpsc::Sender<Ack>,
    ) -> Result<(), Refused> {
        let entry = NewEntry {
            key: envelope_id.to_owned(),
            envelope_id: envelope_id.to_owned(),
            kind: kind.to_owned(),
            raw: Arc::from(raw),
            received_at: SystemTime::now(),
            dispatched: false,
        };
        let op = Op::Reject(Box::new(Rejection {
            entry,
            error,
            acks: acks.clone(),
        }));
        self.hand_over(op)
    }

    /// Queues `envelope` for the journal; its ack will come back on `acks`.
    pub(crate) fn submit(
        &self,
        envelope: Envelope,
        acks: &mpsc::Sender<Ack>,
    ) -> Result<(), Refused> {
        let entry = NewEntry {
            key: envelope.dedup_key().to_owned(),
            envelope_id: envelope.envelope_id.clone(),
            kind: envelope.kind.as_str().to_owned(),
            raw: Arc::clone(&envelope.raw),
            received_at: SystemTime::now(),
            dispatched: false,
        };
        let op = Op::Append(Box::new(Submission {
            entry,
            envelope,
            acks: acks.clone(),
        }));
        self.hand_over(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replayed_envelopes_keep_ids_and_attempts() {
        let raw: Arc<str> = Arc::from(
            r#"{"envelope_id":"e1","type":"events_api","payload":{"event_id":"Ev1","event":{"type":"message"}}}"#,
        );
        let entry = crate::journal::Entry {
            seq: 7,
            key: "Ev1".into(),
            envelope_id: "e1".into(),
            kind: "events_api".into(),
            raw,
            received_at: SystemTime::now(),
            state: crate::journal::EntryState::Dispatched,
            attempts: 1,
            error: None,
        };
        let envelope = Envelope::from_entry(&entry).unwrap();
        assert_eq!(envelope.envelope_id, "e1");
        assert_eq!(envelope.dedup_key(), "Ev1");
        assert_eq!(envelope.attempt, 1);
        assert_eq!(envelope.kind, EnvelopeKind::EventsApi);
    }

    #[test]
    fn intake_refuses_without_blocking_when_the_journal_is_busy() {
        let (ops, _rx) = mpsc::channel(1);
        let intake = Intake::new(ops, Arc::new(Status::new()), Arc::default());
        let (acks, _acks_rx) = mpsc::channel(4);
        let envelope = |id: &str| Envelope {
            envelope_id: id.into(),
            kind: EnvelopeKind::EventsApi,
            event_id: Some(format!("Ev-{id}")),
            retry_attempt: 0,
            retry_reason: None,
            accepts_response_payload: false,
            raw: Arc::from("{}"),
            received_at: Instant::now(),
            connection: 1,
            attempt: 0,
            ack: None,
        };
        assert_eq!(intake.submit(envelope("e1"), &acks), Ok(()));
        assert_eq!(
            intake.submit(envelope("e2"), &acks),
            Err(Refused::JournalBusy)
        );
    }
}
