//! One slot's task: it carries out what [`SlotState`] decides. It spawns openers and
//! connection tasks and owns them (they end with it), logs each step with its cause, and
//! records each change in [`crate::status::Status`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, Interval};
use tracing::{debug, error, info, warn};

use super::budget::{SocketPermit, Take};
use super::slot::{self, AfterClose, SlotAction, SlotInput, SlotState, STORM_LOG_EVERY};
use super::{OpenError, Order, Report, Supervision, Transport};
use crate::cause::DisconnectCause;
use crate::error::Error;
use crate::status::{LifecycleChange, Status};
use crate::task::OwnedTask;

/// How often each slot loop beats (`Status::beat`).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

/// An opener's task: the connection's id, and how opening it went (with its share of the
/// app's socket total, when there is one).
type Opening<O> = OwnedTask<OpenResult<O>>;
/// How opening one connection went: its id, and the connection with its share, or why not.
type OpenResult<O> = (u64, Result<(O, Option<SocketPermit>), OpenError>);

/// A running connection, owned by its slot.
struct Running {
    connection: u64,
    orders: mpsc::Sender<Order>,
    task: OwnedTask<()>,
    /// Its share of the app's socket total: given back when the connection is gone.
    permit: Option<SocketPermit>,
}

/// Keeps one connection of `slot` live until `shutdown` turns true or a fatal error occurs.
pub(crate) async fn run_slot<T: Transport>(
    transport: Arc<T>,
    supervision: Arc<Supervision>,
    slot: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut task = SlotTask::new(transport, supervision, slot);
    // The loop's heartbeat, for the systemd watchdog: a loop stuck anywhere stops it.
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let Some(input) = task.next_input(&mut shutdown, &mut beat).await else {
            continue;
        };
        let closed_cause = match &input {
            SlotInput::Closed { cause, .. } => Some(cause.clone()),
            _ => None,
        };
        for action in task.state.on(input, Instant::now()) {
            if let Some(end) = task.carry_out(action, closed_cause.as_ref()).await {
                return end;
            }
        }
        task.record_phase();
    }
}

/// What one slot holds between its inputs.
struct SlotTask<T: Transport> {
    transport: Arc<T>,
    supervision: Arc<Supervision>,
    slot: usize,
    state: SlotState,
    reports_tx: mpsc::Sender<Report>,
    reports: mpsc::Receiver<Report>,
    current: Option<Running>,
    opening: Option<Opening<T::Opened>>,
    /// Replaced connections finishing their close; owned so they end with the slot.
    draining: Vec<Running>,
    /// The error a `GiveUp` ends the slot with.
    fatal: Option<Error>,
    /// A connection that opened, waiting for its `Adopt`.
    opened_now: Option<(T::Opened, Option<SocketPermit>)>,
}

impl<T: Transport> SlotTask<T> {
    fn new(transport: Arc<T>, supervision: Arc<Supervision>, slot: usize) -> Self {
        let state = SlotState::new(
            slot,
            supervision.timing,
            rand::rngs::StdRng::from_os_rng(),
            Instant::now(),
        );
        supervision.status.set_slot_phase(slot, state.phase());
        let (reports_tx, reports) = mpsc::channel::<Report>(16);
        Self {
            transport,
            supervision,
            slot,
            state,
            reports_tx,
            reports,
            current: None,
            opening: None,
            draining: Vec::new(),
            fatal: None,
            opened_now: None,
        }
    }

    fn status(&self) -> &Status {
        &self.supervision.status
    }

    fn record_phase(&self) {
        self.status().set_slot_phase(self.slot, self.state.phase());
    }

    /// Waits for the next thing the slot's state must hear of; `None` after a heartbeat.
    async fn next_input(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
        beat: &mut Interval,
    ) -> Option<SlotInput> {
        let wake_at = self.state.next_wake();
        let wake = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let opened = async {
            match self.opening.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        let slot = self.slot;
        tokio::select! {
            // Shutdown first: no storm of opens, closes or reports may hold it back.
            biased;
            _ = shutdown.changed() => Some(SlotInput::Shutdown),
            _ = beat.tick() => {
                self.supervision.status.beat(slot);
                None
            }
            () = wake => Some(SlotInput::Wake),
            result = opened => {
                self.opening = None;
                Some(self.on_opened(result))
            }
            Some(report) = self.reports.recv() => Some(self.on_report(report)),
        }
    }

    fn on_opened(
        &mut self,
        result: Result<OpenResult<T::Opened>, tokio::task::JoinError>,
    ) -> SlotInput {
        let slot = self.slot;
        match result {
            Ok((connection, Ok(open))) => {
                self.opened_now = Some(open);
                SlotInput::Opened { connection }
            }
            Ok((connection, Err(OpenError::Transient { cause, retry_after }))) => {
                SlotInput::OpenFailed {
                    connection,
                    cause,
                    retry_after,
                }
            }
            Ok((connection, Err(OpenError::Fatal(error)))) => {
                error!(slot, connection, %error, "fatal: not retrying");
                self.fatal = Some(error);
                SlotInput::OpenFatal { connection }
            }
            Err(join) => {
                // The opener panicked (a bug of ours): a failed open like any other.
                let detail = join.to_string();
                error!(slot, error = %detail, "socket opener failed; retrying");
                SlotInput::OpenFailed {
                    connection: 0,
                    cause: DisconnectCause::TaskPanicked { detail },
                    retry_after: None,
                }
            }
        }
    }

    fn on_report(&mut self, report: Report) -> SlotInput {
        match report {
            Report::WantsReplacement { connection, why } => {
                SlotInput::WantsReplacement { connection, why }
            }
            Report::Closed {
                connection,
                cause,
                lifetime,
            } => {
                self.status().socket_closed(&cause);
                self.draining.retain(|d| d.connection != connection);
                if self
                    .current
                    .as_ref()
                    .is_some_and(|c| c.connection == connection)
                {
                    self.current = None;
                }
                SlotInput::Closed {
                    connection,
                    cause,
                    lifetime,
                }
            }
        }
    }

    /// Carries out one decision; `Some` when the slot ends with it.
    async fn carry_out(
        &mut self,
        action: SlotAction,
        closed_cause: Option<&DisconnectCause>,
    ) -> Option<Result<(), Error>> {
        let slot = self.slot;
        match action {
            SlotAction::Open => self.open(),
            SlotAction::Adopt {
                connection,
                replacing,
                slot_down_for,
                reconnect,
            } => {
                self.adopt(connection, replacing, slot_down_for, reconnect);
            }
            SlotAction::RetryIn {
                connection,
                cause,
                delay,
                attempt,
            } => {
                log_open_failed(self.status(), slot, connection, &cause, delay, attempt);
            }
            SlotAction::Refresh { connection, why } => {
                info!(
                    slot,
                    connection,
                    why,
                    next = "opening a replacement before closing",
                    "socket refresh"
                );
            }
            SlotAction::StormDelayed {
                connection,
                why,
                age,
                asked_so_far,
                ..
            } => {
                log_storm(slot, connection, why, age, asked_so_far);
            }
            SlotAction::Closed {
                connection,
                cause,
                lifetime,
                next,
                limit_spell_began,
            } => {
                log_closed(
                    self.status(),
                    slot,
                    connection,
                    &cause,
                    lifetime,
                    next,
                    limit_spell_began,
                );
            }
            SlotAction::Stop => return Some(self.stop().await),
            SlotAction::GiveUp => return Some(Err(self.give_up(closed_cause).await)),
        }
        None
    }

    /// Spawns an opener: a share of the app's socket total first, when replicas keep one.
    fn open(&mut self) {
        let slot = self.slot;
        let connection = self
            .supervision
            .next_connection
            .fetch_add(1, Ordering::Relaxed);
        info!(slot, connection, "opening socket");
        let transport = Arc::clone(&self.transport);
        let budget = self.supervision.budget.clone();
        self.opening = Some(OwnedTask::spawn(async move {
            let permit = match budget {
                Some(budget) => match budget.take().await {
                    Take::Taken(permit) => Some(permit),
                    Take::Full { held, total } => {
                        let cause = DisconnectCause::AppSocketsHeld { held, total };
                        let refused = OpenError::Transient {
                            cause,
                            retry_after: None,
                        };
                        return (connection, Err(refused));
                    }
                    Take::Unchecked => None,
                },
                None => None,
            };
            // A failed open drops the permit here: the share is given back.
            let opened = transport.open(connection).await;
            (connection, opened.map(|open| (open, permit)))
        }));
    }

    /// Runs the connection that opened; the one it replaces goes only now (make before break).
    fn adopt(
        &mut self,
        connection: u64,
        replacing: Option<u64>,
        slot_down_for: Option<Duration>,
        reconnect: bool,
    ) {
        let slot = self.slot;
        let Some((open, permit)) = self.opened_now.take() else {
            return;
        };
        let described = T::describe(&open);
        let status = &self.supervision.status;
        status.set_awaiting_share(slot, false);
        status.socket_live(reconnect);
        info!(
            slot,
            connection,
            host = described.host.as_deref().unwrap_or("?"),
            approximate_connection_time_s =
                described.approximate_connection_time.map(|d| d.as_secs()),
            replacing,
            slot_down_ms = slot_down_for.map(|g| g.as_millis() as u64),
            "socket live"
        );
        status.record(slot, connection, LifecycleChange::Live { slot_down_for });
        let (orders_tx, orders_rx) = mpsc::channel(4);
        let reports = self.reports_tx.clone();
        let run = Arc::clone(&self.transport).run(connection, open, orders_rx, reports.clone());
        let task = OwnedTask::spawn(panic_as_close(connection, reports, run));
        let next = Running {
            connection,
            orders: orders_tx,
            task,
            permit,
        };
        if let Some(old) = self.current.replace(next) {
            let _ = old.orders.try_send(Order::ReplacementLive);
            self.draining.push(old);
        }
    }

    /// Shutdown: closes every connection, and lets their closing reports land so status and
    /// logs are complete.
    async fn stop(&mut self) -> Result<(), Error> {
        let slot = self.slot;
        self.record_phase();
        drop(self.opening.take());
        let draining = std::mem::take(&mut self.draining);
        close_all(
            self.current.take(),
            draining,
            self.supervision.drain_timeout,
        )
        .await;
        while let Ok(Some(Report::Closed {
            connection,
            cause,
            lifetime,
        })) = tokio::time::timeout(Duration::from_millis(50), self.reports.recv()).await
        {
            self.status().socket_closed(&cause);
            info!(slot, connection, lifetime_ms = lifetime.as_millis() as u64, cause = %cause, "socket closed");
        }
        Ok(())
    }

    /// A fatal error: the slot closes its connections and ends with the error that says why.
    async fn give_up(&mut self, closed_cause: Option<&DisconnectCause>) -> Error {
        let slot = self.slot;
        self.record_phase();
        let error = match (self.fatal.take(), closed_cause) {
            (Some(error), _) => error,
            (None, Some(cause)) => {
                let error = Error::from_fatal_cause(cause);
                error!(slot, cause = %cause, %error, "fatal: not retrying");
                error
            }
            (None, None) => Error::TaskDied {
                task: "socket slot",
                detail: "gave up without a cause".to_owned(),
            },
        };
        let draining = std::mem::take(&mut self.draining);
        close_all(
            self.current.take(),
            draining,
            self.supervision.drain_timeout,
        )
        .await;
        error
    }
}

/// A failed open, said once per spell when the cause is the replicas' socket total (a standby
/// replica may wait for hours), else at every try.
fn log_open_failed(
    status: &Status,
    slot: usize,
    connection: u64,
    cause: &DisconnectCause,
    delay: Duration,
    attempt: u32,
) {
    let next = format!("retrying in {:.1} s", delay.as_secs_f64());
    let waiting_for_a_share = matches!(cause, DisconnectCause::AppSocketsHeld { .. });
    status.set_awaiting_share(slot, waiting_for_a_share);
    if waiting_for_a_share && attempt > 1 {
        debug!(slot, connection, cause = %cause, attempt, %next, "socket did not open");
    } else if waiting_for_a_share {
        warn!(
            slot,
            connection,
            cause = %cause,
            cause_kind = cause.kind(),
            %next,
            "socket not opened: the bot's replicas hold all the sockets NONSTOP_APP_SOCKETS allows; this slot opens one when another closes (fewer replicas or NONSTOP_CONNECTIONS, or a larger NONSTOP_APP_SOCKETS up to Slack's 10, ends the wait)"
        );
    } else {
        warn!(slot, connection, cause = %cause, cause_kind = cause.kind(), attempt, %next, "socket did not open");
    }
    status.record(
        slot,
        connection,
        LifecycleChange::OpenFailed {
            cause: cause.to_string(),
            retry_in: delay,
        },
    );
}

/// A replacement asked for again right after the last: said once per `STORM_LOG_EVERY`.
fn log_storm(slot: usize, connection: u64, why: &str, age: Duration, asked_so_far: u64) {
    if asked_so_far % STORM_LOG_EVERY == 1 {
        warn!(
            slot,
            connection,
            why,
            age_ms = age.as_millis() as u64,
            asked_so_far,
            "replacement asked for again right after the last one; replacing at most once per {} s (the next {} such requests are not logged)",
            slot::REPLACEMENT_FLOOR.as_secs(),
            STORM_LOG_EVERY - 1,
        );
    }
}

/// A closed connection: recorded, and logged with its cause and what comes next.
fn log_closed(
    status: &Status,
    slot: usize,
    connection: u64,
    cause: &DisconnectCause,
    lifetime: Duration,
    next: AfterClose,
    limit_spell_began: bool,
) {
    let next = match next {
        AfterClose::OtherConnection => "none (slot has another socket)".to_owned(),
        AfterClose::ReplacementOpening => "replacement already opening".to_owned(),
        AfterClose::ReconnectIn(delay) => format!("reconnecting in {:.1} s", delay.as_secs_f64()),
    };
    status.record(
        slot,
        connection,
        LifecycleChange::Closed {
            cause: cause.to_string(),
            cause_kind: cause.kind(),
            planned: cause.is_planned(),
            lifetime,
        },
    );
    let lifetime_ms = lifetime.as_millis() as u64;
    if limit_spell_began {
        warn!(
            slot,
            "Slack allows an app 10 sockets and this app holds them all (other replicas' or processes' included): this slot waits and tries again about twice a minute; keep NONSTOP_CONNECTIONS times the number of replicas within 10, and NONSTOP_APP_SOCKETS within what other processes leave"
        );
    }
    if cause.is_planned() {
        info!(slot, connection, lifetime_ms, cause = %cause, cause_kind = cause.kind(), %next, "socket closed");
    } else {
        warn!(slot, connection, lifetime_ms, cause = %cause, cause_kind = cause.kind(), %next, "socket closed");
    }
}

/// Runs a connection task so that a panic in it (a bug of ours) is reported to the slot as the
/// connection's close, `task_panicked`, and the slot reconnects, instead of the slot believing
/// a dead task's connection live forever.
async fn panic_as_close(
    connection: u64,
    reports: mpsc::Sender<Report>,
    run: impl Future<Output = ()>,
) {
    let started = Instant::now();
    if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
        let detail = crate::task::panic_message(&*panic);
        error!(connection, panic = %detail, "socket task panicked; the slot opens another");
        let _ = reports
            .send(Report::Closed {
                connection,
                cause: DisconnectCause::TaskPanicked { detail },
                lifetime: started.elapsed(),
            })
            .await;
    }
}

/// Tells the current connection and those draining to close, and waits for them together,
/// within one `drain_timeout` (the current one gets at least the 6 s of a polite close).
async fn close_all(current: Option<Running>, draining: Vec<Running>, drain_timeout: Duration) {
    let closing = current.into_iter().chain(draining).map(|running| {
        let _ = running.orders.try_send(Order::Shutdown);
        // The share of the app's socket total goes back once the socket has closed.
        let permit = running.permit;
        running.task.map(move |_| drop(permit))
    });
    let closing = futures_util::future::join_all(closing);
    let _ = tokio::time::timeout(drain_timeout.max(Duration::from_secs(6)), closing).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::supervisor::OpenedInfo;

    /// A transport whose opens fail `fail_first` times (as Slack's connect endpoint does in an
    /// outage), then succeed; its connections run until told to shut down.
    struct Flaky {
        fail_first: usize,
        tries: std::sync::Mutex<Vec<Instant>>,
    }

    impl Transport for Flaky {
        type Opened = ();

        fn open(
            self: Arc<Self>,
            _connection: u64,
        ) -> impl Future<Output = Result<(), OpenError>> + Send + 'static {
            let tries = {
                let mut tries = self.tries.lock().unwrap();
                tries.push(Instant::now());
                tries.len()
            };
            async move {
                if tries <= self.fail_first {
                    Err(OpenError::Transient {
                        cause: DisconnectCause::EofWithoutClose,
                        retry_after: None,
                    })
                } else {
                    Ok(())
                }
            }
        }

        fn describe(_opened: &()) -> OpenedInfo {
            OpenedInfo::default()
        }

        async fn run(
            self: Arc<Self>,
            connection: u64,
            _opened: (),
            mut orders: mpsc::Receiver<Order>,
            reports: mpsc::Sender<Report>,
        ) {
            while let Some(order) = orders.recv().await {
                if matches!(order, Order::Shutdown) {
                    break;
                }
            }
            let cause = DisconnectCause::Shutdown;
            let lifetime = Duration::ZERO;
            let _ = reports
                .send(Report::Closed {
                    connection,
                    cause,
                    lifetime,
                })
                .await;
        }
    }

    /// Hours of a failing connect endpoint on tokio's paused clock: the slot never gives up,
    /// never waits longer than the cap, and never hammers (full jitter spreads the tries);
    /// the first open that works makes it live, and shutdown ends it.
    #[tokio::test(start_paused = true)]
    async fn a_slot_retries_a_failing_open_for_hours_and_goes_live_when_it_works() {
        let config = crate::Config::new("xapp-1-A1-1-test", "xoxb-1-test").unwrap();
        let status = Arc::new(Status::new());
        let supervision = Arc::new(Supervision::new(&config, Arc::clone(&status), None));
        let flaky = Arc::new(Flaky {
            fail_first: 3_000,
            tries: std::sync::Mutex::new(Vec::new()),
        });
        let (stop, stopped) = watch::channel(false);
        let slot = tokio::spawn(run_slot(Arc::clone(&flaky), supervision, 0, stopped));
        let live = status
            .wait_for(Duration::from_secs(24 * 3600), |s| s.live_connections == 1)
            .await;
        assert!(live, "never live: {:?}", status.snapshot());
        let tries = flaky.tries.lock().unwrap().clone();
        assert_eq!(
            tries.len(),
            3_001,
            "every failure was followed by another try"
        );
        let gaps: Vec<Duration> = tries.windows(2).map(|t| t[1] - t[0]).collect();
        let longest = gaps.iter().max().copied().unwrap_or_default();
        assert!(
            longest <= config.backoff_cap + Duration::from_millis(100),
            "waited {longest:?} once"
        );
        let outage = tries[tries.len() - 1] - tries[0];
        assert!(
            outage >= Duration::from_secs(3600),
            "3,000 tries took only {outage:?}"
        );
        let _ = stop.send(true);
        assert!(slot.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_panicking_connection_task_is_reported_closed_with_its_cause() {
        let (reports_tx, mut reports) = mpsc::channel(1);
        panic_as_close(7, reports_tx, async { panic!("index 3 out of bounds") }).await;
        match reports.recv().await {
            Some(Report::Closed {
                connection: 7,
                cause: DisconnectCause::TaskPanicked { detail },
                ..
            }) => assert!(detail.contains("index 3 out of bounds"), "{detail}"),
            other => panic!("not reported as closed: {other:?}"),
        }
        // A task that ends normally reports nothing of its own.
        let (reports_tx, mut reports) = mpsc::channel(1);
        panic_as_close(8, reports_tx, async {}).await;
        assert!(reports.recv().await.is_none());
    }
}
