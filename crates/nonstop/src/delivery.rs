//! Between the socket and the handlers: the envelope handed on, dedup by event id, and the
//! intake that decides whether an envelope may be acked.
//!
//! Invariant: an envelope is acked only once something holds it. Today that is the bounded
//! dispatch queue; the durable journal (issue 3) takes this place, behind the same
//! [`Intake::accept`].

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nonstop_model::{EnvelopeKind, EventCallback};
use tokio::sync::mpsc;
use tokio::time::Instant;

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
    /// Which connection delivered it.
    pub connection: u64,
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

/// Event ids seen recently, bounded in time and in count.
///
/// Compact on purpose, since it is most of a busy bot's memory: each id is kept as a 64-bit
/// hash (with ids from Slack, not chosen by an attacker, a collision among a million live
/// entries has odds near 10^-8) with its arrival second, about 25 bytes in all.
#[derive(Debug)]
pub(crate) struct Dedup {
    seen: HashSet<u64>,
    /// (seconds since `origin`, hash), oldest first.
    order: VecDeque<(u32, u64)>,
    origin: Instant,
    retention: Duration,
    capacity: usize,
}

/// Fixed-key hashing, so a key hashes the same in every process (the journal will rely on it).
fn key_hash(key: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    key.hash(&mut hasher);
    hasher.finish()
}

impl Dedup {
    pub(crate) fn new(retention: Duration, capacity: usize) -> Self {
        Self {
            seen: HashSet::new(),
            order: VecDeque::new(),
            origin: Instant::now(),
            retention,
            capacity: capacity.max(1),
        }
    }

    fn second(&self, now: Instant) -> u32 {
        u32::try_from(now.saturating_duration_since(self.origin).as_secs()).unwrap_or(u32::MAX)
    }

    /// True when `key` is new, and remembers it.
    pub(crate) fn insert(&mut self, key: &str, now: Instant) -> bool {
        self.prune(now);
        let hash = key_hash(key);
        if !self.seen.insert(hash) {
            return false;
        }
        while self.seen.len() > self.capacity {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.seen.remove(&old);
                }
                None => break,
            }
        }
        let second = self.second(now);
        self.order.push_back((second, hash));
        true
    }

    /// Forgets `key`, so that a redelivery of an envelope we could not take is handled.
    pub(crate) fn forget(&mut self, key: &str) {
        self.seen.remove(&key_hash(key));
    }

    fn prune(&mut self, now: Instant) {
        let retention = u32::try_from(self.retention.as_secs()).unwrap_or(u32::MAX);
        let cutoff = self.second(now).saturating_sub(retention);
        if self.second(now) < retention {
            return;
        }
        while let Some((at, _)) = self.order.front() {
            if *at > cutoff {
                break;
            }
            if let Some((_, hash)) = self.order.pop_front() {
                self.seen.remove(&hash);
            }
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

/// What the read loop should do with an envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Accepted {
    /// New and held: ack it.
    Fresh,
    /// Seen before: ack it so Slack stops retrying, but don't hand it on.
    Duplicate,
    /// Could not be held: don't ack, so Slack redelivers it.
    Refused(&'static str),
}

#[derive(Debug)]
pub(crate) struct Intake {
    /// std Mutex: held for a map lookup and insert, never across an await.
    dedup: Mutex<Dedup>,
    queue: mpsc::Sender<Envelope>,
    status: Arc<Status>,
}

impl Intake {
    pub(crate) fn new(dedup: Dedup, queue: mpsc::Sender<Envelope>, status: Arc<Status>) -> Self {
        Self {
            dedup: Mutex::new(dedup),
            queue,
            status,
        }
    }

    pub(crate) fn accept(&self, envelope: Envelope) -> Accepted {
        let key = envelope.dedup_key().to_owned();
        let fresh = self
            .dedup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(&key, envelope.received_at);
        if !fresh {
            self.status.count_duplicate();
            return Accepted::Duplicate;
        }
        let refused = match self.queue.try_send(envelope) {
            Ok(()) => {
                self.status.count_envelope();
                return Accepted::Fresh;
            }
            Err(mpsc::error::TrySendError::Full(_)) => "dispatch queue full",
            Err(mpsc::error::TrySendError::Closed(_)) => "shutting down",
        };
        self.dedup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .forget(&key);
        self.status.count_refused();
        Accepted::Refused(refused)
    }

    #[cfg(test)]
    pub(crate) fn remembered(&self) -> usize {
        self.dedup.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(id: &str, event: Option<&str>) -> Envelope {
        Envelope {
            envelope_id: id.into(),
            kind: EnvelopeKind::EventsApi,
            event_id: event.map(Into::into),
            retry_attempt: 0,
            retry_reason: None,
            accepts_response_payload: false,
            raw: Arc::from("{}"),
            received_at: Instant::now(),
            connection: 1,
        }
    }

    #[test]
    fn dedup_expires_and_is_bounded() {
        let t0 = Instant::now();
        let mut dedup = Dedup::new(Duration::from_secs(10), 3);
        assert!(dedup.insert("a", t0));
        assert!(!dedup.insert("a", t0 + Duration::from_secs(9)));
        // Kept for the retention, forgotten within a second after it (second granularity).
        assert!(dedup.insert("a", t0 + Duration::from_secs(11)), "expired");
        for key in ["b", "c", "d", "e"] {
            dedup.insert(key, t0 + Duration::from_secs(12));
        }
        assert_eq!(dedup.len(), 3);
    }

    #[test]
    fn intake_dedups_by_event_id_and_refuses_when_full() {
        let (tx, _rx) = mpsc::channel(1);
        let intake = Intake::new(
            Dedup::new(Duration::from_secs(60), 100),
            tx,
            Arc::new(Status::new()),
        );
        assert_eq!(intake.accept(envelope("e1", Some("Ev1"))), Accepted::Fresh);
        // Same event on another envelope id (another socket, or a retry): duplicate.
        assert_eq!(
            intake.accept(envelope("e2", Some("Ev1"))),
            Accepted::Duplicate
        );
        // Queue full: refused and forgotten, so the redelivery is taken later.
        assert_eq!(
            intake.accept(envelope("e3", Some("Ev2"))),
            Accepted::Refused("dispatch queue full")
        );
        assert_eq!(intake.remembered(), 1);
    }
}
