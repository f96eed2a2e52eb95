//! The journal's writer: one thread that owns all writes, so many envelopes share one
//! transaction (group commit) and the read loops never block on the disk.
//!
//! Flow: a socket's read loop submits an envelope (non-blocking) → the writer commits a batch
//! → for each envelope in it, the ack goes back to the socket that delivered it, and fresh ones
//! go on to dispatch. Handler outcomes come back as marks and ride along in later batches.
//!
//! Cost: a commit (its fsync, WAL header and rewritten pages) costs the writer about as much
//! CPU as twenty journaled envelopes (`nonstop-bench --only journal --batch N`; BENCHMARKS.md).
//! Under load the writer therefore lingers briefly before each commit so that one covers
//! more; when traffic is light it commits at once and acks stay sub-millisecond.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;
use tracing::{error, warn};

use crate::journal::{
    Batch, Mark, NewEntry, NewOutput, Output, OutputAppended, OutputMark, Store, StoreError,
    Written,
};
use nonstop_model::Ack;

use super::backlog::{Backlog, Carried, OutboxLink};
use super::routing::{Deferral, Routing};
use super::Envelope;
use crate::status::Status;

/// Envelopes and marks in one transaction at most.
const MAX_BATCH: usize = 1024;

/// One request to the writer.
#[derive(Debug)]
pub(crate) enum Op {
    /// Journal this envelope, then ack it and, when fresh, dispatch it.
    Append(Box<Submission>),
    /// An envelope that cannot be read past its id: journal it as failed with why, then ack
    /// it, so that Slack stops sending it and `nonstop journal` shows it.
    Reject(Box<Rejection>),
    Mark(Mark),
    /// Write this answer to the outbox, hand it to the sender, then say what was written.
    Output(Box<OutputSubmission>),
    /// Record answers' progress; `durable` hears once it is written (an attempt must be on
    /// disk before its call is made): true when the marks applied, false when another
    /// process owns the answer now (a shared store's fencing) and this one must not call.
    OutputMarks {
        marks: Vec<OutputMark>,
        durable: Option<tokio::sync::oneshot::Sender<bool>>,
    },
    /// Answers claimed from a stopped replica (already in the journal, now this one's): count
    /// them in the backlog and hand them to the sender.
    Adopt(Vec<Output>),
    /// No more envelopes will come: hand dispatch its end, keep taking marks until the
    /// dispatcher (the last sender) is done.
    CloseIntake,
}

/// An envelope on its way into the journal.
#[derive(Debug)]
pub(crate) struct Submission {
    pub(crate) entry: NewEntry,
    pub(crate) envelope: Envelope,
    /// Where its ack goes: the socket that delivered it.
    pub(crate) acks: mpsc::Sender<Ack>,
}

/// An unreadable envelope on its way into the journal, as failed.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) entry: NewEntry,
    pub(crate) error: String,
    pub(crate) acks: mpsc::Sender<Ack>,
}

/// An answer on its way into the outbox.
#[derive(Debug)]
pub(crate) struct OutputSubmission {
    pub(crate) output: NewOutput,
    /// Hears what was written. Gone when the handler was cancelled: the answer is written
    /// and delivered all the same.
    pub(crate) written: tokio::sync::oneshot::Sender<OutputAppended>,
}

/// Retention rules applied by the writer between batches.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Retention {
    pub(crate) keep_for: Duration,
    pub(crate) max_entries: u64,
    pub(crate) every: Duration,
}

/// How long the writer waits for more work before writing carried marks alone: a fast
/// handler's outcome usually arrives within it, and both go out in one write.
const GROUP_WINDOW: Duration = Duration::from_millis(2);

/// Operations per second reaching the writer from which traffic counts as heavy and batches
/// linger. An event is two operations (the envelope, then its outcome), so this is 5,000
/// events/s: the 1,000/s of a busy workspace is committed at once, with sub-millisecond acks.
const LINGER_FROM_OPS_PER_SEC: f64 = 10_000.0;
/// How long the intake is watched before traffic is judged again.
const LOAD_WINDOW: Duration = Duration::from_millis(5);
/// How long a batch lingers under load: adds at most this to an ack, and lets one commit cover
/// the operations of a whole millisecond, which cuts the writer's CPU per envelope by half or
/// more (a commit costs as much as about twenty envelopes).
const LINGER: Duration = Duration::from_millis(1);

/// How often the writer checkpoints while it waits for work. At 1,000 events/s that copies
/// back about a hundred commits' pages at a time: a millisecond, where a checkpoint left to a
/// commit (every 16 MiB of log) holds that commit's acks for several.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// When the writer copies the log back: in a pause after writes, at most every
/// [`CHECKPOINT_EVERY`].
#[derive(Debug)]
struct Checkpoints {
    last: Instant,
    written_since: bool,
    failing: bool,
}

impl Checkpoints {
    fn new() -> Self {
        Checkpoints {
            last: Instant::now(),
            written_since: false,
            failing: false,
        }
    }

    fn written(&mut self) {
        self.written_since = true;
    }

    /// How long the writer may wait for work before a checkpoint is due; `None` while
    /// nothing was written since the last.
    fn patience(&self) -> Option<Duration> {
        self.written_since
            .then(|| CHECKPOINT_EVERY.saturating_sub(self.last.elapsed()))
    }

    /// Checkpoints when one is due; call only when no work is waiting.
    fn in_pause(&mut self, store: &dyn Store) {
        if !self.written_since || self.last.elapsed() < CHECKPOINT_EVERY {
            return;
        }
        match store.checkpoint() {
            Ok(()) if self.failing => {
                self.failing = false;
                warn!("journal checkpoints work again");
            }
            Ok(()) => {}
            // Said once: on a full disk this fails at every pause.
            Err(e) if !self.failing => {
                self.failing = true;
                warn!(error = %e, "journal checkpoint failed; the log grows until one works");
            }
            Err(_) => {}
        }
        self.last = Instant::now();
        self.written_since = false;
    }
}

/// Heavy or light traffic, judged by the writer's intake over the last [`LOAD_WINDOW`].
///
/// Judged by rate, not by how much gathered during the previous commit: how long a commit
/// takes depends on the disk, so a count would mean a different rate on every machine.
#[derive(Debug)]
struct Load {
    since: Instant,
    ops: usize,
    heavy: bool,
}

impl Load {
    fn new(now: Instant) -> Self {
        Load {
            since: now,
            ops: 0,
            heavy: false,
        }
    }

    /// Counts `ops` taken at `now`; true while traffic is heavy. The first batch after a
    /// quiet spell ends a long window with few operations in it, so it is committed at once.
    fn take(&mut self, ops: usize, now: Instant) -> bool {
        self.ops += ops;
        let elapsed = now.saturating_duration_since(self.since);
        if elapsed >= LOAD_WINDOW {
            self.heavy = self.ops as f64 >= LINGER_FROM_OPS_PER_SEC * elapsed.as_secs_f64();
            self.since = now;
            self.ops = 0;
        }
        self.heavy
    }
}

enum Next {
    Op(Op),
    /// Marks are waiting and nothing else came within the window.
    Idle,
    Closed,
}

/// Entries deleted per prune step: small enough that acks waiting behind a step wait
/// milliseconds, not the seconds a whole backlog would take.
const PRUNE_STEP: usize = 5_000;

/// One step of pruning; true when more is left for the next step.
fn prune_step(store: &dyn Store, retention: &Retention) -> bool {
    let cutoff = SystemTime::now()
        .checked_sub(retention.keep_for)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match store.prune(cutoff, retention.max_entries, PRUNE_STEP) {
        Ok(removed) => removed >= PRUNE_STEP as u64,
        Err(e) => {
            warn!(error = %e, "journal prune failed; will retry");
            false
        }
    }
}

/// The next op; with work of its own waiting (marks to write, pruning, a checkpoint), gives
/// up after `patience` so that the work gets done.
fn next_op(ops: &mut mpsc::Receiver<Op>, patience: Option<Duration>) -> Next {
    let Some(patience) = patience else {
        return ops.blocking_recv().map_or(Next::Closed, Next::Op);
    };
    match recv_timeout(ops, patience) {
        Some(Some(op)) => Next::Op(op),
        Some(None) => Next::Closed,
        None => Next::Idle,
    }
}

/// Wakes the writer thread when the channel has something.
struct Unpark(std::thread::Thread);

impl std::task::Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// `blocking_recv` with a timeout (`None` when it passed): the thread sleeps until a sender
/// wakes it or time is up. It needs no runtime, so it works while the runtime shuts down.
fn recv_timeout(ops: &mut mpsc::Receiver<Op>, timeout: Duration) -> Option<Option<Op>> {
    let deadline = Instant::now() + timeout;
    let waker = std::task::Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = std::task::Context::from_waker(&waker);
    loop {
        if let std::task::Poll::Ready(op) = ops.poll_recv(&mut cx) {
            return Some(op);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
    }
}

/// Moves what is waiting in `ops` into `batch`, up to [`MAX_BATCH`].
fn take_waiting(ops: &mut mpsc::Receiver<Op>, batch: &mut Vec<Op>) {
    while batch.len() < MAX_BATCH {
        match ops.try_recv() {
            Ok(op) => batch.push(op),
            Err(_) => break,
        }
    }
}

/// Runs the writer on the current thread until every sender of `ops` is gone: wait for work
/// (or do its own while idle), gather a batch, sort it, commit it in one write, and act on
/// the commit; a prune step between batches.
pub(crate) fn run(
    store: Arc<dyn Store>,
    mut ops: mpsc::Receiver<Op>,
    dispatch: mpsc::Sender<Envelope>,
    status: Arc<Status>,
    retention: Retention,
    deferral: Deferral,
    outbox: OutboxLink,
) {
    let mut writer = Writer {
        routing: Routing::new(dispatch, deferral, Arc::clone(&status)),
        answers: Backlog::new(outbox, Arc::clone(&status)),
        store,
        status,
        retention,
        carried_marks: Vec::new(),
        carried: Carried::default(),
        last_prune: Instant::now(),
        failing_since: None,
        last_written: SystemTime::now(),
        pruning: false,
        load: Load::new(Instant::now()),
        checkpoints: Checkpoints::new(),
    };
    loop {
        let patience = writer.before_waiting(ops.is_empty());
        let first = match next_op(&mut ops, patience) {
            Next::Op(op) => op,
            Next::Closed => break,
            Next::Idle => {
                writer.when_idle();
                continue;
            }
        };
        let batch = writer.gather(first, &mut ops);
        let sorted = writer.sort(batch);
        writer.commit(sorted);
        writer.prune_between_batches();
    }
    writer.finish();
}

/// What the writer holds between batches.
struct Writer {
    store: Arc<dyn Store>,
    status: Arc<Status>,
    retention: Retention,
    routing: Routing,
    answers: Backlog,
    /// Marks and answers a failed or idle write left for the next one.
    carried_marks: Vec<Mark>,
    carried: Carried,
    last_prune: Instant,
    /// Since when writes fail, while they do.
    failing_since: Option<Instant>,
    /// When the last write worked: what a failing journal refused came after it.
    last_written: SystemTime,
    pruning: bool,
    load: Load,
    checkpoints: Checkpoints,
}

/// One batch, sorted for its write.
struct Sorted {
    entries: Vec<NewEntry>,
    /// The envelopes of the first `routes.len()` entries, and where their acks go.
    routes: Vec<(Envelope, mpsc::Sender<Ack>)>,
    marks: Vec<Mark>,
    outputs: Carried,
    /// Acks of envelopes journaled as failed.
    rejected_acks: Vec<(String, mpsc::Sender<Ack>)>,
    /// Room in the dispatch queue taken for the entries written as dispatched.
    slots: Vec<mpsc::OwnedPermit<Envelope>>,
    close_intake: bool,
}

impl Writer {
    /// Hands on what waited for room, checkpoints in a pause; how long the next wait may be
    /// (`None`: as long as it takes) with work of the writer's own waiting.
    fn before_waiting(&mut self, nothing_queued: bool) -> Option<Duration> {
        self.routing
            .feed_waiting(self.store.as_ref(), &mut self.carried_marks);
        if nothing_queued {
            // A pause in the work: copy the log back now, so that no commit has to.
            self.checkpoints.in_pause(self.store.as_ref());
        }
        // While writes fail, an idle writer tries again on its own (an empty write when it
        // has nothing to write): a journal that works again must be known to, and what it
        // refused caught up, even when no envelope comes to find out.
        let idle_work = !self.carried_marks.is_empty()
            || !self.carried.is_empty()
            || self.pruning
            || self.routing.has_waiting()
            || self.failing_since.is_some();
        if idle_work {
            Some(GROUP_WINDOW)
        } else {
            self.checkpoints.patience()
        }
    }

    /// Nothing else came: writes the carried marks on their own, prunes a step.
    fn when_idle(&mut self) {
        let has_carried = !self.carried_marks.is_empty() || !self.carried.is_empty();
        if has_carried || self.failing_since.is_some() {
            match write_carried(self.store.as_ref(), &self.carried_marks, &self.carried) {
                Ok(written) => {
                    // With no envelope coming (Slack gave up on them), this is the write
                    // that says the journal works again.
                    self.last_written = SystemTime::now();
                    works_again(&mut self.failing_since, &self.status, self.last_written);
                    self.carried_marks.clear();
                    let carried = std::mem::take(&mut self.carried);
                    self.answers
                        .written(carried, written.outputs, &written.fenced);
                    self.checkpoints.written();
                }
                Err(e) => {
                    warn!(error = %e, "journal: outcomes not written yet; retrying");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        if self.pruning {
            self.pruning = prune_step(self.store.as_ref(), &self.retention);
        }
    }

    /// `first` and what waits behind it; under heavy traffic, a linger lets more gather so
    /// that one commit (and one fsync) covers it.
    fn gather(&mut self, first: Op, ops: &mut mpsc::Receiver<Op>) -> Vec<Op> {
        let mut batch = vec![first];
        take_waiting(ops, &mut batch);
        if self.load.take(batch.len(), Instant::now()) {
            std::thread::sleep(LINGER);
            let before = batch.len();
            take_waiting(ops, &mut batch);
            self.load.take(batch.len() - before, Instant::now());
        }
        batch
    }

    /// Sorts a batch into what one write holds, with the carried marks and answers first.
    fn sort(&mut self, batch: Vec<Op>) -> Sorted {
        let mut entries: Vec<NewEntry> = Vec::new();
        let mut routes = Vec::new();
        let mut marks = std::mem::take(&mut self.carried_marks);
        let mut outputs = std::mem::take(&mut self.carried);
        let mut close_intake = false;
        let mut held_back = 0;
        let mut rejected = Vec::new();
        for op in batch {
            match op {
                // The outbox is at its bound: the envelope is neither journaled nor acked, so
                // Slack keeps it and delivers it again later.
                Op::Append(_) if self.answers.full() => held_back += 1,
                Op::Append(submission) => {
                    let Submission {
                        entry,
                        envelope,
                        acks,
                    } = *submission;
                    entries.push(entry);
                    routes.push((envelope, acks));
                }
                Op::Reject(rejection) => {
                    let Rejection { entry, error, acks } = *rejection;
                    marks.push(Mark::Failed {
                        key: entry.key.clone(),
                        error,
                    });
                    rejected.push((entry, acks));
                }
                Op::Mark(mark) => marks.push(mark),
                Op::Output(submission) => {
                    let OutputSubmission { output, written } = *submission;
                    outputs.outputs.push(output);
                    outputs.written.push(written);
                }
                Op::OutputMarks { marks, durable } => {
                    if let Some(durable) = durable {
                        let ids = marks.iter().map(OutputMark::id).collect();
                        outputs.durable.push((ids, durable));
                    }
                    outputs.output_marks.extend(marks);
                }
                Op::Adopt(adopted) => self.answers.adopt(adopted),
                Op::CloseIntake => close_intake = true,
            }
        }
        self.answers.held_back(held_back);
        // Fresh envelopes that go straight on to a handler are written as dispatched, in the
        // same statement as the envelope.
        let slots = self.routing.reserve(&mut entries);
        // Rejected envelopes go last: the entries before them line up with `routes`.
        let mut rejected_acks = Vec::with_capacity(rejected.len());
        for (entry, acks) in rejected {
            rejected_acks.push((entry.envelope_id.clone(), acks));
            entries.push(entry);
        }
        Sorted {
            entries,
            routes,
            marks,
            outputs,
            rejected_acks,
            slots,
            close_intake,
        }
    }

    /// One write for the batch; on success acks, dispatch and answers follow, on failure
    /// nothing is acked and the marks wait for the next try.
    fn commit(&mut self, sorted: Sorted) {
        let Sorted {
            entries,
            routes,
            marks,
            outputs,
            rejected_acks,
            slots,
            close_intake,
        } = sorted;
        let batch = Batch {
            entries: &entries,
            marks: &marks,
            outputs: &outputs.outputs,
            output_marks: &outputs.output_marks,
        };
        match self.store.write(&batch) {
            Ok(written) => {
                self.last_written = SystemTime::now();
                let mut outcomes = written.appended;
                outcomes.truncate(routes.len());
                // Rejected envelopes are journaled as failed (or were known already) either
                // way: ack, so that Slack stops sending them.
                self.routing.ack_rejected(rejected_acks);
                self.answers
                    .written(outputs, written.outputs, &written.fenced);
                self.checkpoints.written();
                works_again(&mut self.failing_since, &self.status, self.last_written);
                self.routing
                    .committed(routes, outcomes, slots, &mut self.carried_marks);
            }
            Err(e) => {
                // Nothing was written: no ack goes out, so Slack keeps every envelope of the
                // batch. Marks are kept for the next try.
                if self.failing_since.is_none() {
                    self.failing_since = Some(Instant::now());
                    self.status.set_journal_failing(true, self.last_written);
                    error!(error = %e, envelopes = entries.len(), "journal write failed; not acking until it works");
                }
                self.routing.not_written(entries.len());
                self.carried_marks = marks;
                self.carried = outputs;
                // Don't spin on a broken disk; the read loops keep reading meanwhile.
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        if close_intake {
            self.routing.close();
        }
    }

    /// A prune step between batches: a large backlog is pruned without holding acks up.
    fn prune_between_batches(&mut self) {
        if self.last_prune.elapsed() >= self.retention.every {
            self.last_prune = Instant::now();
            self.pruning = true;
        }
        if self.pruning {
            self.pruning = prune_step(self.store.as_ref(), &self.retention);
        }
    }

    /// Every sender is gone: writes what is left of the outcomes.
    fn finish(mut self) {
        if self.carried_marks.is_empty() && self.carried.is_empty() {
            return;
        }
        match write_carried(self.store.as_ref(), &self.carried_marks, &self.carried) {
            Ok(written) => {
                let carried = std::mem::take(&mut self.carried);
                self.answers
                    .written(carried, written.outputs, &written.fenced);
            }
            Err(e) => {
                error!(error = %e, marks = self.carried_marks.len(), "journal: final outcomes not written; those events will be replayed");
            }
        }
    }
}

/// After a write that worked: if writes had failed, says they work again.
fn works_again(failing_since: &mut Option<Instant>, status: &Status, last_written: SystemTime) {
    if let Some(since) = failing_since.take() {
        status.set_journal_failing(false, last_written);
        warn!(
            failed_for_ms = since.elapsed().as_millis() as u64,
            "journal writes work again"
        );
    }
}

/// Writes outcomes and answers that waited for a commit, with no envelope.
fn write_carried(
    store: &dyn Store,
    marks: &[Mark],
    carried: &Carried,
) -> Result<Written, StoreError> {
    store.write(&Batch {
        marks,
        outputs: &carried.outputs,
        output_marks: &carried.output_marks,
        ..Batch::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{JournalStore, ProbeStore};

    #[test]
    fn waiting_for_work_ends_with_work_its_end_or_the_timeout_without_a_runtime() {
        let (tx, mut rx) = mpsc::channel(4);
        let started = Instant::now();
        assert!(recv_timeout(&mut rx, Duration::from_millis(20)).is_none());
        assert!(started.elapsed() >= Duration::from_millis(20));

        let sender = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.blocking_send(Op::CloseIntake).unwrap();
            // Dropped here: the next wait sees the channel's end.
        });
        // Woken by the send, long before the timeout.
        let got = recv_timeout(&mut rx, Duration::from_secs(20));
        assert!(matches!(got, Some(Some(Op::CloseIntake))), "{got:?}");
        sender.join().unwrap();
        assert!(matches!(
            recv_timeout(&mut rx, Duration::from_secs(20)),
            Some(None)
        ));
        assert!(started.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn batches_linger_only_while_traffic_is_heavy() {
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        let mut load = Load::new(t0);
        // 1,000 events/s: two operations a millisecond.
        for ms in 1..=20 {
            assert!(!load.take(2, at(ms)), "light traffic lingered at {ms} ms");
        }
        // 20,000 events/s: forty a millisecond, judged once a window has passed.
        let heavy: Vec<bool> = (21..=40).map(|ms| load.take(40, at(ms))).collect();
        assert!(!heavy[0], "judged before a window passed");
        assert!(heavy[4..].iter().all(|h| *h), "{heavy:?}");
        // A quiet second, then a burst: its first batch is committed at once.
        assert!(!load.take(100, at(1040)));
    }

    /// A writer on its own thread over `store`, pruning every `prune_every`; dispatched
    /// envelopes are queued and never read. Call from a runtime (the ack deadline timer needs one).
    fn start_writer(
        store: Arc<dyn Store>,
        prune_every: Duration,
    ) -> (mpsc::Sender<Op>, std::thread::JoinHandle<()>) {
        let (ops_tx, ops_rx) = mpsc::channel(16);
        let (dispatch_tx, dispatch_rx) = mpsc::channel(16);
        let retention = Retention {
            keep_for: Duration::from_secs(25 * 3600),
            max_entries: 10_000_000,
            every: prune_every,
        };
        let deferral = Deferral {
            deadline: Duration::from_secs(2),
            runtime: tokio::runtime::Handle::current(),
        };
        let status = Arc::new(Status::new());
        let link = OutboxLink {
            feed: Box::new(|_, _| {}),
            waiting: 0,
            bound: 10_000,
        };
        let writer = std::thread::spawn(move || {
            // Open for as long as the writer runs, though nothing reads them.
            let _dispatched = dispatch_rx;
            run(
                store,
                ops_rx,
                dispatch_tx,
                status,
                retention,
                deferral,
                link,
            );
        });
        (ops_tx, writer)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_log_is_copied_back_in_a_pause_not_by_a_commit() {
        let dir = std::env::temp_dir().join(format!("nonstop-pause-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("journal.db");
        let store = Arc::new(
            crate::journal::SqliteStore::open(&path, crate::journal::sqlite::Durability::Normal)
                .unwrap(),
        );
        let file_size = || std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let before = file_size();
        // About 400 KiB of log: a commit checkpoints by itself only past 16 MiB.
        let raw: Arc<str> = Arc::from("x".repeat(2048));
        let entries: Vec<NewEntry> = (0..200)
            .map(|i| NewEntry {
                key: format!("Ev{i}"),
                envelope_id: format!("e{i}"),
                kind: "events_api".into(),
                raw: raw.clone(),
                received_at: SystemTime::now(),
                dispatched: true,
            })
            .collect();
        store.commit(&entries, &[]).unwrap();

        let (ops_tx, writer) = start_writer(store.clone(), Duration::from_secs(3600));
        // The writer commits these outcomes, then has nothing to do.
        for i in 0..3 {
            let key = format!("Ev{i}");
            ops_tx.send(Op::Mark(Mark::Done { key })).await.unwrap();
        }
        // Polled: the writer is a thread with nothing to await on, and the file's size is
        // what a checkpoint changes.
        let deadline = Instant::now() + Duration::from_secs(10);
        while file_size() < before + 200 * 2048 {
            assert!(
                Instant::now() < deadline,
                "the file stayed at {} bytes: no checkpoint in the pause",
                file_size()
            );
            tokio::time::sleep(CHECKPOINT_EVERY / 4).await;
        }
        drop(ops_tx);
        writer.join().unwrap();
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_large_backlog_is_pruned_in_steps_between_other_work() {
        let store = Arc::new(ProbeStore::new());
        let old = SystemTime::now() - Duration::from_secs(48 * 3600);
        let total = 2 * PRUNE_STEP + 1234;
        let entries: Vec<NewEntry> = (0..total)
            .map(|i| NewEntry {
                key: format!("Ev{i}"),
                envelope_id: format!("e{i}"),
                kind: "events_api".into(),
                raw: Arc::from("{}"),
                received_at: old,
                dispatched: false,
            })
            .collect();
        let done: Vec<Mark> = (0..total)
            .map(|i| Mark::Done {
                key: format!("Ev{i}"),
            })
            .collect();
        store.commit(&entries, &done).unwrap();

        let (ops_tx, writer) = start_writer(store.clone(), Duration::ZERO);
        // Any op wakes the writer; pruning then goes on by itself while it is idle.
        ops_tx
            .send(Op::Mark(Mark::Done { key: "none".into() }))
            .await
            .unwrap();
        // Polled: the writer is a thread with nothing to await on.
        let deadline = Instant::now() + Duration::from_secs(20);
        while store.counts().unwrap().iter().map(|(_, n)| n).sum::<u64>() > 0 {
            assert!(Instant::now() < deadline, "backlog never pruned");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(ops_tx);
        writer.join().unwrap();
        let prunes = store.prunes();
        assert!(prunes.len() >= 3, "{prunes:?}");
        assert!(prunes
            .iter()
            .all(|(limit, removed)| *limit == PRUNE_STEP && *removed <= PRUNE_STEP as u64));
        assert_eq!(prunes.iter().map(|(_, r)| r).sum::<u64>(), total as u64);
    }
}
