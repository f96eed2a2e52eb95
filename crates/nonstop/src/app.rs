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
use crate::delivery::{Dedup, Intake};
use crate::dispatch::{self, Handler};
use crate::error::Error;
use crate::status::Status;
use crate::transport::socket::{self, SocketContext};

/// A bot: configuration, a handler, and the runtime's status.
pub struct App {
    config: Config,
    handler: Arc<dyn Handler>,
    status: Arc<Status>,
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
        }
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

        let (queue_tx, queue_rx) = mpsc::channel(config.dispatch_queue);
        let intake = Arc::new(Intake::new(
            Dedup::new(config.dedup_retention, config.dedup_capacity),
            queue_tx,
            Arc::clone(&self.status),
        ));
        let ctx = Context::new(web.clone(), me, Arc::clone(&self.status));
        let dispatcher = tokio::spawn(dispatch::run(
            queue_rx,
            self.handler,
            ctx,
            config.max_concurrent_handlers,
            config.handler_timeout,
            Arc::clone(&self.status),
        ));

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
        // Every intake sender lived in the slots' context; once it is dropped the dispatcher
        // drains what was accepted and stops.
        drop(socket_ctx);
        let drain = config.handler_timeout + Duration::from_secs(1);
        if tokio::time::timeout(drain, dispatcher).await.is_err() {
            warn!("handlers still running at shutdown were abandoned");
        }
        info!("stopped");
        outcome
    }
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
