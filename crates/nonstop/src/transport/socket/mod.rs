//! Socket Mode: N slots, each keeping one live socket, replaced make-before-break.
//!
//! A slot opens a socket, hands it to a connection task, and listens to that task's reports.
//! When the socket asks for a replacement (Slack's `disconnect`, or the planned refresh), the
//! slot opens the next one while the old keeps receiving, and closes the old only once the
//! new one said `hello`. When a socket dies, the slot retries at once and then on a capped,
//! jittered exponential backoff, forever; only fatal errors end it.

mod connection;
pub mod lifecycle;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::backoff::Backoff;
use crate::cause::DisconnectCause;
use crate::config::Config;
use crate::delivery::Intake;
use crate::error::Error;
use crate::status::{LifecycleChange, Status};
use crate::task::OwnedTask;
use connection::{OpenError, Opened, Order, Report};
use nonstop_model::DisconnectReason;

/// What every socket task needs.
#[derive(Debug)]
pub(crate) struct SocketContext {
    pub(crate) config: Config,
    pub(crate) web: nonstop_web::WebClient,
    pub(crate) intake: Arc<Intake>,
    pub(crate) status: Arc<Status>,
    /// Connection ids, unique for the process's life.
    pub(crate) next_connection: AtomicU64,
}

/// A slot opens at most one replacement on request (Slack's `disconnect`, or a planned refresh
/// from a tiny `approximate_connection_time`) within this time; a request that comes sooner
/// waits. The first request is served at once, so make-before-break holds even for a young
/// socket Slack is about to close; a server that asks again after every `hello` gets one
/// socket per slot every few seconds instead of as many as the bot can open.
const REPLACEMENT_FLOOR: Duration = Duration::from_secs(5);
/// While such requests go on, one log line per this many.
const STORM_LOG_EVERY: u64 = 100;

struct Current {
    id: u64,
    orders: mpsc::Sender<Order>,
    task: OwnedTask<()>,
    live_since: Instant,
}

/// Keeps one socket of `slot` live until `shutdown` turns true or a fatal error occurs.
pub(crate) async fn run_slot(
    ctx: Arc<SocketContext>,
    slot: usize,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let config = &ctx.config;
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_cap);
    let (reports_tx, mut reports) = mpsc::channel::<Report>(16);
    let mut current: Option<Current> = None;
    let mut opening: Option<OwnedTask<(u64, Result<Opened, OpenError>)>> = None;
    // Replaced sockets finishing their close, by connection id; owned so they end with us.
    let mut draining: Vec<(u64, OwnedTask<()>)> = Vec::new();
    // Stagger the first sockets a little so they are not opened and refreshed in lockstep.
    let mut open_at: Option<Instant> =
        Some(Instant::now() + Duration::from_millis(150) * slot as u32);
    let mut ever_live = false;
    let mut down_since: Option<Instant> = Some(Instant::now());
    // When the last replacement on request was opened, and how many requests came too soon
    // after one (for the storm's log lines).
    let mut last_requested_open: Option<Instant> = None;
    let mut young_requests: u64 = 0;

    loop {
        let open_due = open_at.filter(|_| opening.is_none());
        let open_timer = async {
            match open_due {
                Some(at) => tokio::time::sleep_until(at).await,
                _ => std::future::pending().await,
            }
        };
        let opened = async {
            match opening.as_mut() {
                Some(task) => task.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            // Shutdown first: no storm of opens, closes or reports may hold it back.
            biased;
            _ = shutdown.changed() => {
                drop(opening.take());
                shutdown_current(current.take()).await;
                // Replaced sockets finish their close together, within one drain_timeout.
                let closing = futures_util::future::join_all(draining.drain(..).map(|(_, task)| task));
                let _ = tokio::time::timeout(config.drain_timeout, closing).await;
                // Let closing reports land so status and logs are complete.
                while let Ok(Some(Report::Closed { connection, cause, lifetime })) =
                    tokio::time::timeout(Duration::from_millis(50), reports.recv()).await
                {
                    ctx.status.socket_closed(&cause);
                    info!(slot, connection, lifetime_ms = lifetime.as_millis() as u64, cause = %cause, "socket closed");
                }
                return Ok(());
            }
            () = open_timer => {
                open_at = None;
                let id = ctx.next_connection.fetch_add(1, Ordering::Relaxed);
                let task_ctx = Arc::clone(&ctx);
                info!(slot, connection = id, "opening socket");
                opening = Some(OwnedTask::spawn(async move { (id, connection::open(&task_ctx).await) }));
            }
            result = opened => {
                opening = None;
                let (id, result) = match result {
                    Ok(pair) => pair,
                    Err(join) => {
                        error!(slot, error = %join, "socket opener failed; retrying");
                        open_at = Some(Instant::now() + backoff.next_delay(None, &mut rand::rng()));
                        continue;
                    }
                };
                match result {
                    Ok(opened) => {
                        let (orders_tx, orders_rx) = mpsc::channel(4);
                        ctx.status.socket_live(ever_live);
                        let gap = down_since.take().map(|since| since.elapsed());
                        info!(
                            slot,
                            connection = id,
                            host = opened.host.as_deref().unwrap_or("?"),
                            approximate_connection_time_s = opened.approximate_connection_time.map(|d| d.as_secs()),
                            replacing = current.as_ref().map(|c| c.id),
                            slot_down_ms = gap.map(|g| g.as_millis() as u64),
                            "socket live"
                        );
                        ctx.status.record(slot, id, LifecycleChange::Live { slot_down_for: gap });
                        ever_live = true;
                        let run = connection::run(Arc::clone(&ctx), id, opened, orders_rx, reports_tx.clone());
                        let task = OwnedTask::spawn(panic_as_close(id, reports_tx.clone(), run));
                        let next = Current { id, orders: orders_tx, task, live_since: Instant::now() };
                        if let Some(old) = current.replace(next) {
                            // Make before break: the old socket goes only now.
                            let _ = old.orders.try_send(Order::ReplacementLive);
                            draining.push((old.id, old.task));
                        }
                    }
                    Err(OpenError::Fatal(error)) => {
                        error!(slot, connection = id, %error, "fatal: not retrying");
                        shutdown_current(current.take()).await;
                        return Err(error);
                    }
                    Err(OpenError::Transient { cause, retry_after }) => {
                        let delay = backoff.next_delay(retry_after, &mut rand::rng());
                        warn!(
                            slot,
                            connection = id,
                            cause = %cause,
                            cause_kind = cause.kind(),
                            attempt = backoff.failures(),
                            next = %format!("retrying in {:.1} s", delay.as_secs_f64()),
                            "socket did not open"
                        );
                        ctx.status.record(slot, id, LifecycleChange::OpenFailed { cause: cause.to_string(), retry_in: delay });
                        open_at = Some(Instant::now() + delay);
                    }
                }
            }
            report = reports.recv() => {
                let Some(report) = report else { continue };
                match report {
                    Report::WantsReplacement { connection, why } => {
                        let Some(asking) = current.as_ref().filter(|c| c.id == connection) else { continue };
                        if opening.is_some() || open_at.is_some() {
                            continue;
                        }
                        let now = Instant::now();
                        let earliest = last_requested_open.map(|at| at + REPLACEMENT_FLOOR);
                        let Some(earliest) = earliest.filter(|at| *at > now) else {
                            info!(slot, connection, why, next = "opening a replacement before closing", "socket refresh");
                            open_at = Some(now);
                            last_requested_open = Some(now);
                            continue;
                        };
                        // The replacement asks to be replaced too: Slack never does that, and a
                        // server that does it after every hello would have the bot open sockets
                        // as fast as it can.
                        young_requests += 1;
                        if young_requests % STORM_LOG_EVERY == 1 {
                            warn!(
                                slot,
                                connection,
                                why,
                                age_ms = asking.live_since.elapsed().as_millis() as u64,
                                asked_so_far = young_requests,
                                "replacement asked for again right after the last one; replacing at most once per {} s (the next {} such requests are not logged)",
                                REPLACEMENT_FLOOR.as_secs(),
                                STORM_LOG_EVERY - 1,
                            );
                        }
                        open_at = Some(earliest);
                        last_requested_open = Some(earliest);
                    }
                    Report::Closed { connection, cause, lifetime } => {
                        ctx.status.socket_closed(&cause);
                        draining.retain(|(id, _)| *id != connection);
                        let was_current = current.as_ref().is_some_and(|c| c.id == connection);
                        if was_current {
                            if let Some(old) = current.take() {
                                if old.live_since.elapsed() >= config.backoff_reset_after {
                                    backoff.reset();
                                }
                            }
                            down_since = Some(Instant::now());
                        }
                        if cause == DisconnectCause::SlackDisconnect(DisconnectReason::LinkDisabled) {
                            let error = Error::link_disabled(&cause);
                            error!(slot, connection, lifetime_ms = lifetime.as_millis() as u64, cause = %cause, %error, "fatal: not retrying");
                            shutdown_current(current.take()).await;
                            return Err(error);
                        }
                        let next = if !was_current || cause.is_planned() {
                            "none (slot has another socket)".to_owned()
                        } else if opening.is_some() {
                            "replacement already opening".to_owned()
                        } else {
                            let delay = backoff.next_delay(None, &mut rand::rng());
                            open_at = Some(Instant::now() + delay);
                            format!("reconnecting in {:.1} s", delay.as_secs_f64())
                        };
                        ctx.status.record(slot, connection, LifecycleChange::Closed {
                            cause: cause.to_string(),
                            cause_kind: cause.kind(),
                            planned: cause.is_planned(),
                            lifetime,
                        });
                        let lifetime_ms = lifetime.as_millis() as u64;
                        if cause.is_planned() {
                            info!(slot, connection, lifetime_ms, cause = %cause, cause_kind = cause.kind(), %next, "socket closed");
                        } else {
                            warn!(slot, connection, lifetime_ms, cause = %cause, cause_kind = cause.kind(), %next, "socket closed");
                        }
                    }
                }
            }
        }
    }
}

/// Runs a connection task so that a panic in it (a bug of ours) is reported to the slot as the
/// socket's close, `task_panicked`, and the slot reconnects, instead of the slot believing a
/// dead task's socket live forever.
async fn panic_as_close(
    connection: u64,
    reports: mpsc::Sender<Report>,
    run: impl std::future::Future<Output = ()>,
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

async fn shutdown_current(current: Option<Current>) {
    if let Some(current) = current {
        let _ = current.orders.try_send(Order::Shutdown);
        let _ = tokio::time::timeout(Duration::from_secs(6), current.task).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_socket_task_is_reported_closed_with_its_cause() {
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
