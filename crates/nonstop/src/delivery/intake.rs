//! The intake: where a read loop hands an envelope on, without waiting. The bot's own
//! messages are acked and dropped here; everything else goes to the journal's writer, which
//! acks it once it is written.

use std::sync::Arc;
use std::time::SystemTime;

use nonstop_model::{Ack, ParsedFrame};
use tokio::sync::mpsc;

use super::writer::{Op, Rejection, Submission};
use super::Envelope;
use crate::identity::BotIdentity;
use crate::journal::NewEntry;
use crate::status::Status;

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
    use nonstop_model::EnvelopeKind;
    use tokio::time::Instant;

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
            attempt: 0,
            ack: None,
            key: None,
        };
        assert_eq!(intake.submit(envelope("e1"), &acks), Ok(()));
        assert_eq!(
            intake.submit(envelope("e2"), &acks),
            Err(Refused::JournalBusy)
        );
    }
}
