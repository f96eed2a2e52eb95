//! A bot that runs: the tasks it cannot run without, watched until shutdown or until one of
//! them ends, then stopped in order: sockets first (nothing new comes in), then intake and
//! dispatch (running handlers finish and their outcomes are written), then the outbox's
//! sender (what it can deliver in the drain time), then the journal's writer.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::delivery::writer::Op;
use crate::error::Error;
use crate::task::OwnedTask;

/// Everything [`crate::App::run`] started, for watching and stopping.
pub(crate) struct Running {
    /// The supervisor's slots; each ends only at shutdown or with a fatal error.
    pub(crate) slots: JoinSet<Result<(), Error>>,
    pub(crate) stop_slots: watch::Sender<bool>,
    /// The transport's shared context: it holds the intake, so dropping it (after the slots
    /// ended) leaves the writer's queue to the dispatcher and the sender.
    pub(crate) transport: Arc<dyn std::any::Any + Send + Sync>,
    pub(crate) ops: tokio::sync::mpsc::Sender<Op>,
    pub(crate) writer: std::thread::JoinHandle<()>,
    /// Resolves when the writer's thread ends (returns or unwinds).
    pub(crate) writer_gone: oneshot::Receiver<()>,
    pub(crate) dispatcher: OwnedTask<()>,
    pub(crate) sender: OwnedTask<()>,
    /// Tells the outbox's sender how long it has left to deliver.
    pub(crate) stop_sender: oneshot::Sender<Duration>,
    pub(crate) handler_timeout: Duration,
    pub(crate) drain_timeout: Duration,
}

impl Running {
    /// Watches every task until `shutdown` completes or one of them ends, then stops them
    /// all in order. A fatal error of a slot, or a task that died, is the result.
    pub(crate) async fn until(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        let Running {
            mut slots,
            stop_slots,
            transport,
            ops,
            writer,
            mut writer_gone,
            dispatcher,
            sender,
            stop_sender,
            handler_timeout,
            drain_timeout,
        } = self;
        tokio::pin!(shutdown);
        let mut outcome = Ok(());
        let mut dispatcher = Some(dispatcher);
        let mut sender = Some(sender);
        // Every task the bot cannot run without is watched: one that ends before shutdown
        // ends the run with its name, instead of leaving a bot that acks and never answers.
        tokio::select! {
            // The writer before the dispatcher: when the writer dies, the dispatcher's queue
            // closes with it, and the cause is the writer.
            biased;
            () = &mut shutdown => info!("shutdown requested: closing sockets"),
            Some(result) = slots.join_next() => {
                outcome = match result {
                    Ok(result) => result,
                    Err(join) => Err(Error::TaskDied { task: "socket slot", detail: join.to_string() }),
                };
            }
            _ = &mut writer_gone => {
                outcome = Err(Error::TaskDied { task: "journal writer", detail: "its thread ended".to_owned() });
            }
            joined = ended(&mut dispatcher) => {
                outcome = Err(match joined {
                    // The dispatcher returns when its queue closes, and before shutdown only
                    // the journal's writer closes it, by ending (its thread may still be
                    // unwinding, so `writer_gone` can come a moment later).
                    Ok(()) => Error::TaskDied {
                        task: "journal writer",
                        detail: "its thread ended (the dispatch queue closed with it)".to_owned(),
                    },
                    joined => Error::TaskDied { task: "dispatcher", detail: died(joined) },
                });
            }
            joined = ended(&mut sender) => {
                outcome = Err(Error::TaskDied { task: "outbox sender", detail: died(joined) });
            }
        }
        // A fatal error was logged by the slot that met it; a task that died, by nobody yet.
        if let Err(error @ Error::TaskDied { .. }) = &outcome {
            tracing::error!(%error, "stopping");
        }
        let _ = stop_slots.send(true);
        while let Some(result) = slots.join_next().await {
            if let Ok(Err(error)) = result {
                if outcome.is_ok() {
                    outcome = Err(error);
                }
            }
        }
        // No socket feeds the journal any more: let it hand dispatch its end, so the
        // dispatcher drains, finishes running handlers, and records their outcomes.
        drop(transport);
        let _ = ops.send(Op::CloseIntake).await;
        drop(ops);
        let drain = handler_timeout + Duration::from_secs(1);
        let dispatched = async {
            if let Some(dispatcher) = dispatcher {
                let _ = dispatcher.await;
            }
        };
        if tokio::time::timeout(drain, dispatched).await.is_err() {
            warn!("handlers still running at shutdown were abandoned; they will be replayed");
        }
        // No handler sends answers any more: the sender delivers what it can in the drain
        // time, and leaves the rest in the outbox for the next start.
        let _ = stop_sender.send(drain_timeout);
        let sent = match sender {
            Some(sender) => sender.await,
            None => Ok(()),
        };
        match sent {
            Err(join) if join.is_panic() => {
                warn!("the outbox's sender panicked; its answers stay in the outbox for the next start");
            }
            _ => {}
        }
        // The writer ends once the dispatcher's last outcome and the sender's last mark are
        // written, when nothing can send it more: a `Context` clone that user code keeps
        // (in a task of its own) could, so the wait is bounded. Everything before was
        // committed batch by batch.
        let closed = tokio::task::spawn_blocking(move || writer.join());
        if tokio::time::timeout(drain_timeout, closed).await.is_err() {
            warn!("a Context outlived its handler: the journal stays open until it is dropped; everything sent before is written");
        }
        info!("stopped");
        outcome
    }
}

/// Waits for a watched task to end; never, once it has been taken (or when there is none).
async fn ended<T>(task: &mut Option<OwnedTask<T>>) -> Result<T, tokio::task::JoinError>
where
    T: Send + 'static,
{
    match task.as_mut() {
        Some(running) => {
            let joined = running.await;
            *task = None;
            joined
        }
        None => std::future::pending().await,
    }
}

/// How a watched task ended, in words.
fn died<T>(joined: Result<T, tokio::task::JoinError>) -> String {
    match joined {
        Ok(_) => "it returned".to_owned(),
        Err(join) if join.is_panic() => {
            format!(
                "it panicked: {}",
                crate::task::panic_message(&*join.into_panic())
            )
        }
        Err(join) => join.to_string(),
    }
}
