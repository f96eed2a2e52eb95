//! The sender: delivers what the outbox holds, lane by lane.
//!
//! One task owns the lanes (a queue per channel, at most one answer of each in flight) and
//! the handlers waiting for deliveries; each answer in flight is a task of its own that
//! retries until Slack takes it or refuses it for good. Outcomes go back to the journal
//! through its writer.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nonstop_web::{Backoff, WebClient, WebError};
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{error, info, warn};

pub(crate) use super::attempt::SenderSetup;
use super::attempt::{not_posted, record_attempt, Finished};
use super::lookup;
use super::over_socket::{self, Route};
use super::socket_route::PlainMessage;
use super::stream_entry;
use super::{findable, Command, Delivered, DeliveryError};
use crate::journal::{Output, OutputMark, Store};

/// The pseudo-method of answers posted to a `response_url`.
pub(crate) const RESPOND: &str = "response_url";

/// Outcomes kept for handlers that ask after their answer went out.
const RECENT: usize = 256;

/// After a call whose answer was lost, how soon the message is looked for a first time: most
/// such calls were carried out, and a message found then lets its channel go on at once
/// instead of after `settle` (issue 25: a lost reply held its channel about 15 s). Not found,
/// it is looked for again once a late call can no longer land.
const EARLY_LOOK: Duration = Duration::from_secs(2);

/// Largest answer of a generic call kept as its result; larger ones keep `{}`.
const MAX_RESULT: usize = 64 * 1024;

#[derive(Default)]
struct Lane {
    queue: VecDeque<Box<Output>>,
    busy: bool,
}

/// The lanes and who waits for what.
#[derive(Default)]
struct Lanes {
    lanes: HashMap<String, Lane>,
    /// Lanes with an answer to start and none in flight.
    ready: VecDeque<String>,
    /// Answers queued or in flight.
    known: HashSet<i64>,
    watchers: HashMap<i64, Vec<oneshot::Sender<Result<Delivered, DeliveryError>>>>,
    /// Outcomes as recorded (a sent answer's result as JSON text): read into a `Delivered`
    /// only for a handler that asks.
    recent: VecDeque<(i64, Result<String, DeliveryError>)>,
    /// Which answer each running task carries, for a task that panics.
    running: HashMap<tokio::task::Id, (String, i64)>,
    /// The attempt covers of answers that start at once ([`NewOutput::attempt_covered_until`]).
    ///
    /// [`NewOutput::attempt_covered_until`]: crate::journal::NewOutput::attempt_covered_until
    covers: HashMap<i64, SystemTime>,
    /// Answers that wait behind others in their lane, whose cover is to be cleared in the
    /// journal: after a crash, only answers that may have been called are looked for.
    uncovered: Vec<i64>,
}

impl Lanes {
    /// Queues `output` in its lane; `cover`, when it was written with one, is kept for its
    /// call when it starts at once, and otherwise cleared (see [`Lanes::uncovered`]).
    fn queue(&mut self, output: Box<Output>, cover: Option<SystemTime>) {
        self.known.insert(output.id);
        let lane = self.lanes.entry(output.lane.clone()).or_default();
        let at_once = !lane.busy && lane.queue.is_empty();
        if at_once {
            self.ready.push_back(output.lane.clone());
        }
        match (cover, at_once) {
            (Some(until), true) => {
                self.covers.insert(output.id, until);
            }
            (Some(_), false) => self.uncovered.push(output.id),
            (None, _) => {}
        }
        lane.queue.push_back(output);
    }

    fn is_idle(&self) -> bool {
        self.lanes.is_empty()
    }

    fn start_ready(
        &mut self,
        setup: &Arc<SenderSetup>,
        tasks: &mut JoinSet<(Box<Output>, Finished)>,
    ) {
        while let Some(name) = self.ready.pop_front() {
            let Some(lane) = self.lanes.get_mut(&name) else {
                continue;
            };
            if lane.busy {
                continue;
            }
            let Some(output) = lane.queue.pop_front() else {
                self.lanes.remove(&name);
                continue;
            };
            lane.busy = true;
            let id = output.id;
            let cover = self.covers.remove(&id);
            let handle = tasks.spawn(deliver(Arc::clone(setup), output, cover));
            self.running.insert(handle.id(), (name, id));
        }
    }

    /// The lane's answer in flight is over: the next one may start.
    fn free(&mut self, name: &str) {
        if let Some(lane) = self.lanes.get_mut(name) {
            lane.busy = false;
            if lane.queue.is_empty() {
                self.lanes.remove(name);
            } else {
                self.ready.push_back(name.to_owned());
            }
        }
    }

    fn resolve(&mut self, id: i64, outcome: Result<String, DeliveryError>) {
        self.known.remove(&id);
        for watcher in self.watchers.remove(&id).into_iter().flatten() {
            let _ = watcher.send(delivered(&outcome));
        }
        if self.recent.len() == RECENT {
            self.recent.pop_front();
        }
        self.recent.push_back((id, outcome));
    }

    fn watch(
        &mut self,
        id: i64,
        reply: oneshot::Sender<Result<Delivered, DeliveryError>>,
        store: &Arc<dyn Store>,
    ) {
        if self.known.contains(&id) {
            self.watchers.entry(id).or_default().push(reply);
            return;
        }
        if let Some((_, outcome)) = self.recent.iter().find(|(recent, _)| *recent == id) {
            let _ = reply.send(delivered(outcome));
            return;
        }
        // Finished long ago: the journal has its outcome.
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || {
            let outcome = match store.outbox_get(id) {
                Ok(Some(output)) => match output.state {
                    crate::journal::OutputState::Sent => {
                        Ok(Delivered::from_result(output.result.as_deref()))
                    }
                    crate::journal::OutputState::Failed => Err(DeliveryError::Refused {
                        method: output.method,
                        error: output.error.unwrap_or_default(),
                    }),
                    crate::journal::OutputState::Pending => Err(DeliveryError::Stopped),
                },
                _ => Err(DeliveryError::Stopped),
            };
            let _ = reply.send(outcome);
        });
    }
}

fn delivered(outcome: &Result<String, DeliveryError>) -> Result<Delivered, DeliveryError> {
    match outcome {
        Ok(result) => Ok(Delivered::from_result(Some(result))),
        Err(error) => Err(error.clone()),
    }
}

/// Delivers `backlog` (what the outbox held at start, oldest first) and every answer the
/// feed brings, until `stop` says how long it may still drain; what is left then stays in the
/// outbox for the next start.
pub(crate) async fn run(
    setup: SenderSetup,
    mut commands: mpsc::UnboundedReceiver<Command>,
    backlog: Vec<Output>,
    mut stop: oneshot::Receiver<Duration>,
) {
    let setup = Arc::new(setup);
    let mut lanes = Lanes::default();
    let mut tasks = JoinSet::new();
    if !backlog.is_empty() {
        info!(
            answers = backlog.len(),
            "delivering answers the outbox held from before the last stop"
        );
    }
    for output in backlog {
        lanes.queue(Box::new(output), None);
    }
    let mut feed_open = true;
    let mut draining_until: Option<Instant> = None;
    loop {
        if !lanes.uncovered.is_empty() {
            // Before any of them starts: its attempt mark then comes after this.
            let marks = lanes
                .uncovered
                .drain(..)
                .map(|id| OutputMark::NotPosted { id });
            let _ = setup.door.mark_all(marks.collect()).await;
        }
        lanes.start_ready(&setup, &mut tasks);
        if let Some(until) = draining_until {
            if lanes.is_idle() || Instant::now() >= until {
                break;
            }
        }
        let drain_end =
            draining_until.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            command = commands.recv(), if feed_open => match command {
                Some(Command::Written(mut output)) => {
                    let cover = output.attempted_at.take();
                    lanes.queue(output, cover);
                }
                Some(Command::Deliver(output)) => lanes.queue(output, None),
                Some(Command::Watch { id, reply }) => lanes.watch(id, reply, &setup.store),
                None => feed_open = false,
            },
            Some(joined) = tasks.join_next_with_id() => match joined {
                Ok((task, (output, finished))) => {
                    lanes.running.remove(&task);
                    lanes.free(&output.lane);
                    finish(&setup, &mut lanes, &output, finished).await;
                }
                Err(failure) => {
                    let Some((lane, id)) = lanes.running.remove(&failure.id()) else {
                        continue;
                    };
                    lanes.free(&lane);
                    if failure.is_panic() {
                        error!(%lane, id, "answer delivery panicked; trying it again from the outbox");
                        requeue(&setup, &mut lanes, id).await;
                    }
                }
            },
            drain = &mut stop, if draining_until.is_none() => {
                let drain = drain.unwrap_or_default();
                draining_until = Some(Instant::now() + drain);
            }
            () = tokio::time::sleep_until(drain_end), if draining_until.is_some() => {}
        }
    }
    let left = lanes.known.len();
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    if left > 0 {
        warn!(
            answers = left,
            "stopping with answers not delivered; they stay in the outbox and go out after the next start"
        );
    }
}

/// Records how an answer's delivery ended and tells whoever waits for it.
async fn finish(setup: &SenderSetup, lanes: &mut Lanes, output: &Output, finished: Finished) {
    let (mark, outcome) = match finished {
        Finished::Sent(result) => {
            setup.status.count_answer_sent();
            let outcome = Ok(result.clone());
            (
                OutputMark::Sent {
                    id: output.id,
                    result,
                },
                outcome,
            )
        }
        Finished::Failed(error) | Finished::TokenRefused(error) => {
            setup.status.count_answer_failed();
            warn!(lane = %output.lane, key = %output.key, method = %output.method, %error, "answer refused by Slack; recorded as failed");
            let refused = DeliveryError::Refused {
                method: output.method.clone(),
                error: error.clone(),
            };
            (
                OutputMark::Failed {
                    id: output.id,
                    error,
                },
                Err(refused),
            )
        }
        Finished::Abandoned => {
            lanes.resolve(output.id, Err(DeliveryError::Stopped));
            return;
        }
        Finished::HandedOver => {
            setup.status.count_answer_handed_over();
            info!(lane = %output.lane, key = %output.key, "answer taken over by another replica (this one was paused past its lease); that one delivers it, this one does not");
            lanes.resolve(output.id, Err(DeliveryError::HandedOver));
            return;
        }
    };
    lanes.resolve(output.id, outcome);
    // The writer outlives the sender; were it gone, the answer would be looked for (a
    // message) or sent again (anything else) after the next start.
    let _ = setup.door.mark(mark).await;
}

/// Puts an answer whose delivery task died back at the front of its lane.
async fn requeue(setup: &Arc<SenderSetup>, lanes: &mut Lanes, id: i64) {
    let store = Arc::clone(&setup.store);
    let row = tokio::task::spawn_blocking(move || store.outbox_get(id)).await;
    match row {
        Ok(Ok(Some(output))) if !output.state.is_finished() => {
            let lane = lanes.lanes.entry(output.lane.clone()).or_default();
            lane.queue.push_front(Box::new(output.clone()));
            if !lane.busy {
                lanes.ready.push_back(output.lane);
            }
        }
        _ => lanes.resolve(id, Err(DeliveryError::Stopped)),
    }
}

async fn deliver(
    setup: Arc<SenderSetup>,
    output: Box<Output>,
    cover: Option<SystemTime>,
) -> (Box<Output>, Finished) {
    let mut cover = cover;
    loop {
        let workspace = match in_workspace(Arc::clone(&setup), &output).await {
            Ok(workspace) => workspace,
            Err(finished) => return (output, finished),
        };
        let finished = deliver_one(&workspace, &output, cover).await;
        let Finished::TokenRefused(code) = finished else {
            return (output, finished);
        };
        // The workspace's token was refused: renewed when it rotates (once, whoever asks
        // first), then the answer goes again with the workspace's current token; kept in the
        // outbox meanwhile, as an answer of the bot's own token is.
        let (Some(key), Some(workspaces)) = (&output.workspace, &setup.workspaces) else {
            return (output, Finished::Failed(code));
        };
        if !workspaces.renew_now(key, &workspace.web).await {
            error!(lane = %output.lane, key = %output.key, workspace = key, code, "answer kept in the outbox until the workspace's token works again");
            tokio::time::sleep(setup.backoff_cap).await;
        }
        cover = None;
    }
}

/// The setup for an answer of an installed workspace: that workspace's token and identity,
/// for the call and for the lookup after a crash alike. An answer whose workspace is no
/// longer installed fails, naming why: no other token may send it.
async fn in_workspace(
    setup: Arc<SenderSetup>,
    output: &Output,
) -> Result<Arc<SenderSetup>, Finished> {
    let (Some(key), Some(workspaces)) = (&output.workspace, &setup.workspaces) else {
        return Ok(setup);
    };
    match workspaces.by_key(key).await {
        Some(workspace) => Ok(Arc::new(SenderSetup {
            web: workspace.web,
            me: workspace.me,
            ..SenderSetup::clone(&setup)
        })),
        None => Err(Finished::Failed(format!(
            "the app is no longer installed in {key} (uninstalled, or its tokens revoked): the answer cannot be sent there"
        ))),
    }
}

/// Delivers one answer: retries until Slack takes it or refuses it for good. Each round: look
/// for it when an earlier call may have posted it, offer it to the socket (once), mark the
/// attempt, call, and decide from the error what comes next.
async fn deliver_one(setup: &SenderSetup, output: &Output, cover: Option<SystemTime>) -> Finished {
    if let Err(e) = serde_json::from_str::<Map<String, Value>>(&output.args) {
        return Finished::Failed(format!("stored arguments unreadable: {e}"));
    }
    let stream = match stream_entry::place(setup, output).await {
        Ok(stream) => stream,
        Err(finished) => return finished,
    };
    // A stream's start or piece an earlier process called for may be in the thread already.
    if output.attempts > 0 {
        if let Some(found) = stream_entry::already_there(setup, output, stream.as_ref()).await {
            return found;
        }
    }
    let mut delivery = Delivery::new(setup, output, cover);
    delivery.stream = stream;
    loop {
        match delivery.look_if_unsure().await {
            Look::Found(finished) => return finished,
            Look::Again => continue,
            Look::NotThere => {}
        }
        if let Some(finished) = delivery.offer_to_socket().await {
            return finished;
        }
        let (attempted_at, deadline) = match delivery.mark_attempt().await {
            Ok(marked) => marked,
            Err(end) => return end,
        };
        let (method, args) = match &delivery.stream {
            // A stream that became a plain message: its text replaced, piece by piece.
            Some(place) if place.fallback => {
                let args = stream_entry::as_update(&setup.web, place, delivery.call_args()).await;
                ("chat.update", args)
            }
            _ => (output.method.as_str(), delivery.call_args()),
        };
        let error = match call(&setup.web, method, args, deadline).await {
            Ok(result) => return Finished::Sent(result),
            Err(error) => error,
        };
        if output.method == "chat.startStream" {
            if let Some(finished) =
                stream_entry::fall_back(&setup.web, &delivery.args(), &error).await
            {
                return finished;
            }
        }
        if let Some(place) = delivery.stream.as_mut() {
            // Slack ended the stream (about five minutes after its start): the rest of the
            // answer goes into the message as an update, as for a stream it refused.
            if stream_entry::ended_by_slack(output, &error, delivery.called) {
                tracing::info!(lane = %output.lane, key = %output.key, "Slack ended the stream before its answer did; the rest goes into the message as an update");
                place.fallback = true;
                continue;
            }
        }
        if let Some(finished) = delivery.after_failed_call(error, attempted_at).await {
            return finished;
        }
    }
}

/// What a look for an answer that may be posted found.
enum Look {
    Found(Finished),
    /// Not decided yet: look again (a first early look, or a lookup that failed for now).
    Again,
    /// Not there (or nothing to look for): send it.
    NotThere,
}

/// One answer's delivery between its rounds.
struct Delivery<'a> {
    setup: &'a SenderSetup,
    output: &'a Output,
    /// Whether a posted message can be found again by the key in its metadata.
    findable: bool,
    /// On RTM, a plain-text message is offered to the socket first (once).
    plain: Option<PlainMessage>,
    socket_offered: bool,
    backoff: Backoff,
    /// Set while an earlier call may have posted the message: from when looking for it means
    /// something. A call recorded by an earlier process may still land until `settle` after.
    unsure_from: Option<SystemTime>,
    /// The attempt mark written with the answer, good for a first call that starts before
    /// then (`NewOutput::attempt_covered_until`); dropped once anything else is marked.
    cover: Option<SystemTime>,
    /// A first look before then, which ends the wait when the message is there already (an
    /// earlier process's call long ago: at once).
    early_look: Option<SystemTime>,
    called: bool,
    /// An append or a stop: where its stream is.
    stream: Option<stream_entry::Place>,
}

impl<'a> Delivery<'a> {
    fn new(setup: &'a SenderSetup, output: &'a Output, cover: Option<SystemTime>) -> Self {
        Self {
            setup,
            output,
            findable: findable(&output.method),
            plain: over_socket::plain_message(setup, output),
            socket_offered: false,
            backoff: Backoff::new(setup.backoff_base, setup.backoff_cap),
            unsure_from: output.attempted_at.map(|at| at + setup.settle),
            early_look: output.attempted_at.map(|_| SystemTime::now()),
            cover: cover.filter(|_| setup.lease.is_none()),
            called: output.attempts > 0,
            stream: None,
        }
    }

    /// The stored arguments (read for each call: the call consumes them; a retry is rare).
    fn args(&self) -> Map<String, Value> {
        serde_json::from_str(&self.output.args).unwrap_or_default()
    }

    /// The arguments of a call, with the key in the metadata when it can be found by it.
    fn call_args(&self) -> Map<String, Value> {
        let mut args = self.args();
        if self.findable {
            lookup::add_key(&mut args, &self.output.key);
        }
        if let Some(place) = &self.stream {
            stream_entry::fill(&mut args, place);
        }
        args
    }

    /// When an earlier call may have posted the message: waits until looking means something
    /// (or the early look), then looks.
    async fn look_if_unsure(&mut self) -> Look {
        let (setup, output) = (self.setup, self.output);
        let (true, Some(from)) = (self.findable, self.unsure_from) else {
            return Look::NotThere;
        };
        let early = self.early_look.take().filter(|at| *at < from);
        if let Ok(left) = early.unwrap_or(from).duration_since(SystemTime::now()) {
            tokio::time::sleep(left).await;
        }
        let args = Value::Object(self.args());
        // Sent over RTM by an earlier process, it carries no metadata: known by its text.
        let taken = match (&self.plain, &setup.socket) {
            (Some(_), Some(socket)) => over_socket::taken(setup, socket.as_ref()).await,
            _ => Default::default(),
        };
        let by_text = self.plain.as_ref().map(|message| lookup::ByText {
            text: &message.text,
            me: &setup.me,
            taken: &taken,
        });
        let found = lookup::find_posted(
            &setup.web,
            &args,
            &output.key,
            output.created_at,
            by_text.as_ref(),
        )
        .await;
        match found {
            Ok(Some(found)) => {
                info!(lane = %output.lane, key = %output.key, "answer found posted already; not sent again");
                return Look::Found(Finished::Sent(found.to_string()));
            }
            // Not there yet: looked for again once a late call can no longer land.
            Ok(None) if early.is_some() => return Look::Again,
            Ok(None) => {}
            Err(e) if e.is_transient() || e.rate_limit_wait().is_some() => {
                let delay = self.backoff.next_delay(e.retry_after(), &mut rand::rng());
                tokio::time::sleep(delay.max(setup.backoff_base)).await;
                return Look::Again;
            }
            Err(e) => warn!(lane = %output.lane, key = %output.key, error = %e,
                "cannot look for an answer that may have been posted already; sending it again (at least once; give the app the channel's history scope for exactly once)"),
        }
        self.unsure_from = None;
        Look::NotThere
    }

    /// Offers a plain message to the socket route once; `Some` when that settled it.
    async fn offer_to_socket(&mut self) -> Option<Finished> {
        let (Some(socket), Some(message), false) =
            (&self.setup.socket, &self.plain, self.socket_offered)
        else {
            return None;
        };
        self.socket_offered = true;
        // The socket route marks its own attempts (and clears them).
        self.cover = None;
        match over_socket::deliver(self.setup, socket.as_ref(), self.output, message).await {
            Route::Done(finished) => Some(finished),
            Route::Web => None,
        }
    }

    /// Recorded before the call when a lookup may need it, and always with a shared store,
    /// where the mark also confirms the answer is still this process's; Slack's Retry-After
    /// is waited out first, so that the call follows the mark at once. A first call that
    /// starts within the cover written with the answer needs no mark of its own.
    async fn mark_attempt(&mut self) -> Result<(SystemTime, Option<Instant>), Finished> {
        let (setup, output) = (self.setup, self.output);
        // A stream's start and pieces are marked too: after a crash, one that may have gone
        // out is looked for in the thread before it is sent again.
        let streamed = self.stream.is_some() || output.method == stream_entry::START;
        if !(self.findable || streamed || setup.lease.is_some()) {
            return Ok((SystemTime::now(), None));
        }
        if output.method != RESPOND {
            setup.web.wait_for_turn(&output.method).await;
            if setup.lease.is_some() {
                wait_for_replicas_limit(setup, output).await;
            }
        }
        if let Some(until) = self.cover.take() {
            let now = SystemTime::now();
            if now < until {
                return Ok((now, None));
            }
        }
        record_attempt(setup, output.id).await
    }

    /// Decides from a failed call: `Some` when the answer is settled (taken after all, or
    /// refused for good), else waits as the error asks and returns `None` for another round.
    async fn after_failed_call(
        &mut self,
        error: WebError,
        attempted_at: SystemTime,
    ) -> Option<Finished> {
        let (setup, output, findable) = (self.setup, self.output, self.findable);
        if error.is_not_sent() {
            // Held by a limit past the lease's safe part: nothing went out; mark again.
            if findable {
                not_posted(setup, output.id).await;
            }
            return None;
        }
        if error.may_have_reached_slack() {
            if let Some(found) =
                stream_entry::already_there(setup, output, self.stream.as_ref()).await
            {
                return Some(found);
            }
        }
        if findable && !error.may_have_reached_slack() {
            // Slack answered without taking it (or the connection never opened): after a
            // crash from here on, nothing needs looking for.
            not_posted(setup, output.id).await;
        }
        if let (Some(wait), Some(_)) = (error.rate_limit_wait(), setup.lease) {
            // Every replica waits it out, not this one alone.
            hold_replicas(setup, output, wait).await;
        }
        if let Some(wait) = error.rate_limit_wait() {
            // Slack did not take it. The method's gate holds the next call until Slack's
            // Retry-After is up (a `response_url` has no gate: wait here).
            if output.method == RESPOND {
                tokio::time::sleep(wait).await;
            }
            return None;
        }
        if done_already(&output.method, &error, self.called) {
            return Some(Finished::Sent("{}".to_owned()));
        }
        self.called = true;
        if error.is_fatal() && output.workspace.is_some() {
            let code = error.code().unwrap_or("invalid_auth").to_owned();
            return Some(Finished::TokenRefused(code));
        }
        if error.is_fatal() {
            error!(lane = %output.lane, key = %output.key, error = %error, "answer kept in the outbox until the token works again");
            tokio::time::sleep(setup.backoff_cap).await;
            return None;
        }
        if !(error.is_transient() || error.may_have_reached_slack()) {
            // Slack's own code when it gave one: what a handler matches on.
            let refusal = error
                .code()
                .map_or_else(|| nonstop_web::redact(&error.to_string()), str::to_owned);
            return Some(Finished::Failed(refusal));
        }
        if findable && error.may_have_reached_slack() {
            // With no answer at all the call may still land; with an error answer it has
            // ended.
            self.unsure_from = Some(if error.is_unanswered() {
                self.early_look = Some(SystemTime::now() + EARLY_LOOK);
                attempted_at + setup.settle
            } else {
                SystemTime::now()
            });
        }
        let delay = self
            .backoff
            .next_delay(error.retry_after(), &mut rand::rng());
        warn!(lane = %output.lane, key = %output.key, error = %error, retry_in_ms = delay.max(setup.backoff_base).as_millis() as u64, "answer not delivered yet; retrying");
        tokio::time::sleep(delay.max(setup.backoff_base)).await;
        None
    }
}

/// What a `Retry-After` holds, in a store the replicas share: a channel's messages (Slack
/// limits `chat.postMessage` per channel), or a method.
fn limit_key(output: &Output) -> String {
    if output.method == "chat.postMessage" {
        format!("chat.postMessage:{}", output.lane)
    } else {
        output.method.clone()
    }
}

/// Records Slack's `Retry-After` where the replicas meet, so that none of them calls before
/// it is up (issue 25: three replicas answering into one channel made 304 calls while another
/// one's Retry-After ran). Best effort: without Redis, each replica obeys its own 429s.
async fn hold_replicas(setup: &SenderSetup, output: &Output, wait: Duration) {
    let store = Arc::clone(&setup.store);
    let key = limit_key(output);
    let held = tokio::task::spawn_blocking(move || store.hold_calls(&key, wait)).await;
    if let Ok(Err(e)) = held {
        warn!(lane = %output.lane, error = %e, "a rate limit could not be shared with the other replicas; they find it out themselves");
    }
}

/// Waits while another replica's `Retry-After` holds this answer's calls.
async fn wait_for_replicas_limit(setup: &SenderSetup, output: &Output) {
    loop {
        let store = Arc::clone(&setup.store);
        let key = limit_key(output);
        let held = tokio::task::spawn_blocking(move || store.calls_held_for(&key)).await;
        match held {
            Ok(Ok(Some(wait))) => tokio::time::sleep(wait).await,
            // Nothing held, or the store cannot say: Slack's own 429 is the backstop.
            _ => return,
        }
    }
}

/// Where a message went, read from Slack's answer: all the outbox keeps of it.
#[derive(serde::Deserialize, serde::Serialize)]
struct Placed {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message_ts: Option<String>,
}

/// Makes the call; the answer as kept: where a message went and its `ts` for the methods the
/// context offers, the whole answer (bounded) for any other call.
async fn call(
    web: &WebClient,
    method: &str,
    mut args: Map<String, Value>,
    deadline: Option<Instant>,
) -> Result<String, WebError> {
    if method == RESPOND {
        let url = match args.remove("response_url") {
            Some(Value::String(url)) => url,
            _ => String::new(),
        };
        let body = args.remove("body").unwrap_or(Value::Null);
        return web.respond(&url, &body).await.map(|()| "{}".to_owned());
    }
    if matches!(
        method,
        "chat.postMessage" | "chat.postEphemeral" | "chat.update" | "chat.delete" | "reactions.add"
    ) {
        let placed: Placed = web.attempt_by(method, args, deadline).await?;
        return Ok(serde_json::to_string(&placed).unwrap_or_else(|_| "{}".to_owned()));
    }
    let answer: Value = web.attempt_by(method, args, deadline).await?;
    Ok(summary(answer))
}

/// Refusals that say the answer's effect is there already: a repeat that changes nothing.
fn done_already(method: &str, error: &WebError, called_before: bool) -> bool {
    match (method, error.code()) {
        ("reactions.add", Some("already_reacted")) => true,
        // Deleted by the call before, whose answer was lost.
        ("chat.delete", Some("message_not_found")) => called_before,
        // Stopped by the call before, whose answer was lost.
        ("chat.stopStream", Some("message_not_in_streaming_state")) => called_before,
        _ => false,
    }
}

/// What is kept of a generic call's answer: all of it but the envelope fields, bounded.
fn summary(mut answer: Value) -> String {
    if let Some(map) = answer.as_object_mut() {
        map.remove("ok");
        map.remove("warning");
        map.remove("response_metadata");
    }
    let text = answer.to_string();
    if text.len() > MAX_RESULT {
        "{}".to_owned()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_harmless_repeats_count_as_done() {
        let refused = |code: &str| WebError::Slack {
            method: "x".into(),
            code: code.into(),
            retry_after: None,
        };
        assert!(done_already(
            "reactions.add",
            &refused("already_reacted"),
            false
        ));
        assert!(!done_already(
            "chat.delete",
            &refused("message_not_found"),
            false
        ));
        assert!(done_already(
            "chat.delete",
            &refused("message_not_found"),
            true
        ));
        assert!(!done_already(
            "chat.postMessage",
            &refused("channel_not_found"),
            true
        ));
    }

    #[test]
    fn a_message_keeps_where_it_went_and_a_generic_call_its_answer() {
        let answer = r#"{"ok":true,"channel":"C1","ts":"1.2","message":{"text":"long"}}"#;
        let placed: Placed = serde_json::from_str(answer).unwrap();
        assert_eq!(
            serde_json::to_string(&placed).unwrap(),
            r#"{"channel":"C1","ts":"1.2"}"#
        );
        let other = summary(json!({"ok": true, "pin": 1, "warning": "x"}));
        assert_eq!(other, r#"{"pin":1}"#);
    }
}
