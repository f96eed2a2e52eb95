//! Counters and the last disconnect, shared by the supervisor, the dispatcher and handlers
//! (`status` command, demo, tests). Atomics for counters; a std Mutex for the one string.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

/// Buckets of the ack latency histogram, in seconds: Slack's limit is 3 s, the target
/// single-digit milliseconds.
const ACK_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// Declares the runtime's counters once: each becomes an atomic in [`Status`], a field of
/// [`Counts`] (read through [`StatusSnapshot`]), and a line of `/metrics` with its doc comment
/// as the metric's help ([`COUNTERS`]).
macro_rules! counters {
    ($( $(#[doc = $doc:literal])+ $kind:ident $field:ident = $metric:literal; )*) => {
        #[derive(Debug, Default)]
        struct Counters {
            $( $field: AtomicU64, )*
        }

        impl Counters {
            fn read(&self) -> Counts {
                Counts { $( $field: self.$field.load(Ordering::Relaxed), )* }
            }
        }

        /// The counters at one moment.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        #[non_exhaustive]
        pub struct Counts {
            $( $(#[doc = $doc])+ pub $field: u64, )*
        }

        /// Every counter as `/metrics` shows it: its name, help, kind and value.
        pub(crate) const COUNTERS: &[Metric] = &[
            $( Metric {
                name: $metric,
                help: concat!($($doc),+),
                kind: MetricKind::$kind,
                read: |counts| counts.$field,
            }, )*
        ];
    };
}

/// A counter or gauge of [`COUNTERS`].
#[derive(Debug)]
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
    pub(crate) kind: MetricKind,
    pub(crate) read: fn(&Counts) -> u64,
}

/// Whether a metric only grows (a counter) or goes up and down (a gauge).
#[allow(non_camel_case_types)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricKind {
    counter,
    gauge,
}

#[derive(Debug)]
pub struct Status {
    started: std::time::Instant,
    live_connections: AtomicUsize,
    /// Every counter of [`COUNTERS`], one atomic each.
    counters: Counters,
    /// When the last live socket closed (the start, before the first): `None` while one is
    /// live. std Mutex: written on each socket's live and close.
    deaf_since: Mutex<Option<std::time::Instant>>,
    /// From receipt to the ack handed to its socket, in seconds (plain acks).
    ack_latency: prometheus_client::metrics::histogram::Histogram,
    /// A handler's run, in seconds (time spent waiting for deliveries included).
    handler_duration: prometheus_client::metrics::histogram::Histogram,
    /// When each slot's loop last turned (it beats every second): what the systemd watchdog
    /// goes by. std Mutex: one short update per slot a second.
    beats: Mutex<Vec<std::time::Instant>>,
    /// Set while journal writes fail (nothing is acked meanwhile): `/readyz` says so.
    journal_failing: std::sync::atomic::AtomicBool,
    /// Slots whose last open was refused by the app's socket total across replicas (bit per
    /// slot; at most 10 slots): such a replica waits by design, it is not broken.
    awaiting_share: std::sync::atomic::AtomicU32,
    /// Closes by cause kind since start (`eof_without_close`, `dead`, …), for `/metrics`.
    /// std Mutex: one short update per close.
    closes_by_cause: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// std Mutex: written on a disconnect, read by `status`; never held across an await.
    last_disconnect: Mutex<Option<LastDisconnect>>,
    /// std Mutex: the recent lifecycle changes, bounded; never held across an await.
    history: Mutex<VecDeque<LifecycleRecord>>,
    /// std Mutex: each slot's phase, by slot number; never held across an await.
    slots: Mutex<Vec<SlotPhase>>,
    changed: watch::Sender<u64>,
    /// Every lifecycle record as it happens, for the tasks that act on them (catch-up).
    lifecycle: tokio::sync::broadcast::Sender<LifecycleRecord>,
    /// While journal writes fail, when the last one worked (`None` while they work), for
    /// catch-up: what was refused meanwhile is fetched from history once they work again.
    journal: watch::Sender<Option<SystemTime>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LastDisconnect {
    pub cause: String,
    pub at: SystemTime,
}

/// How many lifecycle records [`Status::history`] keeps.
const HISTORY: usize = 256;
/// Lifecycle records a slow reader of [`Status::lifecycle_changes`] may fall behind by.
const LIFECYCLE_FEED: usize = 64;

/// One lifecycle change of one socket, for reports and the `status` command.
#[derive(Debug, Clone, PartialEq)]
pub struct LifecycleRecord {
    pub at: SystemTime,
    pub slot: usize,
    pub connection: u64,
    pub change: LifecycleChange,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LifecycleChange {
    /// The socket said `hello`. `slot_down_for` is how long its slot had no socket, if any.
    Live { slot_down_for: Option<Duration> },
    /// The socket closed after `lifetime`.
    Closed {
        cause: String,
        cause_kind: &'static str,
        planned: bool,
        lifetime: Duration,
    },
    /// Opening failed; the next try is in `retry_in`.
    OpenFailed { cause: String, retry_in: Duration },
}

/// Where a slot is in its life: what operators and tests read from
/// [`StatusSnapshot::slots`].
///
/// A slot keeps one connection live. It starts `Waiting` (the first opens are staggered),
/// opens, is `Live`, and while live may be `Replacing` its connection (make-before-break: the
/// old one keeps receiving until the new one is live). A connection that dies sends the slot
/// back to `Waiting` (or straight to `Opening`: the first retry is immediate), for as long as
/// it takes. Only shutdown and fatal errors end it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotPhase {
    /// No live connection; the next open is due at a time (the first open's stagger, or a
    /// retry's backoff). `failures` counts the failed opens and deaths since the slot was
    /// last healthy.
    Waiting { failures: u32 },
    /// No live connection; one is being opened.
    Opening { failures: u32 },
    /// One live connection.
    Live,
    /// A live connection, and its replacement being opened (or due: replacements on request
    /// are at most one per 5 s).
    Replacing,
    /// Ended by shutdown.
    Stopped,
    /// Ended by an error retrying cannot fix (the run's error says which).
    FatallyClosed,
}

impl SlotPhase {
    /// The phase's name in health answers, metrics labels and the status page.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Waiting { .. } => "waiting",
            Self::Opening { .. } => "opening",
            Self::Live => "live",
            Self::Replacing => "replacing",
            Self::Stopped => "stopped",
            Self::FatallyClosed => "fatally_closed",
        }
    }

    /// True while the slot has a connection receiving events.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Live | Self::Replacing)
    }

    /// True once the slot has ended for good.
    pub fn is_ended(self) -> bool {
        matches!(self, Self::Stopped | Self::FatallyClosed)
    }
}

/// A copy of the counters at one moment.
/// What [`Status`] holds at one moment. The counters are [`Counts`]' fields, read through
/// this snapshot (`snapshot.handled`).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatusSnapshot {
    pub uptime: Duration,
    pub live_connections: usize,
    pub counters: Counts,
    pub last_disconnect: Option<LastDisconnect>,
    /// Each slot's phase, by slot number (empty until the slots start).
    pub slots: Vec<SlotPhase>,
}

impl std::ops::Deref for StatusSnapshot {
    type Target = Counts;

    fn deref(&self) -> &Counts {
        &self.counters
    }
}

counters! {
    /// Sockets that said hello.
    counter sockets_opened = "nonstop_sockets_opened";
    /// Sockets opened after one closed.
    counter reconnects = "nonstop_reconnects";
    /// Fresh envelopes taken for dispatch.
    counter envelopes = "nonstop_events_received";
    /// Envelopes acked but not handed on: their event was taken already.
    counter duplicates = "nonstop_events_deduplicated";
    /// Envelopes not acked: the journal's queue was full (Slack redelivers them).
    counter refused = "nonstop_events_refused";
    /// Events handled without error.
    counter handled = "nonstop_events_handled";
    /// Events whose handler returned an error.
    counter failed = "nonstop_events_failed";
    /// Events whose handler panicked.
    counter panicked = "nonstop_events_panicked";
    /// Events whose handler ran past handler_timeout.
    counter timed_out = "nonstop_events_timed_out";
    /// Events taken from the journal because they were not finished before: at start, and
    /// with a shared journal, those another replica left when it stopped.
    counter replayed = "nonstop_events_replayed";
    /// Messages fetched from history after downtime that the journal did not have, handed
    /// to the listeners (catch-up).
    counter caught_up = "nonstop_events_caught_up";
    /// The bot's own messages (and edits of them): acked at receipt and dropped, never
    /// journaled or handled.
    counter own_messages = "nonstop_own_messages";
    /// Frames dropped as malformed, binary, oversized or unknown.
    counter bad_frames = "nonstop_bad_frames";
    /// HTTP transport: requests to the request URL whose signature was Slack's.
    counter requests = "nonstop_http_requests";
    /// HTTP transport: requests turned away unread (bad or missing signature, a timestamp
    /// outside the five minutes, a body too large): nothing of theirs ran.
    counter requests_rejected = "nonstop_http_requests_rejected";
    /// Answers (messages, reactions, …) Slack accepted.
    counter answers_sent = "nonstop_answers_sent";
    /// Answers Slack refused for good.
    counter answers_failed = "nonstop_answers_failed";
    /// Of the answers sent, those that went over an RTM socket (confirmed by Slack) rather
    /// than through the Web API.
    counter answers_over_rtm = "nonstop_answers_over_rtm";
    /// Answers this replica let go because a live one took them over while this one was
    /// paused or cut off past its lease (fencing): that one delivers them.
    counter answers_handed_over = "nonstop_answers_handed_over";
    /// Envelopes left unacked (so Slack keeps and redelivers them) because the outbox's
    /// backlog was at its bound.
    counter held_back = "nonstop_events_held_back";
    /// Answers in the outbox not delivered yet (waiting for their turn, a rate limit, or
    /// Slack to come back).
    gauge answers_waiting = "nonstop_answers_waiting";
}

impl Default for Status {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! counter {
    ($name:ident, $field:ident) => {
        pub(crate) fn $name(&self) {
            self.counters.$field.fetch_add(1, Ordering::Relaxed);
            self.bump();
        }
    };
}

impl Status {
    pub fn new() -> Self {
        Self {
            started: std::time::Instant::now(),
            live_connections: AtomicUsize::new(0),
            counters: Counters::default(),
            journal_failing: std::sync::atomic::AtomicBool::new(false),
            awaiting_share: std::sync::atomic::AtomicU32::new(0),
            beats: Mutex::new(Vec::new()),
            ack_latency: prometheus_client::metrics::histogram::Histogram::new(
                ACK_BUCKETS.iter().copied(),
            ),
            handler_duration: prometheus_client::metrics::histogram::Histogram::new(
                prometheus_client::metrics::histogram::exponential_buckets(0.001, 4.0, 9),
            ),
            deaf_since: Mutex::new(Some(std::time::Instant::now())),
            closes_by_cause: Mutex::new(std::collections::BTreeMap::new()),
            last_disconnect: Mutex::new(None),
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            slots: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
            lifecycle: tokio::sync::broadcast::channel(LIFECYCLE_FEED).0,
            journal: watch::channel(None).0,
        }
    }

    counter!(count_envelope, envelopes);
    counter!(count_duplicate, duplicates);
    counter!(count_refused, refused);
    counter!(count_handled, handled);
    counter!(count_failed, failed);
    counter!(count_panicked, panicked);
    counter!(count_timed_out, timed_out);
    counter!(count_bad_frame, bad_frames);
    counter!(count_replayed, replayed);
    counter!(count_own_message, own_messages);
    counter!(count_answer_sent, answers_sent);
    counter!(count_answer_failed, answers_failed);
    counter!(count_answer_over_rtm, answers_over_rtm);
    counter!(count_answer_handed_over, answers_handed_over);
    counter!(count_held_back, held_back);
    counter!(count_caught_up, caught_up);
    counter!(count_request, requests);
    counter!(count_request_rejected, requests_rejected);

    /// Lifecycle records from now on, as they happen. A reader that falls more than 64
    /// behind is told it lagged (and should look at the snapshot).
    pub(crate) fn lifecycle_changes(&self) -> tokio::sync::broadcast::Receiver<LifecycleRecord> {
        self.lifecycle.subscribe()
    }

    /// The outbox's backlog, as its writer counts it.
    pub(crate) fn set_answers_waiting(&self, waiting: u64) {
        if self
            .counters
            .answers_waiting
            .swap(waiting, Ordering::Relaxed)
            != waiting
        {
            self.bump();
        }
    }

    pub(crate) fn socket_live(&self, reconnect: bool) {
        self.counters.sockets_opened.fetch_add(1, Ordering::Relaxed);
        if reconnect {
            self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        {
            // Under the lock, so a close and a live on two slots at once leave it right.
            let mut deaf = self.deaf_since.lock().unwrap_or_else(|p| p.into_inner());
            self.live_connections.fetch_add(1, Ordering::Relaxed);
            *deaf = None;
        }
        self.bump();
    }

    pub(crate) fn socket_closed(&self, cause: &crate::cause::DisconnectCause) {
        {
            let mut deaf = self.deaf_since.lock().unwrap_or_else(|p| p.into_inner());
            if self.live_connections.fetch_sub(1, Ordering::Relaxed) == 1 {
                *deaf = Some(std::time::Instant::now());
            }
        }
        if !cause.is_planned() {
            *self
                .last_disconnect
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(LastDisconnect {
                cause: cause.to_string(),
                at: SystemTime::now(),
            });
        }
        self.bump();
    }

    /// A slot's phase changed (or may have: only a change is published).
    pub(crate) fn set_slot_phase(&self, slot: usize, phase: SlotPhase) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        if slots.len() <= slot {
            slots.resize(slot + 1, SlotPhase::Waiting { failures: 0 });
        } else if slots[slot] == phase {
            return;
        }
        slots[slot] = phase;
        drop(slots);
        self.bump();
    }

    pub(crate) fn record(&self, slot: usize, connection: u64, change: LifecycleChange) {
        if let LifecycleChange::Closed { cause_kind, .. } = &change {
            let mut closes = self
                .closes_by_cause
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            *closes.entry(cause_kind).or_default() += 1;
        }
        let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        if history.len() == HISTORY {
            history.pop_front();
        }
        let record = LifecycleRecord {
            at: SystemTime::now(),
            slot,
            connection,
            change,
        };
        history.push_back(record.clone());
        drop(history);
        // No reader is fine: nothing needs it then.
        let _ = self.lifecycle.send(record);
        self.bump();
    }

    /// How many sockets closed, by cause kind, since start (replacements included: their
    /// kind is `replaced`).
    pub fn closes_by_cause(&self) -> Vec<(&'static str, u64)> {
        let closes = self
            .closes_by_cause
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        closes.iter().map(|(kind, n)| (*kind, *n)).collect()
    }

    /// How long the bot has had no live socket (since start, before the first); `None`
    /// while one is live.
    pub fn deaf_for(&self) -> Option<Duration> {
        let deaf = self.deaf_since.lock().unwrap_or_else(|p| p.into_inner());
        deaf.map(|since| since.elapsed())
    }

    /// An ack went to its socket `latency` after the envelope arrived.
    pub(crate) fn observe_ack(&self, latency: Duration) {
        self.ack_latency.observe(latency.as_secs_f64());
    }

    /// A handler ran for `took`.
    pub(crate) fn observe_handler(&self, took: Duration) {
        self.handler_duration.observe(took.as_secs_f64());
    }

    /// The two histograms, for `/metrics`: acks, then handlers.
    pub(crate) fn histograms(
        &self,
    ) -> (
        &prometheus_client::metrics::histogram::Histogram,
        &prometheus_client::metrics::histogram::Histogram,
    ) {
        (&self.ack_latency, &self.handler_duration)
    }

    /// Slot `slot`'s loop turned.
    pub(crate) fn beat(&self, slot: usize) {
        let now = std::time::Instant::now();
        let mut beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
        if beats.len() <= slot {
            beats.resize(slot + 1, now);
        }
        beats[slot] = now;
    }

    /// How long ago the slot loop that beat longest ago did; `None` before any beat.
    pub fn slowest_beat(&self) -> Option<Duration> {
        let beats = self.beats.lock().unwrap_or_else(|p| p.into_inner());
        beats.iter().map(|at| at.elapsed()).max()
    }

    /// Whether `slot`'s last open was refused because the bot's replicas hold all the
    /// sockets `NONSTOP_APP_SOCKETS` allows.
    pub(crate) fn set_awaiting_share(&self, slot: usize, awaiting: bool) {
        let bit = 1u32
            .checked_shl(u32::try_from(slot).unwrap_or(u32::MAX))
            .unwrap_or(0);
        if awaiting {
            self.awaiting_share.fetch_or(bit, Ordering::Relaxed);
        } else {
            self.awaiting_share.fetch_and(!bit, Ordering::Relaxed);
        }
    }

    /// True while a slot waits for one of the sockets the bot's replicas share
    /// (`NONSTOP_APP_SOCKETS`): a replica with none live for that reason is on standby, not
    /// broken, and `/healthz` says so.
    pub fn awaiting_socket_share(&self) -> bool {
        self.awaiting_share.load(Ordering::Relaxed) != 0
    }

    /// Journal writes fail (true) or work again (false).
    /// `last_written`: when the last write that worked was made.
    pub(crate) fn set_journal_failing(&self, failing: bool, last_written: SystemTime) {
        self.journal_failing.store(failing, Ordering::Relaxed);
        let now = failing.then_some(last_written);
        self.journal
            .send_if_modified(|was| std::mem::replace(was, now) != now);
    }

    /// While journal writes fail, when the last one worked; `None` while they work.
    pub(crate) fn journal_changes(&self) -> watch::Receiver<Option<SystemTime>> {
        self.journal.subscribe()
    }

    /// True while the journal's writes fail: the bot acks nothing then.
    pub fn journal_failing(&self) -> bool {
        self.journal_failing.load(Ordering::Relaxed)
    }

    /// The most recent lifecycle changes, oldest first (at most 256).
    pub fn history(&self) -> Vec<LifecycleRecord> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .cloned()
            .collect()
    }

    fn bump(&self) {
        self.changed.send_modify(|g| *g = g.wrapping_add(1));
    }

    pub fn snapshot(&self) -> StatusSnapshot {
        StatusSnapshot {
            uptime: self.started.elapsed(),
            live_connections: self.live_connections.load(Ordering::Relaxed),
            counters: self.counters.read(),
            last_disconnect: self
                .last_disconnect
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            slots: self.slots.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        }
    }

    /// Waits until `check` holds for a snapshot, or `timeout` passes; true when it held.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&StatusSnapshot) -> bool,
    ) -> bool {
        let mut changes = self.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            changes.borrow_and_update();
            if check(&self.snapshot()) {
                return true;
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => {}
                _ => return check(&self.snapshot()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_is_one_named_metric_that_reads_its_own_count() {
        let status = Status::new();
        status.count_handled();
        status.count_handled();
        status.set_answers_waiting(5);
        let counts = status.snapshot().counters;
        let mut names = std::collections::HashSet::new();
        for metric in COUNTERS {
            assert!(metric.name.starts_with("nonstop_"), "{}", metric.name);
            assert!(names.insert(metric.name), "{} twice", metric.name);
            assert!(
                !metric.help.trim().is_empty(),
                "{} has no help",
                metric.name
            );
            let expected = match metric.name {
                "nonstop_events_handled" => 2,
                "nonstop_answers_waiting" => 5,
                _ => 0,
            };
            assert_eq!((metric.read)(&counts), expected, "{}", metric.name);
        }
        let gauges = COUNTERS.iter().filter(|m| m.kind == MetricKind::gauge);
        assert_eq!(
            gauges.map(|m| m.name).collect::<Vec<_>>(),
            ["nonstop_answers_waiting"]
        );
    }
}
