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
mod slot_task;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::cause::DisconnectCause;
use crate::error::Error;
use crate::status::Status;
use budget::SocketBudget;
use slot::SlotTiming;

pub(crate) use slot_task::{run_slot, HEARTBEAT};

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
    pub(crate) next_connection: AtomicU64,
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
