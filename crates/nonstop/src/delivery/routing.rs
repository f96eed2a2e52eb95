//! What happens to envelopes once the journal holds them: each ack goes back to the socket
//! that delivered it (or waits, within a deadline, for a listener's response payload), fresh
//! envelopes go on to dispatch, and when the handlers are saturated they wait in the journal,
//! in a line fed to dispatch as room frees up. The writer calls in here around each commit;
//! it knows nothing of acks or handlers itself.

use std::sync::Arc;
use std::time::Duration;

use nonstop_model::Ack;
use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::envelope::{AckHandle, Envelope};
use crate::journal::{Appended, Mark, NewEntry, Store};
use crate::status::Status;

/// Envelopes fed from the waiting line at a time, at most.
const FEED_AT_ONCE: usize = 1024;

/// Acks that wait for a listener's response payload: how long after receipt a plain ack
/// goes out instead, and the runtime whose timer sends it.
#[derive(Debug, Clone)]
pub(crate) struct Deferral {
    pub(crate) deadline: Duration,
    pub(crate) runtime: tokio::runtime::Handle,
}

/// An envelope journaled in this batch and where its ack goes.
pub(crate) type Route = (Envelope, mpsc::Sender<Ack>);

/// Places in the dispatch queue reserved before a commit, one per fresh entry (in order)
/// for as many as there was room.
pub(crate) type Reserved = Vec<mpsc::OwnedPermit<Envelope>>;

/// Ack routing, ack deadlines, dispatch and the waiting line.
#[derive(Debug)]
pub(crate) struct Routing {
    /// The dispatch queue; gone once intake is closed (or the dispatcher ended).
    dispatch: Option<mpsc::Sender<Envelope>>,
    /// Set while fresh envelopes wait in the journal for room in the dispatch queue: the
    /// `seq` after which the next one waits.
    waiting_after: Option<i64>,
    deferral: Deferral,
    status: Arc<Status>,
}

impl Routing {
    pub(crate) fn new(
        dispatch: mpsc::Sender<Envelope>,
        deferral: Deferral,
        status: Arc<Status>,
    ) -> Self {
        Self {
            dispatch: Some(dispatch),
            waiting_after: None,
            deferral,
            status,
        }
    }

    /// True while envelopes wait in the journal for the handlers.
    pub(crate) fn has_waiting(&self) -> bool {
        self.waiting_after.is_some()
    }

    /// No more envelopes go to dispatch: the dispatcher gets its end.
    pub(crate) fn close(&mut self) {
        self.dispatch = None;
    }

    /// Reserves a place in the dispatch queue for each entry about to be committed, as far
    /// as there is room and nothing waits in the journal before them, and marks those entries
    /// dispatched, so they are written as such in the same statement: none can be turned away
    /// after the commit.
    pub(crate) fn reserve(&self, entries: &mut [NewEntry]) -> Reserved {
        let mut slots = Vec::new();
        let Some(queue) = self
            .dispatch
            .as_ref()
            .filter(|_| self.waiting_after.is_none())
        else {
            return slots;
        };
        for entry in entries {
            let Ok(permit) = queue.clone().try_reserve_owned() else {
                break;
            };
            entry.dispatched = true;
            slots.push(permit);
        }
        slots
    }

    /// Acks envelopes that were journaled as failed because they could not be read.
    pub(crate) fn ack_rejected(&self, rejected: Vec<(String, mpsc::Sender<Ack>)>) {
        for (envelope_id, acks) in rejected {
            let _ = acks.try_send(Ack::new(envelope_id));
        }
    }

    /// A batch could not be written: none of its envelopes is acked (Slack keeps them).
    pub(crate) fn not_written(&self, envelopes: usize) {
        for _ in 0..envelopes {
            self.status.count_refused();
        }
    }

    /// After a commit: acks each envelope (or arms its ack deadline), and hands fresh ones to
    /// dispatch, through their reserved place, the queue, or the waiting line. `Dispatched`
    /// marks for the next batch go to `marks`.
    pub(crate) fn committed(
        &mut self,
        routes: Vec<Route>,
        outcomes: Vec<Appended>,
        slots: Reserved,
        marks: &mut Vec<Mark>,
    ) {
        // Places were reserved for the first entries in order, duplicates among them: each
        // route takes the place reserved for its own entry, used only when it is fresh.
        let mut slots = slots.into_iter();
        for ((mut envelope, acks), outcome) in routes.into_iter().zip(outcomes) {
            let slot = slots.next();
            let fresh = matches!(outcome, Appended::Fresh { .. });
            if fresh && envelope.accepts_response_payload && self.dispatch.is_some() {
                // The listener may answer in the ack; a timer makes sure a plain ack still
                // goes out in time if it doesn't.
                let handle = AckHandle::new(envelope.envelope_id.clone(), acks);
                let timer = handle.clone();
                let at = envelope.received_at + self.deferral.deadline;
                self.deferral.runtime.spawn(async move {
                    tokio::time::sleep_until(at).await;
                    timer.send(None);
                });
                envelope.ack = Some(handle);
            } else {
                // A closed or full ack queue means the socket is gone or stuck: Slack
                // redelivers, and the journal knows the event.
                if acks
                    .try_send(Ack::new(envelope.envelope_id.clone()))
                    .is_ok()
                {
                    self.status.observe_ack(envelope.received_at.elapsed());
                }
            }
            match outcome {
                Appended::Fresh { seq } => {
                    self.status.count_envelope();
                    if let Some(slot) = slot {
                        // Journaled as dispatched already.
                        slot.send(envelope);
                        continue;
                    }
                    self.dispatch_fresh(envelope, seq, marks);
                }
                Appended::Duplicate => self.status.count_duplicate(),
            }
        }
    }

    /// A fresh envelope with no reserved place: into the queue if it has room and nothing
    /// waits, else to the back of the waiting line.
    fn dispatch_fresh(&mut self, mut envelope: Envelope, seq: i64, marks: &mut Vec<Mark>) {
        let Some(queue) = &self.dispatch else { return };
        if self.waiting_after.is_some() {
            // Others wait in the journal already: this one joins the back of the line.
            release_ack(&mut envelope);
            return;
        }
        let key = envelope.dedup_key().to_owned();
        match queue.try_send(envelope) {
            // Recorded with the next batch, usually folded with the handler's outcome into
            // one write.
            Ok(()) => marks.push(Mark::Dispatched { key }),
            Err(mpsc::error::TrySendError::Full(mut envelope)) => {
                // Handlers are saturated. The envelope is journaled and acked already: it
                // waits in the journal, and so do the ones after it, until the queue has room.
                release_ack(&mut envelope);
                self.waiting_after = Some(seq - 1);
                warn!("handlers are saturated: new events wait in the journal");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.dispatch = None,
        }
    }

    /// Hands waiting envelopes to the dispatch queue, in arrival order, as far as it has room.
    pub(crate) fn feed_waiting(&mut self, store: &dyn Store, marks: &mut Vec<Mark>) {
        if let (Some(after), Some(queue)) = (self.waiting_after, &self.dispatch) {
            self.waiting_after = feed_waiting(store, queue, after, marks);
        }
    }
}

/// An envelope that waits in the journal loses its chance at a response payload: its ack
/// goes out now rather than at the deadline.
fn release_ack(envelope: &mut Envelope) {
    if let Some(ack) = envelope.ack.take() {
        ack.send(None);
    }
}

/// Hands waiting envelopes to the dispatch queue, in arrival order, as far as it has room.
/// Returns where the line now starts, or `None` once nothing waits any more.
fn feed_waiting(
    store: &dyn Store,
    queue: &mpsc::Sender<Envelope>,
    mut after: i64,
    marks: &mut Vec<Mark>,
) -> Option<i64> {
    let room = queue.capacity().min(FEED_AT_ONCE);
    if room == 0 {
        return Some(after);
    }
    let waiting = match store.received_after(after, room) {
        Ok(waiting) => waiting,
        Err(e) => {
            warn!(error = %e, "journal: could not read waiting events; will retry");
            return Some(after);
        }
    };
    if waiting.is_empty() {
        tracing::info!("every event that waited in the journal is with the handlers");
        return None;
    }
    for entry in &waiting {
        let Some(envelope) = super::waiting_envelope(entry) else {
            // Journaled from a frame that parsed once, so this takes a damaged file; a
            // broken entry must not block the line.
            error!(seq = entry.seq, key = %entry.key, "journal entry unreadable; marked failed");
            marks.push(Mark::Failed {
                key: entry.key.clone(),
                error: "journal entry unreadable".to_owned(),
            });
            after = entry.seq;
            continue;
        };
        match queue.try_send(envelope) {
            Ok(()) => {
                marks.push(Mark::Dispatched {
                    key: entry.key.clone(),
                });
                after = entry.seq;
            }
            Err(_) => break,
        }
    }
    Some(after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_model::EnvelopeKind;
    use std::time::SystemTime;

    fn envelope(id: &str) -> (NewEntry, Envelope) {
        let raw: Arc<str> = Arc::from("{}");
        let entry = NewEntry {
            key: id.to_owned(),
            envelope_id: id.to_owned(),
            kind: "events_api".to_owned(),
            raw: Arc::clone(&raw),
            received_at: SystemTime::now(),
            dispatched: false,
        };
        let envelope = Envelope {
            envelope_id: id.to_owned(),
            kind: EnvelopeKind::EventsApi,
            event_id: Some(id.to_owned()),
            retry_attempt: 0,
            retry_reason: None,
            accepts_response_payload: false,
            raw,
            received_at: tokio::time::Instant::now(),
            attempt: 0,
            ack: None,
            key: None,
        };
        (entry, envelope)
    }

    /// A duplicate that got a reserved place must not hand it to the fresh envelope after it:
    /// that one was journaled as received, and goes through the queue with its own mark.
    #[tokio::test]
    async fn each_envelope_uses_only_the_place_reserved_for_it() {
        let (queue, mut dispatched) = mpsc::channel(1);
        let deferral = Deferral {
            deadline: Duration::from_secs(2),
            runtime: tokio::runtime::Handle::current(),
        };
        let mut routing = Routing::new(queue, deferral, Arc::new(Status::new()));
        let (dup_entry, dup) = envelope("Ev-dup");
        let (fresh_entry, fresh) = envelope("Ev-fresh");
        let mut entries = vec![dup_entry, fresh_entry];
        let slots = routing.reserve(&mut entries);
        assert_eq!(slots.len(), 1, "room for one");
        assert!(entries[0].dispatched && !entries[1].dispatched);
        let (acks, _acks_rx) = mpsc::channel(4);
        let mut marks = Vec::new();
        routing.committed(
            vec![(dup, acks.clone()), (fresh, acks)],
            vec![Appended::Duplicate, Appended::Fresh { seq: 2 }],
            slots,
            &mut marks,
        );
        assert_eq!(
            marks,
            vec![Mark::Dispatched {
                key: "Ev-fresh".to_owned()
            }],
            "the fresh envelope's start is recorded"
        );
        assert_eq!(
            dispatched.recv().await.map(|e| e.envelope_id),
            Some("Ev-fresh".to_owned())
        );
    }
}
