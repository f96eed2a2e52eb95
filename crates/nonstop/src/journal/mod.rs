//! The journal: every envelope is written here before it is acked, and every handler outcome
//! after it runs. It is the source of truth for dedup (one entry per event id, across sockets,
//! redeliveries and restarts) and for replay (what was received but not finished is dispatched
//! again on start).
//!
//! Backends implement the small, synchronous role traits of [`Store`] (`roles.rs`) and pass
//! the conformance suite (`journal::conformance`, with the feature `test-util`). The runtime calls a store from one dedicated writer thread (see `writer.rs`), which
//! batches many envelopes into one transaction: group commit.

#[cfg(any(test, feature = "test-util"))]
pub mod conformance;
mod installation;
pub mod memory;
#[cfg(any(test, feature = "test-util"))]
pub mod probe;
#[cfg(feature = "redis")]
pub mod redis;
pub(crate) mod replay;
mod roles;
pub mod sqlite;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use installation::{Installation, InstallationKey};
pub use memory::MemoryStore;
#[cfg(any(test, feature = "test-util"))]
pub use probe::ProbeStore;
#[cfg(feature = "redis")]
pub use redis::{RedisFacts, RedisOptions, RedisStore, ReplicaFacts};
pub use replay::MAX_INTERRUPTED_STARTS;
pub use roles::{InstallationStore, JournalStore, KeyValueStore, LeaseStore, OutboxStore, Store};
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
    /// Written as the answer's `attempted_at` (with no attempt counted): until then, its
    /// first call may be made without an attempt mark of its own. The outbox sets it for a
    /// message whose call usually follows its write at once, which saves a durable write
    /// per answer; after a crash the message is looked for in history (after this time and
    /// `outbox_settle`) before it is sent again, as for any call that may have been made.
    pub attempt_covered_until: Option<SystemTime>,
    /// The installed workspace the answer is for (its installation's key, `team:T…` or
    /// `org:E…`), whose token sends it; `None`: the bot's own token (`SLACK_BOT_TOKEN`).
    pub workspace: Option<String>,
}

impl NewOutput {
    /// The answer as the outbox holds it once written with `id`: pending, no call counted.
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
            attempted_at: self.attempt_covered_until,
            result: None,
            error: None,
            workspace: self.workspace,
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
    /// The installed workspace the answer is for ([`NewOutput::workspace`]).
    pub workspace: Option<String>,
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

/// What [`LeaseStore::take_over`] claimed: entries and answers a stopped process left
/// unfinished, now this process's to finish, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TakenOver {
    pub entries: Vec<Entry>,
    pub outputs: Vec<Output>,
}

/// What [`LeaseStore::take_socket`] answered.
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

/// Milliseconds since the Unix epoch, as stored.
pub(crate) fn to_millis(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
