//! The runtime's entry point: wires intake, dispatch and the socket slots, and runs them
//! until shutdown or a fatal error.

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::config::Config;
use crate::context::{BotIdentity, Context};
use crate::delivery::{Envelope, Intake};
use crate::dispatch::{self, Handler};
use crate::error::Error;
use crate::journal::writer::{self, Op, Retention};
use crate::journal::{MemoryStore, SqliteStore, Store};
use crate::status::Status;
use crate::storage::Storage;
use crate::task::OwnedTask;
use crate::transport::socket::{self, SocketContext};

/// A bot: configuration, a handler, and the runtime's status.
pub struct App {
    config: Config,
    handler: Arc<dyn Handler>,
    status: Arc<Status>,
    store: Option<Arc<dyn Store>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A bot that answers the built-in commands (`ping`, `status`).
    pub fn new(config: Config) -> Self {
        Self::with_handler(config, crate::builtin::commands)
    }

    pub fn with_handler(config: Config, handler: impl Handler) -> Self {
        Self {
            config,
            handler: Arc::new(handler),
            status: Arc::new(Status::new()),
            store: None,
        }
    }

    /// Uses `store` as the journal instead of the one `config.journal_path` names.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Live counters, readable while [`App::run`] runs.
    pub fn status(&self) -> Arc<Status> {
        Arc::clone(&self.status)
    }

    /// Runs until `shutdown` completes (then closes sockets, lets running handlers finish,
    /// and returns `Ok`) or a fatal error occurs (returned, naming the cause and the fix).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        self.config.validate()?;
        let config = self.config;
        let web = nonstop_web::WebClient::new(
            &config.api_url,
            Some(config.bot_token.clone()),
            config.web_timeout,
        )
        .map_err(|e| Error::Startup(e.to_string()))?;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        // The journal first: a path that can't be opened is a local mistake, reported before
        // any network call.
        let store = match self.store {
            Some(store) => store,
            None => open_store(&config).await?,
        };

        let me = tokio::select! {
            me = identify(&web, &config) => Arc::new(me?),
            () = &mut shutdown => return Ok(()),
        };
        info!(
            user_id = me.user_id.as_deref().unwrap_or("?"),
            bot_id = me.bot_id.as_deref().unwrap_or("?"),
            team_id = me.team_id.as_deref().unwrap_or("?"),
            connections = config.connections,
            "bot identified; opening sockets"
        );

        // Replay first: what was journaled but not finished before the last stop, in arrival
        // order, before any new traffic.
        let backlog = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || store.unfinished(MAX_REPLAY))
                .await
                .map_err(|e| Error::Startup(format!("reading the journal: {e}")))?
                .map_err(|e| Error::Startup(e.to_string()))?
        };

        let (queue_tx, queue_rx) = mpsc::channel(config.dispatch_queue);
        let (ops_tx, ops_rx) = mpsc::channel(config.journal_queue);
        let writer = {
            let store = Arc::clone(&store);
            let status = Arc::clone(&self.status);
            let queue_tx = queue_tx.clone();
            let retention = Retention {
                keep_for: config.journal_retention,
                max_entries: config.journal_max_entries,
                every: Duration::from_secs(60),
            };
            std::thread::Builder::new()
                .name("nonstop-journal".into())
                .spawn(move || writer::run(store, ops_rx, queue_tx, status, retention))
                .map_err(|e| Error::Startup(format!("could not start the journal writer: {e}")))?
        };
        let intake = Arc::new(Intake::new(ops_tx.clone(), Arc::clone(&self.status)));
        let ctx = Context::new(
            web.clone(),
            me,
            Arc::clone(&self.status),
            Storage::new(Arc::clone(&store)),
        );
        let dispatcher = OwnedTask::spawn(dispatch::run(
            queue_rx,
            ops_tx.clone(),
            self.handler,
            ctx,
            config.max_concurrent_handlers,
            config.handler_timeout,
            Arc::clone(&self.status),
        ));
        if !backlog.is_empty() {
            info!(
                events = backlog.len(),
                "replaying events journaled but not finished before the last stop"
            );
        }
        for entry in &backlog {
            match Envelope::from_entry(entry) {
                Some(envelope) => {
                    self.status.count_replayed();
                    if queue_tx.send(envelope).await.is_err() {
                        break;
                    }
                }
                None => {
                    warn!(seq = entry.seq, key = %entry.key, "journal entry unreadable; not replayed")
                }
            }
        }
        drop(queue_tx);

        let socket_ctx = Arc::new(SocketContext {
            config: config.clone(),
            web,
            intake,
            status: Arc::clone(&self.status),
            next_connection: AtomicU64::new(1),
        });
        let mut slots = JoinSet::new();
        for slot in 0..config.connections {
            slots.spawn(socket::run_slot(
                Arc::clone(&socket_ctx),
                slot,
                stop_rx.clone(),
            ));
        }
        drop(stop_rx);

        let mut outcome = Ok(());
        tokio::select! {
            () = &mut shutdown => info!("shutdown requested: closing sockets"),
            Some(result) = slots.join_next() => {
                outcome = match result {
                    Ok(result) => result,
                    Err(join) => Err(Error::Startup(format!("a socket slot crashed: {join}"))),
                };
            }
        }
        let _ = stop_tx.send(true);
        while let Some(result) = slots.join_next().await {
            if let Ok(Err(error)) = result {
                if outcome.is_ok() {
                    outcome = Err(error);
                }
            }
        }
        // No socket feeds the journal any more: let it hand dispatch its end, so the
        // dispatcher drains, finishes running handlers, and records their outcomes.
        drop(socket_ctx);
        let _ = ops_tx.send(Op::CloseIntake).await;
        drop(ops_tx);
        let drain = config.handler_timeout + Duration::from_secs(1);
        if tokio::time::timeout(drain, dispatcher).await.is_err() {
            warn!("handlers still running at shutdown were abandoned; they will be replayed");
        }
        // The writer ends once the dispatcher's last outcome is written.
        let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        info!("stopped");
        outcome
    }
}

/// Entries replayed at start at most; more stay in the journal for the next start.
const MAX_REPLAY: usize = 100_000;

/// The journal `config` names: a SQLite file, or memory.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    let Some(path) = config.journal_path.clone() else {
        return Ok(Arc::new(MemoryStore::new()));
    };
    let durability = config.journal_durability;
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(path, durability))
        .await
        .map_err(|e| Error::Startup(format!("opening the journal: {e}")))?
        .map_err(|e| Error::Startup(e.to_string()))?;
    info!(path = store.path(), "journal open");
    Ok(Arc::new(store))
}

/// `auth.test`, retried until it answers: a fatal answer ends the run.
async fn identify(web: &nonstop_web::WebClient, config: &Config) -> Result<BotIdentity, Error> {
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_cap);
    loop {
        match web.auth_test().await {
            Ok(auth) => {
                return Ok(BotIdentity {
                    user_id: auth.user_id,
                    bot_id: auth.bot_id,
                    team_id: auth.team_id,
                })
            }
            Err(e) if e.is_fatal() => return Err(Error::from_web(&e)),
            Err(e) => {
                let delay = backoff.next_delay(e.retry_after(), &mut rand::rng());
                warn!(error = %e, next = %format!("retrying in {:.1} s", delay.as_secs_f64()), "auth.test failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
