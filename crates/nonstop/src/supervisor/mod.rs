//! The supervisor: keeps each slot of a transport holding one live connection, for as long as
//! the bot runs, whatever the transport.
//!
//! A slot opens a connection, hands it to a task of its own, and listens to that task's
//! reports. When the connection asks for a replacement (Slack's `disconnect`, the planned
//! refresh), the slot opens the next one while the old keeps receiving, and closes the old
//! only once the new one is live. When a connection dies, the slot retries at once and then on
//! a capped, jittered exponential backoff, forever; only fatal errors end it.
//!
//! Every decision is [`slot::SlotState`]'s (pure, unit-tested); this task carries them out:
//! it spawns openers and connection tasks, owns them (they end with it), logs, and records
//! each change in [`Status`]. A transport (Socket Mode today; RTM and HTTP next) only says how
//! to open a connection and how to run one: [`Transport`]. With replicas on a shared store,
//! each open first takes a share of the app's socket total ([`budget`]).

pub(crate) mod budget;
pub(crate) mod lifecycle;
pub(crate) mod slot;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use rand::SeedableRng;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, error, info, warn};

use crate::cause::DisconnectCause;
use crate::error::Error;
use crate::status::{LifecycleChange, Status};
use crate::task::OwnedTask;
use budget::{SocketBudget, SocketPermit, Take};
use slot::{AfterClose, SlotAction, SlotInput, SlotState, SlotTiming, STORM_LOG_EVERY};

/// A way of holding a connection to Slack that the supervisor can keep live: how to open one
/// and how to run an open one. Everything else (slots, backoff, make-before-break, causes,
/// status records, log lines) is the supervisor's, the same for every transport.
pub(crate) trait Transport: Send + Sync + 'static {
    /// An open connection, ready to run.
    type Opened: Send + 'static;

    /// Opens one connection (for Socket Mode: `apps.connections.open`, the upgrade, `hello`),
    /// within the transport's own timeouts.
    fn open(
        self: Arc<Self>,
        connection: u64,
    ) -> impl Future<Output = Result<Self::Opened, OpenError>> + Send + 'static;

    /// What the slot's "live" line says about an open connection.
    fn describe(opened: &Self::Opened) -> OpenedInfo;

    /// Runs an open connection until it closes, taking the slot's orders, and reports
    /// (`WantsReplacement`, then exactly one `Closed`) to the slot. A panic in it is reported
    /// as the close `task_panicked` by the supervisor.
    fn run(
        self: Arc<Self>,
        connection: u64,
        opened: Self::Opened,
        orders: mpsc::Receiver<Order>,
        reports: mpsc::Sender<Report>,
    ) -> impl Future<Output = ()> + Send + 'static;
}

/// What a slot logs about a connection that opened.
#[derive(Debug, Default)]
pub(crate) struct OpenedInfo {
    pub(crate) host: Option<String>,
    pub(crate) approximate_connection_time: Option<Duration>,
}

/// Why opening failed.
#[derive(Debug)]
pub(crate) enum OpenError {
    /// Retrying cannot help.
    Fatal(Error),
    Transient {
        cause: DisconnectCause,
        retry_after: Option<Duration>,
    },
}

/// Orders from the slot to its connection.
#[derive(Debug)]
pub(crate) enum Order {
    ReplacementLive,
    Shutdown,
}

/// Reports from a connection to its slot.
#[derive(Debug)]
pub(crate) enum Report {
    WantsReplacement {
        connection: u64,
        why: &'static str,
    },
    Closed {
        connection: u64,
        cause: DisconnectCause,
        lifetime: Duration,
    },
}

/// What the slots of one bot share.
#[derive(Debug)]
pub(crate) struct Supervision {
    pub(crate) timing: SlotTiming,
    /// How long replaced and current connections get to close at shutdown.
    pub(crate) drain_timeout: Duration,
    pub(crate) status: Arc<Status>,
    /// With replicas sharing a store: the app's socket total, taken before each open.
    pub(crate) budget: Option<Arc<SocketBudget>>,
    /// Connection ids, unique for the process's life.
    next_connection: AtomicU64,
}

impl Supervision {
    /// With `budget`, when the bot's replicas keep a socket total together.
    pub(crate) fn new(
        config: &crate::Config,
        status: Arc<Status>,
        budget: Option<SocketBudget>,
    ) -> Self {
        Self {
            timing: SlotTiming {
                backoff_base: config.backoff_base,
                backoff_cap: config.backoff_cap,
                backoff_reset_after: config.backoff_reset_after,
                socket_limit_wait: config.socket_limit_wait,
            },
            drain_timeout: config.drain_timeout,
            status,
            budget: budget.map(Arc::new),
            next_connection: AtomicU64::new(1),
        }
    }
}

/// An opener's task: the connection's id, and how opening it went (with its share of the
/// app's socket total, when there is one).
type Opening<O> = OwnedTask<(u64, Result<(O, Option<SocketPermit>), OpenError>)>;

/// A running connection, owned by its slot.
struct Running {
    connection: u64,
    orders: mpsc::Sender<Order>,
    task: OwnedTask<()>,
    /// Its share of the app's socket total: given back when the connection is gone.
    permit: Option<SocketPermit>,
}

/// Keeps one connection of `slot` live until `shutdown` turns true or a fatal error occurs.
/// How often each slot loop beats (`Status::beat`).
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(1);

pub(crate) async fn run_slot<T: Transport>(
    transport: Arc<T>,
    supervision: Arc<Supervision>,
    slot: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let status = &supervision.status;
    let mut state = SlotState::new(
        slot,
        supervision.timing,
        rand::rngs::StdRng::from_os_rng(),
        Instant::now(),
    );
    status.set_slot_phase(slot, state.phase());
    let (reports_tx, mut reports) = mpsc::channel::<Report>(16);
    let mut current: Option<Running> = None;
    let mut opening: Option<Opening<T::Opened>> = None;
    // Replaced connections finishing their close; owned so they end with the slot.
    let mut draining: Vec<Running> = Vec::new();
    // The error a `GiveUp` ends the slot with.
    let mut fatal: Option<Error> = None;
    // A connection that opened, waiting for its `Adopt`.
    let mut opened_now: Option<(T::Opened, Option<SocketPermit>)> = None;
    // The loop's heartbeat, for the systemd watchdog: a loop stuck anywhere stops it.
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    loop {
        let wake_at = state.next_wake();
        let wake = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        let opened = async {
            match opening.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        let input = tokio::select! {
            // Shutdown first: no storm of opens, closes or reports may hold it back.
            biased;
            _ = shutdown.changed() => SlotInput::Shutdown,
            _ = beat.tick() => {
                status.beat(slot);
                continue;
            }
            () = wake => SlotInput::Wake,
            result = opened => {
                opening = None;
                match result {
                    Ok((connection, Ok(open))) => {
                        opened_now = Some(open);
                        SlotInput::Opened { connection }
                    }
                    Ok((connection, Err(OpenError::Transient { cause, retry_after }))) => {
                        SlotInput::OpenFailed { connection, cause, retry_after }
                    }
                    Ok((connection, Err(OpenError::Fatal(error)))) => {
                        error!(slot, connection, %error, "fatal: not retrying");
                        fatal = Some(error);
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
            Some(report) = reports.recv() => match report {
                Report::WantsReplacement { connection, why } => SlotInput::WantsReplacement { connection, why },
                Report::Closed { connection, cause, lifetime } => {
                    status.socket_closed(&cause);
                    draining.retain(|d| d.connection != connection);
                    if current.as_ref().is_some_and(|c| c.connection == connection) {
                        current = None;
                    }
                    SlotInput::Closed { connection, cause, lifetime }
                }
            },
        };
        let closed_cause = match &input {
            SlotInput::Closed { cause, .. } => Some(cause.clone()),
            _ => None,
        };
        for action in state.on(input, Instant::now()) {
            match action {
                SlotAction::Open => {
                    let connection = supervision.next_connection.fetch_add(1, Ordering::Relaxed);
                    info!(slot, connection, "opening socket");
                    let transport = Arc::clone(&transport);
                    let budget = supervision.budget.clone();
                    opening = Some(OwnedTask::spawn(async move {
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
                SlotAction::Adopt {
                    connection,
                    replacing,
                    slot_down_for,
                    reconnect,
                } => {
                    let Some((open, permit)) = opened_now.take() else {
                        continue;
                    };
                    let described = T::describe(&open);
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
                    let run =
                        Arc::clone(&transport).run(connection, open, orders_rx, reports_tx.clone());
                    let task =
                        OwnedTask::spawn(panic_as_close(connection, reports_tx.clone(), run));
                    let next = Running {
                        connection,
                        orders: orders_tx,
                        task,
                        permit,
                    };
                    if let Some(old) = current.replace(next) {
                        // Make before break: the old connection goes only now.
                        let _ = old.orders.try_send(Order::ReplacementLive);
                        draining.push(old);
                    }
                }
                SlotAction::RetryIn {
                    connection,
                    cause,
                    delay,
                    attempt,
                } => {
                    let next = format!("retrying in {:.1} s", delay.as_secs_f64());
                    let waiting_for_a_share =
                        matches!(cause, DisconnectCause::AppSocketsHeld { .. });
                    status.set_awaiting_share(slot, waiting_for_a_share);
                    if waiting_for_a_share && attempt > 1 {
                        // Said at the first refusal; a standby replica may wait for hours.
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
                        warn!(
                            slot,
                            connection,
                            cause = %cause,
                            cause_kind = cause.kind(),
                            attempt,
                            %next,
                            "socket did not open"
                        );
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
                SlotAction::Closed {
                    connection,
                    cause,
                    lifetime,
                    next,
                    limit_spell_began,
                } => {
                    let next = match next {
                        AfterClose::OtherConnection => "none (slot has another socket)".to_owned(),
                        AfterClose::ReplacementOpening => "replacement already opening".to_owned(),
                        AfterClose::ReconnectIn(delay) => {
                            format!("reconnecting in {:.1} s", delay.as_secs_f64())
                        }
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
                SlotAction::Stop => {
                    status.set_slot_phase(slot, state.phase());
                    drop(opening.take());
                    close_all(current.take(), draining, supervision.drain_timeout).await;
                    // Let closing reports land so status and logs are complete.
                    while let Ok(Some(Report::Closed {
                        connection,
                        cause,
                        lifetime,
                    })) =
                        tokio::time::timeout(Duration::from_millis(50), reports.recv()).await
                    {
                        status.socket_closed(&cause);
                        info!(slot, connection, lifetime_ms = lifetime.as_millis() as u64, cause = %cause, "socket closed");
                    }
                    return Ok(());
                }
                SlotAction::GiveUp => {
                    status.set_slot_phase(slot, state.phase());
                    let error = match (fatal.take(), &closed_cause) {
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
                    close_all(current.take(), draining, supervision.drain_timeout).await;
                    return Err(error);
                }
            }
        }
        status.set_slot_phase(slot, state.phase());
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
