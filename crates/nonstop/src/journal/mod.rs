//! The journal: every envelope is written here before it is acked, and every handler outcome
//! after it runs. It is the source of truth for dedup (one entry per event id, across sockets,
//! redeliveries and restarts) and for replay (what was received but not finished is dispatched
//! again on start).
//!
//! Backends implement the small, synchronous [`Store`] trait and pass the [`conformance`]
//! suite. The runtime calls a store from one dedicated writer thread (see `writer.rs`), which
//! batches many envelopes into one transaction: group commit.

pub mod conformance;
pub mod memory;
pub mod probe;
pub(crate) mod replay;
pub mod sqlite;
pub(crate) mod writer;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
pub use probe::ProbeStore;
pub use replay::MAX_INTERRUPTED_STARTS;
pub use sqlite::SqliteStore;

/// Where an entry is in its life: received → dispatched → done | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryState {
    /// Journaled and acked; not handed to a handler yet.
    Received,
    /// A handler is running it (or was, when the process died).
    Dispatched,
    Done,
    /// The handler returned an error, panicked or timed out; the error is recorded.
    Failed,
}

impl EntryState {
    pub const ALL: [EntryState; 4] = [
        EntryState::Received,
        EntryState::Dispatched,
        EntryState::Done,
        EntryState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Dispatched => "dispatched",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Received => 0,
            Self::Dispatched => 1,
            Self::Done => 2,
            Self::Failed => 3,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn is_finished(self) -> bool {
        matches!(self, Self::Done | Self::Failed)
    }
}

/// An envelope to journal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    /// The dedup key: `payload.event_id`, else the envelope id.
    pub key: String,
    pub envelope_id: String,
    /// The envelope type, e.g. `events_api`.
    pub kind: String,
    /// The whole frame as received.
    pub raw: Arc<str>,
    pub received_at: SystemTime,
    /// Handed to a handler as soon as it is written: journaled as dispatched with one
    /// attempt, which saves the separate "dispatched" write.
    pub dispatched: bool,
}

/// A journaled envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Arrival order.
    pub seq: i64,
    pub key: String,
    pub envelope_id: String,
    pub kind: String,
    pub raw: Arc<str>,
    pub received_at: SystemTime,
    pub state: EntryState,
    /// How many times a handler was started on it.
    pub attempts: u32,
    pub error: Option<String>,
}

/// What appending one envelope did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// New: journaled now, with this arrival number.
    Fresh { seq: i64 },
    /// Its key was journaled before; nothing written.
    Duplicate,
}

/// A state change.
#[derive(Debug, Clone, PartialEq)]
pub enum Mark {
    /// A handler starts on it; `attempts` goes up by one.
    Dispatched {
        key: String,
    },
    Done {
        key: String,
    },
    Failed {
        key: String,
        error: String,
    },
}

impl Mark {
    pub fn key(&self) -> &str {
        match self {
            Self::Dispatched { key } | Self::Done { key } | Self::Failed { key, .. } => key,
        }
    }
}

/// A journal operation that failed. Messages say what to check; they never hold payloads.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("could not open the journal at {path}: {detail}; check that the directory exists and is writable (NONSTOP_DB)")]
    Open { path: String, detail: String },
    #[error("journal write failed: {detail}; envelopes are not acked until writes succeed, so Slack keeps them (is the disk full or read-only?)")]
    Write { detail: String },
    #[error("journal read failed: {detail}")]
    Read { detail: String },
    #[error("the journal's schema version {found} is newer than this nonstop understands ({supported}); run a newer nonstop or point NONSTOP_DB elsewhere")]
    Schema { found: i64, supported: i64 },
}

/// A journal backend. Small and synchronous: the runtime calls it from its writer thread.
pub trait Store: Send + Sync + 'static {
    /// In one transaction: appends `entries` (each deduplicated by key, against the journal
    /// and against earlier entries of the same batch) and applies `marks`. Returns one
    /// outcome per entry, in order. On error nothing was written.
    fn commit(&self, entries: &[NewEntry], marks: &[Mark]) -> Result<Vec<Appended>, StoreError>;

    /// Entries received or dispatched but not finished, oldest first, at most `limit`.
    fn unfinished(&self, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// Entries still `received` whose `seq` is above `after`, in arrival order: envelopes
    /// that waited in the journal for room in the dispatch queue.
    fn received_after(&self, after: i64, limit: usize) -> Result<Vec<Entry>, StoreError>;

    /// The newest entries, newest first, at most `limit`; only `state` when given.
    fn recent(&self, limit: usize, state: Option<EntryState>) -> Result<Vec<Entry>, StoreError>;

    /// How many entries are in each state.
    fn counts(&self) -> Result<Vec<(EntryState, u64)>, StoreError>;

    /// Deletes finished entries received before `cutoff`, then the oldest finished entries
    /// beyond `max_entries` in all; at most `limit` in one call, so that a large backlog is
    /// pruned in short steps between other writes. Unfinished entries are never pruned.
    /// Each step must cost in proportion to what it deletes, not to the journal's size: it
    /// runs between batches, with acks waiting.
    /// Returns how many were deleted: fewer than `limit` means nothing is left to prune.
    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError>;

    /// Moves what recent commits wrote to wherever it finally lives (for SQLite, copies the
    /// write-ahead log back into the file), as far as it can without waiting for anybody.
    /// The writer calls it when it has nothing else to do, so that a commit seldom has to.
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }

    // The bot's own key-value storage, in the same store. Values are JSON text.

    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// True when the key existed.
    fn kv_delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Keys starting with `prefix`, in key order, at most `limit`.
    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    /// Reads, transforms and writes one key atomically: `update` gets the current value and
    /// returns the new one (`None` deletes). Returns what was written.
    fn kv_update(
        &self,
        key: &str,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> Result<Option<String>, StoreError>;
}

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn to_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
