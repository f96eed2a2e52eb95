//! Between the transport and the handlers: the envelope handed on, the intake that passes it
//! to the journal's writer, the writer, and what happens after each commit (acks, dispatch,
//! the waiting line, the outbox's backlog).
//!
//! Invariant: an envelope is acked only once the journal holds it. The read loop submits it
//! without waiting; the journal's writer commits it, dedups it by event id, and sends the ack
//! back to the socket that delivered it. The one exception is the bot's own messages: they
//! are acked at receipt and dropped, as no handler may see them.

mod backlog;
pub(crate) mod catch_up;
mod intake;
mod routing;
pub(crate) mod takeover;
pub(crate) mod writer;

use std::sync::Arc;

use nonstop_model::ParsedFrame;
use tokio::time::Instant;

use crate::envelope::Envelope;
use crate::journal::Entry;

pub(crate) use backlog::{AnswerFeed, Handed, OutboxLink};
pub(crate) use intake::Intake;
pub(crate) use routing::Deferral;

/// Rebuilds an envelope from its journal entry, for replay. Its `attempt` is the starts
/// recorded before, at least 1: an entry that waited in the journal may have been handed to a
/// handler whose start was not yet written. A replay is always told so.
pub(crate) fn replayed_envelope(entry: &Entry) -> Option<Envelope> {
    stored_envelope(entry, entry.attempts.max(1))
}

/// Rebuilds an envelope that waited in the journal for room in the dispatch queue: no handler
/// has seen it, so it is not a replay.
pub(crate) fn waiting_envelope(entry: &Entry) -> Option<Envelope> {
    stored_envelope(entry, 0)
}

fn stored_envelope(entry: &Entry, attempt: u32) -> Option<Envelope> {
    let frame = ParsedFrame::parse(entry.raw.as_bytes()).ok()?;
    let mut envelope =
        Envelope::from_frame(frame, Arc::clone(&entry.raw), Instant::now(), attempt)?;
    // Its marks must find it: the key it was journaled under, even one made by an older
    // version from the event id.
    envelope.key = Some(entry.key.clone());
    Some(envelope)
}

#[cfg(test)]
mod tests {
    use nonstop_model::EnvelopeKind;

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
            received_at: std::time::SystemTime::now(),
            state: crate::journal::EntryState::Dispatched,
            attempts: 1,
            error: None,
        };
        let envelope = replayed_envelope(&entry).unwrap();
        assert_eq!(envelope.envelope_id, "e1");
        assert_eq!(envelope.dedup_key(), "Ev1");
        assert_eq!(envelope.attempt, 1);
        assert_eq!(envelope.kind, EnvelopeKind::EventsApi);
    }
}
