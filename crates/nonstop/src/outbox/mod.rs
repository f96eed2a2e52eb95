//! The outbox: answers are as durable as the events that caused them.
//!
//! What a handler sends through its [`crate::Context`] (`say`, `reply`, `post`, `react`,
//! `ephemeral`, `respond`, `update`, `delete`, `send`) is written to the journal first, through
//! the same writer and in the same group commits as the envelopes; the handler goes on once it
//! is durable. A sender task then delivers it: answers in one lane (a channel) one at a time,
//! in the order they were written, lanes side by side. Slack's limits delay an answer and
//! never drop it; transient failures are retried without limit; only a refusal that no retry
//! can change (`channel_not_found`, `msg_too_long`, …) ends an answer as failed.
//!
//! Exactly once: each answer's key is `<event key>#<n>`, the n-th answer of the handler's run,
//! so a handler replayed after a crash writes the same keys again and gets the answers as
//! they stand instead of new ones. A `chat.postMessage` carries its key in the message's
//! metadata; before a message that may already have reached Slack is sent again (a crash or
//! a lost answer during its call), the sender looks for it in the channel's history.

mod attempt;
mod door;
pub(crate) mod left_open;
mod lookup;
mod over_socket;
pub(crate) mod sender;
mod socket_route;
pub(crate) mod stream_entry;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::journal::{NewOutput, OutboxStore, Output, OutputAppended, OutputState};
pub(crate) use door::{answers_to, WriterDoor};
pub(crate) use socket_route::{PlainMessage, SocketRoute, SocketSendError};

/// The metadata field that names an answer's outbox key in a posted message.
pub const METADATA_KEY: &str = "nonstop_outbox";

/// The scopes that let the outbox look a message up in each kind of conversation.
const HISTORY_SCOPES: [&str; 4] = [
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
];

/// Says at start when the token lacks scopes the outbox needs to look for messages a crash
/// may have posted already: without them such a message is sent again (at least once).
pub(crate) fn check_scopes(granted: Option<&[String]>) {
    let Some(granted) = granted else {
        return;
    };
    let missing: Vec<&str> = HISTORY_SCOPES
        .into_iter()
        .filter(|scope| !granted.iter().any(|g| g == scope))
        .collect();
    if missing.len() == HISTORY_SCOPES.len() {
        tracing::warn!(
            missing = %missing.join(","),
            "the bot token has no history scope: after a crash, an answer whose call was cut off cannot be looked for and is sent again (at least once, not exactly once); add the history scopes in the app settings and reinstall"
        );
    } else if !missing.is_empty() {
        tracing::info!(
            missing = %missing.join(","),
            "without these history scopes, answers cut off by a crash in those kinds of conversation are sent again rather than looked for"
        );
    }
}

/// How long after a message is written its first call may start without an attempt mark of
/// its own ([`NewOutput::attempt_covered_until`]). Long enough for the call to follow the
/// write in an idle channel on a busy machine; short, because after a crash every answer
/// written this recently is looked for in history before it is sent again.
pub(crate) const ATTEMPT_COVER: Duration = Duration::from_secs(2);

/// Methods whose message can be found again by the key in its metadata.
fn findable(method: &str) -> bool {
    method == "chat.postMessage"
}

/// What reaches the sender: answers just written, and handlers that wait for one.
#[derive(Debug)]
pub(crate) enum Command {
    /// Written by this process just now: its `attempted_at`, when set, is the cover written
    /// with it ([`NewOutput::attempt_covered_until`]), not a call made.
    Written(Box<Output>),
    /// Taken from the journal (another process's, or at start): `attempted_at` is a call's.
    Deliver(Box<Output>),
    Watch {
        id: i64,
        reply: oneshot::Sender<Result<Delivered, DeliveryError>>,
    },
}

/// The sender's intake. Unbounded so that the journal's writer never waits on it; its
/// length is bounded by the outbox's backlog bound, past which new events are held back.
pub(crate) type Feed = mpsc::UnboundedSender<Command>;

/// An answer that did not reach Slack.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    #[error("Slack refused {method}: {error}; the answer is recorded as failed (see `nonstop journal`) and not sent again")]
    Refused { method: String, error: String },
    #[error("the bot stopped before this answer went out; it stays in the outbox and goes out after the next start")]
    Stopped,
    /// With replicas: this one was paused or cut off from the journal for longer than its
    /// lease, and a live replica took the answer over.
    #[error("another replica took this answer over (this one was paused or cut off past its lease, NONSTOP_TAKEOVER_SECS); that replica delivers it")]
    HandedOver,
}

/// What Slack answered to a delivered answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// The method's answer as recorded: for messages their `channel` and `ts`.
    pub response: Value,
}

impl Delivered {
    /// The posted message's timestamp, its id within the channel (`chat.postMessage`,
    /// `chat.update`; `message_ts` for `chat.postEphemeral`).
    pub fn ts(&self) -> Option<&str> {
        self.response
            .get("ts")
            .or_else(|| self.response.get("message_ts"))
            .and_then(Value::as_str)
    }

    /// The channel the message went to (Slack names the channel when a message was sent to
    /// a user).
    pub fn channel(&self) -> Option<&str> {
        self.response.get("channel").and_then(Value::as_str)
    }

    pub(crate) fn from_result(result: Option<&str>) -> Self {
        let response = result
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or(Value::Null);
        Delivered { response }
    }
}

/// An answer a handler sent: durable in the outbox, on its way to Slack.
///
/// Dropping it is fine: the answer goes out all the same. Await [`Outgoing::delivered`] when
/// the handler needs Slack's answer (a message's `ts`, to update it later); that wait does not
/// count against the handler's timeout.
#[derive(Debug)]
pub struct Outgoing {
    id: i64,
    /// Known at once when a replayed handler sent an answer that was already finished.
    finished: Option<Result<Delivered, DeliveryError>>,
    feed: Feed,
    waits: Arc<Waits>,
}

impl Outgoing {
    /// The answer's id in the outbox.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Waits until Slack took the answer (or refused it for good). Rate limits and outages
    /// make this wait; they never make it fail.
    pub async fn delivered(self) -> Result<Delivered, DeliveryError> {
        if let Some(finished) = self.finished {
            return finished;
        }
        let (reply, answer) = oneshot::channel();
        self.feed
            .send(Command::Watch { id: self.id, reply })
            .map_err(|_| DeliveryError::Stopped)?;
        let _paused = self.waits.pause();
        answer.await.unwrap_or(Err(DeliveryError::Stopped))
    }
}

/// Time a handler spent waiting for deliveries, which its timeout does not count.
#[derive(Debug, Default)]
pub(crate) struct Waits {
    /// std Mutex: two short updates per wait, never held across an await.
    state: Mutex<WaitState>,
}

#[derive(Debug, Default)]
struct WaitState {
    active: usize,
    since: Option<Instant>,
    total: Duration,
}

/// Ends one wait when dropped.
pub(crate) struct Paused<'a>(&'a Waits);

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.active = state.active.saturating_sub(1);
        if state.active == 0 {
            if let Some(since) = state.since.take() {
                state.total += since.elapsed();
            }
        }
    }
}

impl Waits {
    fn lock(&self) -> std::sync::MutexGuard<'_, WaitState> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn pause(&self) -> Paused<'_> {
        let mut state = self.lock();
        if state.active == 0 {
            state.since = Some(Instant::now());
        }
        state.active += 1;
        Paused(self)
    }

    /// How long the handler has waited for deliveries so far, a wait under way included.
    pub(crate) fn waited(&self) -> Duration {
        let state = self.lock();
        state.total + state.since.map_or(Duration::ZERO, |since| since.elapsed())
    }
}

/// Where one handler run's answers go, and how they are numbered.
#[derive(Clone)]
pub(crate) struct Outbox {
    door: WriterDoor,
    feed: Feed,
    /// Where a replayed handler reads what its earlier run wrote.
    written: Arc<dyn OutboxStore>,
    /// [`ATTEMPT_COVER`] with a store this process owns; `None` with a shared one, where
    /// each attempt mark also confirms the answer is still this process's.
    attempt_cover: Option<Duration>,
}

impl std::fmt::Debug for Outbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox")
            .field("attempt_cover", &self.attempt_cover)
            .finish_non_exhaustive()
    }
}

/// One handler run's place in the outbox: its event's key and the next answer's number.
/// Cheap to clone: the contexts of one run share it.
#[derive(Debug, Clone)]
pub(crate) struct Run(Arc<RunState>);

#[derive(Debug)]
struct RunState {
    event_key: String,
    next: AtomicU32,
    waits: Arc<Waits>,
    /// Streams the handler left unfinished, stopped once the run has ended.
    left_open: Mutex<Vec<left_open::LeftOpen>>,
    /// When the handler last wrote a piece of a streamed answer.
    progressed: Mutex<Option<Instant>>,
}

impl Run {
    pub(crate) fn new(event_key: &str) -> Self {
        Run(Arc::new(RunState {
            event_key: event_key.to_owned(),
            next: AtomicU32::new(0),
            waits: Arc::new(Waits::default()),
            left_open: Mutex::new(Vec::new()),
            progressed: Mutex::new(None),
        }))
    }

    /// The handler wrote a piece of a streamed answer: it is alive, and its timeout counts
    /// from now.
    pub(crate) fn progressed(&self) {
        let mut at = self
            .0
            .progressed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *at = Some(Instant::now());
    }

    /// Time since `started` the run's timeout does not count: its waits for deliveries, or,
    /// when it streams an answer, everything up to its last piece (whichever is longer).
    pub(crate) fn uncounted(&self, started: Instant) -> Duration {
        let progressed = *self
            .0
            .progressed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let streamed =
            progressed.map_or(Duration::ZERO, |at| at.saturating_duration_since(started));
        self.waited().max(streamed)
    }

    /// Keeps a stream the handler left unfinished until the run has ended.
    pub(crate) fn leave_open(&self, stream: left_open::LeftOpen) {
        self.left_open().push(stream);
    }

    /// The streams the handler left unfinished; at the end of a run that was not cut off.
    pub(crate) fn take_left_open(&self) -> Vec<left_open::LeftOpen> {
        std::mem::take(&mut *self.left_open())
    }

    fn left_open(&self) -> std::sync::MutexGuard<'_, Vec<left_open::LeftOpen>> {
        self.0
            .left_open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn event_key(&self) -> &str {
        &self.0.event_key
    }

    /// Time this run spent waiting for deliveries.
    pub(crate) fn waited(&self) -> Duration {
        self.0.waits.waited()
    }

    /// The next answer's key: the same for the same answer when the handler is replayed,
    /// as long as it sends its answers in the same order.
    pub(crate) fn next_key(&self) -> String {
        let n = self.0.next.fetch_add(1, Ordering::Relaxed);
        format!("{}#{n}", self.0.event_key)
    }
}

impl Outbox {
    /// `shared`: whether other processes share the store (see [`Outbox::attempt_cover`]).
    pub(crate) fn new(
        door: WriterDoor,
        feed: Feed,
        written: Arc<dyn OutboxStore>,
        shared: bool,
    ) -> Self {
        Outbox {
            door,
            feed,
            written,
            attempt_cover: (!shared).then_some(ATTEMPT_COVER),
        }
    }

    /// The answers written under these keys before (by an earlier run of a replayed handler).
    pub(crate) async fn written_before(&self, keys: Vec<String>) -> Result<Vec<Output>, String> {
        let store = Arc::clone(&self.written);
        match tokio::task::spawn_blocking(move || store.outbox_by_keys(&keys)).await {
            Ok(read) => read.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Writes one answer of `run` under `key` (one of the run's, [`Run::next_key`]; `args`: a
    /// JSON object's text) and returns once it is durable.
    pub(crate) async fn submit(
        &self,
        run: &Run,
        key: String,
        lane: String,
        method: &str,
        args: String,
        workspace: Option<String>,
    ) -> Result<Outgoing, DeliveryError> {
        let now = SystemTime::now();
        let output = NewOutput {
            key,
            lane,
            method: method.to_owned(),
            args,
            created_at: now,
            attempt_covered_until: self
                .attempt_cover
                .filter(|_| findable(method))
                .map(|cover| now + cover),
            workspace,
        };
        let outcome = self
            .door
            .write(output)
            .await
            .map_err(|_| DeliveryError::Stopped)?;
        let (id, finished) = match outcome {
            OutputAppended::Fresh { id } => (id, None),
            OutputAppended::Existing(output) => {
                let finished = match output.state {
                    OutputState::Pending => None,
                    OutputState::Sent => Some(Ok(Delivered::from_result(output.result.as_deref()))),
                    OutputState::Failed => Some(Err(DeliveryError::Refused {
                        method: output.method.clone(),
                        error: output.error.clone().unwrap_or_default(),
                    })),
                };
                (output.id, finished)
            }
        };
        Ok(Outgoing {
            id,
            finished,
            feed: self.feed.clone(),
            waits: Arc::clone(&run.0.waits),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn waits_count_overlapping_waits_once_and_the_one_under_way() {
        let waits = Waits::default();
        {
            let _a = waits.pause();
            tokio::time::advance(Duration::from_secs(2)).await;
            let _b = waits.pause();
            tokio::time::advance(Duration::from_secs(1)).await;
            assert_eq!(waits.waited(), Duration::from_secs(3));
        }
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(waits.waited(), Duration::from_secs(3));
    }

    #[test]
    fn replayed_runs_number_their_answers_the_same() {
        let first = Run::new("Ev1");
        let replay = Run::new("Ev1");
        let keys = |run: &Run| (0..3).map(|_| run.next_key()).collect::<Vec<_>>();
        assert_eq!(keys(&first), vec!["Ev1#0", "Ev1#1", "Ev1#2"]);
        assert_eq!(keys(&replay), keys(&Run::new("Ev1")));
    }
}
