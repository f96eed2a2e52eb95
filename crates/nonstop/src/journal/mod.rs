//! The journal: every envelope is written here before it is acked, and every handler outcome
//! after it runs. It is the source of truth for dedup (one entry per event id, across sockets,
//! redeliveries and restarts) and for replay (what was received but not finished is dispatched
//! again on start).
//!
//! Backends implement the small, synchronous [`Store`] trait and pass the conformance suite
//! (`journal::conformance::run`, with the feature `test-util`). The runtime calls a store from one dedicated writer thread (see `writer.rs`), which
//! batches many envelopes into one transaction: group commit.

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
pub mod memory;
#[cfg(any(test, feature = "test-util"))]
pub mod probe;
#[cfg(feature = "redis")]
pub mod redis;
pub(crate) mod replay;
pub mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use memory::MemoryStore;
#[cfg(any(test, feature = "test-util"))]
pub use probe::ProbeStore;
#[cfg(feature = "redis")]
pub use redis::{RedisFacts, RedisOptions, RedisStore, ReplicaFacts};
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

/// Where an answer is in its life: pending (maybe attempted, see [`Output::attempts`]) →
/// sent | failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OutputState {
    /// Durable, not known to be delivered. When `attempts` is above 0 a call may have reached
    /// Slack, so the sender looks before it sends again.
    Pending,
    /// Slack accepted it; the result is recorded.
    Sent,
    /// Slack refused it for good (e.g. `channel_not_found`); the error is recorded.
    Failed,
}

impl OutputState {
    pub const ALL: [OutputState; 3] =
        [OutputState::Pending, OutputState::Sent, OutputState::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    /// Stored codes: the same numbers as the events' states, so `state >= 2` is "finished"
    /// in both tables.
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Pending => 0,
            Self::Sent => 2,
            Self::Failed => 3,
        }
    }

    pub(crate) fn from_code(code: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    pub fn is_finished(self) -> bool {
        !matches!(self, Self::Pending)
    }
}

/// An answer a handler sends (a message, a reaction, a `response_url` post, any Web API
/// call), to be written to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutput {
    /// Unique per answer and the same when a replayed handler sends it again:
    /// `<event key>#<index of the output in the handler's run>`.
    pub key: String,
    /// Answers in one lane go out one at a time, in order: a channel, for messages.
    pub lane: String,
    /// The Web API method, or `response_url`.
    pub method: String,
    /// The call's arguments, as a JSON object.
    pub args: String,
    pub created_at: SystemTime,
}

impl NewOutput {
    /// The answer as the outbox holds it once written with `id`: pending, no call made.
    pub fn written_as(self, id: i64) -> Output {
        Output {
            id,
            key: self.key,
            lane: self.lane,
            method: self.method,
            args: self.args,
            created_at: self.created_at,
            state: OutputState::Pending,
            attempts: 0,
            attempted_at: None,
            result: None,
            error: None,
        }
    }
}

/// An answer in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct Output {
    /// Order of writing: the order answers in one lane go out.
    pub id: i64,
    pub key: String,
    pub lane: String,
    pub method: String,
    pub args: String,
    pub created_at: SystemTime,
    pub state: OutputState,
    /// Calls made that may have reached Slack (each recorded before it was made).
    pub attempts: u32,
    /// Set while the last call's outcome is unknown (it may have reached Slack): when it was
    /// made. Cleared when Slack answered that it did not take it.
    pub attempted_at: Option<SystemTime>,
    /// What Slack answered, as JSON (for a message: its `channel` and `ts`).
    pub result: Option<String>,
    pub error: Option<String>,
}

/// What writing one answer did.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputAppended {
    /// New: in the outbox now, with this id.
    Fresh { id: i64 },
    /// Its key was written before (a replayed handler sent it again): nothing written; this
    /// is the answer as it stands.
    Existing(Box<Output>),
}

/// A change to an answer, from its sender.
#[derive(Debug, Clone, PartialEq)]
pub enum OutputMark {
    /// A call is about to be made that may reach Slack: written before the call.
    Attempt {
        id: i64,
        at: SystemTime,
    },
    /// Slack answered the last call without taking it (a 429, a refused connection): no
    /// message of it can exist.
    NotPosted {
        id: i64,
    },
    Sent {
        id: i64,
        result: String,
    },
    Failed {
        id: i64,
        error: String,
    },
}

impl OutputMark {
    pub fn id(&self) -> i64 {
        match self {
            Self::Attempt { id, .. }
            | Self::NotPosted { id }
            | Self::Sent { id, .. }
            | Self::Failed { id, .. } => *id,
        }
    }
}

/// Everything one transaction writes: envelopes, their outcomes, answers and the answers'
/// progress. The writer gathers many of each into one commit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Batch<'a> {
    pub entries: &'a [NewEntry],
    pub marks: &'a [Mark],
    pub outputs: &'a [NewOutput],
    pub output_marks: &'a [OutputMark],
}

/// What a [`Batch`] did: one outcome per entry and one per output, in order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Written {
    pub appended: Vec<Appended>,
    pub outputs: Vec<OutputAppended>,
    /// Answers whose marks in the batch were not applied because another process owns them
    /// now (a shared store's takeover of a process paused past its lease): that process
    /// delivers them, and this one must not. A store one process owns never fences.
    pub fenced: Vec<i64>,
}

/// What [`Store::take_over`] claimed: entries and answers a stopped process left
/// unfinished, now this process's to finish, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TakenOver {
    pub entries: Vec<Entry>,
    pub outputs: Vec<Output>,
}

/// What [`Store::take_socket`] answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketShare {
    /// This process may open one more socket.
    Taken,
    /// All processes together hold `held` sockets, the total allowed or more.
    Full { held: usize },
}

/// A journal operation that failed. Messages say what to check; they never hold payloads.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreError {
    #[error("could not open the journal at {path}: {detail}; check that the directory exists and is writable (NONSTOP_DB)")]
    Open { path: String, detail: String },
    #[error("could not reach the journal in Redis at {url}: {detail}; check REDIS_URL (host, port, password; rediss:// for TLS, NONSTOP_REDIS_CA for a private CA) and that Redis runs")]
    Unreachable { url: String, detail: String },
    /// Redis answered, and said no to this client: a wrong password or user, or an ACL that
    /// does not let it run the journal's scripts. Waiting does not fix it.
    #[error("Redis at {url} refused this nonstop: {detail}; check the user and password in REDIS_URL, and that the Redis user may run scripts (EVALSHA) on the keys under NONSTOP_REDIS_PREFIX")]
    Refused { url: String, detail: String },
    #[error("journal write failed: {detail}; envelopes are not acked until writes succeed, so Slack keeps them")]
    Write { detail: String },
    #[error("journal read failed: {detail}")]
    Read { detail: String },
    #[error("the journal's schema version {found} is newer than this nonstop understands ({supported}); run a newer nonstop or point NONSTOP_DB elsewhere")]
    Schema { found: i64, supported: i64 },
    #[error("the file at {path} is not this bot's journal: {detail}; nonstop neither reads nor writes it: point NONSTOP_DB at a file of your own")]
    Foreign { path: String, detail: String },
    #[error("the journal {path} is in use by another nonstop process ({holder}); a journal belongs to one process, or both would handle the same events: stop the other one or give this one its own NONSTOP_DB (several replicas need a shared store, docs/storage.md)")]
    InUse { path: String, holder: String },
    /// A stable replica id (`NONSTOP_REPLICA_ID`) that a live process holds.
    #[error("another live nonstop process holds the replica id {id} (NONSTOP_REPLICA_ID) under the prefix {prefix}: it renews its lease; two processes must never share an id, or both would run the same events: give each replica its own (the pod's name, say), or stop the other")]
    ReplicaIdInUse { id: String, prefix: String },
    #[error("the journal {place} belongs to another bot ({holder}; this one is {this}); a journal serves one bot, or this one would run the other's unfinished events with its own handlers and post its answers with its own token: give each bot its own {setting}")]
    OtherBot {
        place: String,
        holder: String,
        this: String,
        /// The setting that picks another journal: `NONSTOP_DB` or `NONSTOP_REDIS_PREFIX`.
        setting: String,
    },
}

/// A journal backend. Small and synchronous: the runtime calls it from its writer thread.
pub trait Store: Send + Sync + 'static {
    /// In one transaction: appends the batch's entries (each deduplicated by key, against the
    /// journal and against earlier entries of the same batch), applies its marks, appends its
    /// outputs (deduplicated by key the same way; a known key answers with the output as
    /// stored) and applies its output marks. On error nothing was written.
    fn write(&self, batch: &Batch<'_>) -> Result<Written, StoreError>;

    /// [`Store::write`] of envelopes and their outcomes only.
    fn commit(&self, entries: &[NewEntry], marks: &[Mark]) -> Result<Vec<Appended>, StoreError> {
        self.write(&Batch {
            entries,
            marks,
            ..Batch::default()
        })
        .map(|written| written.appended)
    }

    /// Answers not sent nor failed yet, in the order they were written, at most `limit`.
    fn outbox_unfinished(&self, limit: usize) -> Result<Vec<Output>, StoreError>;

    /// One answer by id.
    fn outbox_get(&self, id: i64) -> Result<Option<Output>, StoreError>;

    /// The newest answers, newest first, at most `limit`; only `state` when given.
    fn outbox_recent(
        &self,
        limit: usize,
        state: Option<OutputState>,
    ) -> Result<Vec<Output>, StoreError>;

    /// How many answers are in each state.
    fn outbox_counts(&self) -> Result<Vec<(OutputState, u64)>, StoreError>;

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
    /// beyond `max_entries` in all; the same for finished answers in the outbox (by when they
    /// were written; unfinished answers never go and do not count); at most `limit` in one call, so that a large backlog is
    /// pruned in short steps between other writes. Unfinished entries are never pruned.
    /// Each step must cost in proportion to what it deletes, not to the journal's size: it
    /// runs between batches, with acks waiting.
    /// Returns how many were deleted: fewer than `limit` means nothing is left to prune.
    fn prune(&self, cutoff: SystemTime, max_entries: u64, limit: usize) -> Result<u64, StoreError>;

    /// Ties the journal to one bot (`bot`: its team and bot user, as `auth.test` names them),
    /// or refuses with [`StoreError::OtherBot`] when another bot's name is on it: two bots on
    /// one journal would dedup each other's events, and the second would replay the first's
    /// unfinished ones with its own handlers. The runtime calls it once it knows who it is,
    /// before it replays anything. Calling it again with the same bot is harmless.
    fn claim_for_bot(&self, bot: &str) -> Result<(), StoreError>;

    /// The bot [`Store::claim_for_bot`] recorded, if any has (`nonstop journal` shows it).
    fn bot(&self) -> Result<Option<String>, StoreError>;

    /// Moves what recent commits wrote to wherever it finally lives (for SQLite, copies the
    /// write-ahead log back into the file), as far as it can without waiting for anybody.
    /// The writer calls it when it has nothing else to do, so that a commit seldom has to.
    fn checkpoint(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// For stores that several processes share (Redis): claims, at most `limit` of each, the
    /// unfinished entries and answers of processes that stopped without finishing them (their
    /// lease ran out, or they gave it up at a clean stop); from now on they are this
    /// process's, in [`Store::unfinished`] too. The runtime calls it at start and then
    /// periodically, and runs what it gets as replays. A store one process owns has none.
    fn take_over(&self, limit: usize) -> Result<TakenOver, StoreError> {
        let _ = limit;
        Ok(TakenOver::default())
    }

    /// True when several processes share this store, so that the runtime looks for work
    /// stopped ones left ([`Store::take_over`]).
    fn is_shared(&self) -> bool {
        false
    }

    /// For stores that several processes share: how long what this process owns stays
    /// surely its own after a write that renewed its lease (a mark it made, say), by this
    /// process's clock. Past that, another process may have taken it: the outbox confirms
    /// ownership with a fresh mark before a call, so that a process paused past its lease
    /// never makes a call the taker makes too. `None`: this process owns the store alone.
    fn lease(&self) -> Option<Duration> {
        None
    }

    /// For stores several processes share: Slack said to wait `wait` before the next call
    /// under `key` (a method, or `chat.postMessage:<channel>`), and every process sharing
    /// the store waits it out too: Slack's limits are per app, not per process.
    fn hold_calls(&self, key: &str, wait: Duration) -> Result<(), StoreError> {
        let _ = (key, wait);
        Ok(())
    }

    /// How long calls under `key` must still wait for a [`Store::hold_calls`] of any process
    /// sharing the store; `None` when they need not.
    fn calls_held_for(&self, key: &str) -> Result<Option<Duration>, StoreError> {
        let _ = key;
        Ok(None)
    }

    /// Takes one of the `total` Socket Mode sockets that all processes sharing this store may
    /// hold together (Slack allows an app 10), or says how many they hold. The count lives
    /// where the processes meet, so it is kept across replicas; a store one process owns has
    /// no one to share with and always says yes. Called before a socket is opened; a
    /// [`SocketShare::Taken`] is given back with [`Store::give_socket`] when it closes.
    fn take_socket(&self, total: usize) -> Result<SocketShare, StoreError> {
        let _ = total;
        Ok(SocketShare::Taken)
    }

    /// Gives back a socket [`Store::take_socket`] took. Never blocks (it is called as a
    /// socket's task ends): the count others see follows soon after.
    fn give_socket(&self) {}

    // The bot's own key-value storage, in the same store. Values are JSON text.

    fn kv_get(&self, key: &str) -> Result<Option<String>, StoreError>;

    fn kv_set(&self, key: &str, value: &str) -> Result<(), StoreError>;

    /// True when the key existed.
    fn kv_delete(&self, key: &str) -> Result<bool, StoreError>;

    /// Keys starting with `prefix`, in key order, at most `limit`.
    fn kv_list(&self, prefix: &str, limit: usize) -> Result<Vec<(String, String)>, StoreError>;

    /// Writes `new` (`None` deletes) only if the key holds `expected` now (`None`: absent), in
    /// one atomic step. True when it wrote.
    fn kv_compare_and_set(
        &self,
        key: &str,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool, StoreError>;

    /// Reads, transforms and writes one key atomically: `update` gets the current value and
    /// returns the new one (`None` deletes). Returns what was written.
    ///
    /// `update` runs outside any lock of the store (it is user code, and may be slow): the
    /// write is a compare-and-set, and when another writer changed the key meanwhile,
    /// `update` runs again on the new value.
    fn kv_update(
        &self,
        key: &str,
        update: &mut dyn FnMut(Option<&str>) -> Option<String>,
    ) -> Result<Option<String>, StoreError> {
        for _ in 0..KV_UPDATE_ATTEMPTS {
            let current = self.kv_get(key)?;
            let next = update(current.as_deref());
            if next == current
                || self.kv_compare_and_set(key, current.as_deref(), next.as_deref())?
            {
                return Ok(next);
            }
        }
        Err(StoreError::Write {
            detail: format!(
                "storage key {key:?} changed under {KV_UPDATE_ATTEMPTS} updates in a row; \
                 too many writers of one key"
            ),
        })
    }
}

/// Compare-and-set rounds of one [`Store::kv_update`] before it gives up.
const KV_UPDATE_ATTEMPTS: usize = 1000;

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn to_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
