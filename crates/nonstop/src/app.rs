//! The runtime's entry point: the builder, and `run`, which opens the journal, identifies the
//! bot, replays what was left, wires the writer, intake, dispatcher, outbox sender and the
//! supervisor's slots together, and hands them to `running.rs` to watch and stop.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::builtin;
use crate::config::{Config, TransportKind};
use crate::context::{BotIdentity, Context, States};
use crate::delivery::catch_up::{self, CatchUp};
use crate::delivery::takeover;
use crate::delivery::writer::{self, Retention};
use crate::delivery::{replayed_envelope, Intake};
use crate::delivery::{Deferral, OutboxLink};
use crate::dispatch;
use crate::doctor::{self, DoctorOptions, Finding};
use crate::error::Error;
use crate::handler::Handler;
use crate::journal::{MemoryStore, SqliteStore, Store};
use crate::listeners::{After, Before, Hears, Listener, Message};
use crate::ops;
use crate::outbox::sender::{self, SenderSetup};
use crate::outbox::SocketRoute;
use crate::outbox::{self, Outbox};
use crate::router::{Router, Routes};
use crate::running::Running;
use crate::scopes::{self, ScopeNeed};
use crate::status::Status;
use crate::storage::Storage;
use crate::supervisor::budget::SocketBudget;
use crate::supervisor::{self, Supervision};
use crate::task::OwnedTask;
use crate::transport::rtm::send::RtmSends;
use crate::transport::rtm::RtmContext;
use crate::transport::socket::SocketContext;
use nonstop_model::{BlockAction, OptionsRequest, Shortcut, SlashCommand, ViewPayload};
use nonstop_web::ClientOptions;
use serde::de::DeserializeOwned;
use std::any::TypeId;

/// A bot: configuration, listeners and middleware, and the runtime's status.
///
/// Register listeners with the builder methods, then [`App::run`] it:
///
/// ```no_run
/// use nonstop::{App, Config, Context, HandlerResult, Message};
///
/// async fn greet(ctx: Context, message: Message) -> HandlerResult {
///     let name = message.capture(1).unwrap_or("there");
///     ctx.say(&format!("hello, {name}")).await?;
///     Ok(())
/// }
///
/// # async fn start() -> Result<(), nonstop::Error> {
/// let app = App::new(Config::from_env()?).hears(r"^hello (\w+)", greet);
/// app.run(nonstop::shutdown_signal()).await
/// # }
/// ```
pub struct App {
    config: Config,
    router: Router,
    states: States,
    status: Arc<Status>,
    store: Option<Arc<dyn Store>>,
    /// The scopes the listeners need, for `doctor`.
    needs: Vec<ScopeNeed>,
    /// Where the operator endpoint listens, when given here rather than by address.
    http_listener: Option<std::net::TcpListener>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("config", &self.config)
            .field("router", &self.router)
            .finish_non_exhaustive()
    }
}

impl App {
    /// A bot with no listeners yet.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            router: Router::default(),
            states: States::new(),
            status: Arc::new(Status::new()),
            store: None,
            needs: Vec::new(),
            http_listener: None,
        }
    }

    /// Serves the operator endpoint (`/healthz`, `/readyz`, `/metrics`) on `listener`
    /// instead of binding `Config::http_addr` (tests bind port 0 and read it back).
    #[must_use]
    pub fn with_http_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.http_listener = Some(listener);
        self
    }

    /// The OAuth scopes the registered listeners need (any one of each need's scopes will
    /// do), as `doctor` checks them.
    pub fn needed_scopes(&self) -> &[ScopeNeed] {
        &self.needs
    }

    /// Walks this bot's setup step by step without starting it (see [`crate::doctor`]): the
    /// `auth.test` step also names scopes its listeners need and the token lacks.
    pub async fn doctor(
        &self,
        options: &DoctorOptions,
        report: impl FnMut(&Finding),
    ) -> Vec<Finding> {
        doctor::diagnose_with_needs(&self.config, &self.needs, options, report).await
    }

    /// A bot whose one handler takes every envelope raw.
    pub fn with_handler(config: Config, handler: impl Handler) -> Self {
        Self::new(config).on_envelope(handler)
    }

    /// Messages whose text matches the regex `pattern`, anywhere the bot can read; the
    /// listener gets the captures. See [`App::hears_with`] to narrow where.
    #[must_use]
    pub fn hears(self, pattern: &str, listener: impl Listener<Message>) -> Self {
        self.hears_with(Hears::new(pattern), listener)
    }

    /// Messages that `hears` admits: a pattern plus places (direct, mention, channel,
    /// thread) and subtypes. A pattern that does not compile makes [`App::run`] fail.
    #[must_use]
    pub fn hears_with(mut self, hears: Hears, listener: impl Listener<Message>) -> Self {
        let direct_only = hears.direct && !hears.mention && !hears.channel;
        let mention_only = hears.mention && !hears.direct && !hears.channel;
        self.needs
            .extend(scopes::for_hears(&hears.pattern, direct_only, mention_only));
        self.router.hears(hears, listener);
        self
    }

    /// Adds the built-in commands: `ping X` is answered `pong X`, `status` with the
    /// runtime's health (in the thread when asked in one).
    #[must_use]
    pub fn with_builtin_commands(self) -> Self {
        // ASCII classes: Unicode ones would load the Unicode tables into every bot's memory
        // for two fixed words.
        self.hears(r"^ping([ \t].*)?$", builtin::ping)
            .hears(r"^(?:status|Status|STATUS)$", builtin::status)
    }

    /// Events API events of `event_type` (`app_mention`, `reaction_added`,
    /// `member_joined_channel`, or any other by name; `*` for all), read into `T`: a typed
    /// event such as [`nonstop_model::ReactionEvent`], or `serde_json::Value` for the raw
    /// JSON.
    #[must_use]
    pub fn event<T: DeserializeOwned + Send + 'static>(
        mut self,
        event_type: &str,
        listener: impl Listener<T>,
    ) -> Self {
        self.needs.extend(scopes::for_event(event_type));
        self.router.event(event_type.to_owned(), listener);
        self
    }

    /// The slash command `command` (`/ticket` or `ticket`). Answer in the ack with
    /// [`Context::ack`], later with [`Context::respond`].
    #[must_use]
    pub fn command(mut self, command: &str, listener: impl Listener<SlashCommand>) -> Self {
        self.needs.extend(scopes::for_command(command));
        self.router.command(command.to_owned(), listener);
        self
    }

    /// `block_actions` on the element `action_id` (buttons, selects, …).
    #[must_use]
    pub fn action(mut self, action_id: &str, listener: impl Listener<BlockAction>) -> Self {
        self.router.action(action_id.to_owned(), listener);
        self
    }

    /// `view_submission` of views with `callback_id`. Answer with a `response_action`
    /// (errors, update, push, clear) through [`Context::ack`].
    #[must_use]
    pub fn view_submission(
        mut self,
        callback_id: &str,
        listener: impl Listener<ViewPayload>,
    ) -> Self {
        self.router
            .view("view_submission", callback_id.to_owned(), listener);
        self
    }

    /// `view_closed` of views with `callback_id` (sent when the view set `notify_on_close`).
    #[must_use]
    pub fn view_closed(mut self, callback_id: &str, listener: impl Listener<ViewPayload>) -> Self {
        self.router
            .view("view_closed", callback_id.to_owned(), listener);
        self
    }

    /// Global and message shortcuts with `callback_id`.
    #[must_use]
    pub fn shortcut(mut self, callback_id: &str, listener: impl Listener<Shortcut>) -> Self {
        self.router.shortcut(callback_id.to_owned(), listener);
        self
    }

    /// `block_suggestion` for the external select `action_id`: answer
    /// `ctx.ack(json!({"options": [...]}))`.
    #[must_use]
    pub fn options(mut self, action_id: &str, listener: impl Listener<OptionsRequest>) -> Self {
        self.router.options(action_id.to_owned(), listener);
        self
    }

    /// Every envelope, raw, whatever its kind.
    #[must_use]
    pub fn on_envelope(mut self, handler: impl Handler) -> Self {
        self.router.envelope(handler);
        self
    }

    /// Middleware run before the listeners, in the order added; returning [`crate::Flow::Stop`]
    /// ends the chain for that event.
    #[must_use]
    pub fn before(mut self, middleware: impl Before) -> Self {
        self.router.before(middleware);
        self
    }

    /// Middleware run after the listeners, in the order added, with their outcome.
    #[must_use]
    pub fn after(mut self, middleware: impl After) -> Self {
        self.router.after(middleware);
        self
    }

    /// Shares `value` with every listener, as [`Context::state`]`::<T>()`. One value per type.
    #[must_use]
    pub fn with_state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(TypeId::of::<T>(), Arc::new(value));
        self
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

    /// The listeners, middleware, states and status, for [`App::into_test`].
    #[cfg(feature = "test-util")]
    pub(crate) fn into_routing(self) -> (Router, States, Arc<Status>) {
        if let Some(problem) = self.router.bad_patterns.first() {
            panic!("the app would not start: {problem}");
        }
        (self.router, self.states, self.status)
    }

    /// Runs until `shutdown` completes (then closes sockets, lets running handlers finish,
    /// and returns `Ok`) or a fatal error occurs (returned, naming the cause and the fix).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        self.config.validate()?;
        if let Some(problem) = self.router.bad_patterns.first() {
            return Err(Error::Pattern(problem.clone()));
        }
        let config = self.config;
        let web = nonstop_web::WebClient::with_options(
            &config.api_url,
            Some(config.bot_token.clone()),
            ClientOptions {
                timeout: config.web_timeout,
                post_pace: config.post_pace,
                ..ClientOptions::default()
            },
        )
        .map_err(Error::Client)?;
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        // The journal first: a path that can't be opened is a local mistake, reported before
        // any network call.
        let store = match self.store {
            Some(store) => store,
            None => tokio::select! {
                store = open_store(&config) => store?,
                () = &mut shutdown => return Ok(()),
            },
        };
        // The endpoint's address too: a port in use is a local mistake.
        let endpoint = open_endpoint(self.http_listener, config.http_addr).await?;

        let me = tokio::select! {
            me = identify(&web, &config) => Arc::new(me?),
            () = &mut shutdown => return Ok(()),
        };
        crate::outbox::check_scopes(web.granted_scopes().as_deref());
        info!(
            user_id = me.user_id.as_deref().unwrap_or("?"),
            bot_id = me.bot_id.as_deref().unwrap_or("?"),
            team_id = me.team_id.as_deref().unwrap_or("?"),
            connections = config.connections,
            "bot identified; opening sockets"
        );

        // Replay first: what was journaled but not finished before the last stop, in arrival
        // order, before any new traffic; each start recorded before it runs. And the answers
        // not delivered before the last stop, which go out first in their lanes.
        // And when the journal last heard anything: downtime for catch-up begins there.
        // The journal is this bot's, or nothing of it is replayed (another bot's unfinished
        // events would run with this one's handlers).
        let bot = me.journal_owner();
        let (backlog, answers, last_seen) = {
            let store = Arc::clone(&store);
            tokio::task::spawn_blocking(move || {
                if let Some(bot) = bot {
                    store.claim_for_bot(&bot)?;
                }
                let unfinished = store.unfinished(MAX_REPLAY)?;
                let answers = store.outbox_unfinished(MAX_REPLAY)?;
                let last_seen = store.recent(1, None)?.first().map(|e| e.received_at);
                Ok::<_, crate::journal::StoreError>((
                    crate::journal::replay::prepare(store.as_ref(), unfinished),
                    answers,
                    last_seen,
                ))
            })
            .await
            .map_err(|e| Error::TaskDied {
                task: "journal reader",
                detail: e.to_string(),
            })??
        };

        let (queue_tx, queue_rx) = mpsc::channel(config.dispatch_queue);
        let (ops_tx, ops_rx) = mpsc::channel(config.journal_queue);
        let (feed_tx, feed_rx) = mpsc::unbounded_channel();
        let link = OutboxLink {
            feed: outbox::answers_to(feed_tx.clone()),
            waiting: answers.len() as u64,
            bound: config.outbox_bound,
        };
        let (writer_alive, writer_gone) = tokio::sync::oneshot::channel::<()>();
        let writer = {
            let store = Arc::clone(&store);
            let status = Arc::clone(&self.status);
            let queue_tx = queue_tx.clone();
            let retention = Retention {
                keep_for: config.journal_retention,
                max_entries: config.journal_max_entries,
                every: Duration::from_secs(60),
            };
            let deferral = Deferral {
                deadline: config.ack_deadline,
                runtime: tokio::runtime::Handle::current(),
            };
            std::thread::Builder::new()
                .name("nonstop-journal".into())
                .spawn(move || {
                    // Dropped when the writer returns or unwinds: the run loop hears of it.
                    let _alive = writer_alive;
                    writer::run(store, ops_rx, queue_tx, status, retention, deferral, link)
                })
                .map_err(|e| Error::TaskDied {
                    task: "journal writer",
                    detail: format!("its thread could not start: {e}"),
                })?
        };
        let intake = Arc::new(Intake::new(
            ops_tx.clone(),
            Arc::clone(&self.status),
            Arc::clone(&me),
        ));
        let ctx = Context::new(
            web.clone(),
            Arc::clone(&me),
            Arc::clone(&self.status),
            Storage::new(Arc::clone(&store)),
            Arc::new(self.states),
            Outbox::new(ops_tx.clone(), feed_tx),
        );
        let (stop_sender, sender_stop) = tokio::sync::oneshot::channel();
        // On RTM, plain-text answers may go over the sockets: one confirmation is awaited
        // long enough for a dead socket to be found and its replacement to bring it.
        let rtm_sends = Arc::new(RtmSends::new(config.dead_after * 2));
        let sender = OwnedTask::spawn(sender::run(
            SenderSetup {
                web: web.clone(),
                ops: ops_tx.clone(),
                store: Arc::clone(&store),
                status: Arc::clone(&self.status),
                settle: config.outbox_settle,
                backoff_base: config.backoff_base,
                backoff_cap: config.backoff_cap,
                socket: (config.transport == TransportKind::Rtm && config.rtm_send_over_socket)
                    .then(|| Arc::clone(&rtm_sends) as Arc<dyn SocketRoute>),
                me: Arc::clone(&me),
                lease: store.lease(),
            },
            feed_rx,
            answers,
            sender_stop,
        ));
        let dispatcher = OwnedTask::spawn(dispatch::run(
            queue_rx,
            ops_tx.clone(),
            Arc::new(Routes(Arc::new(self.router))),
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
            match replayed_envelope(entry) {
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
        let takeover = store.is_shared().then(|| takeover::Takeover {
            store: Arc::clone(&store),
            dispatch: queue_tx.clone(),
            writer: ops_tx.clone(),
            status: Arc::clone(&self.status),
            every: takeover::interval(config.takeover_after),
        });
        drop(queue_tx);

        let catch_up = config.catch_up.then(|| CatchUp {
            web: web.clone(),
            intake: Arc::clone(&intake),
            status: Arc::clone(&self.status),
            me: Arc::clone(&me),
            settings: catch_up::Settings {
                // RTM redelivers nothing: every gap, however short, is caught up.
                after: match config.transport {
                    TransportKind::Rtm => Duration::ZERO,
                    _ => config.catch_up_after,
                },
                coalesce: catch_up::COALESCE,
                max_age: config.catch_up_max_age,
                max_messages: config.catch_up_max_messages,
                dead_after: config.dead_after,
            },
        });
        // Slack's limit of 10 is on Socket Mode sockets; replicas on Redis keep it together.
        let budget = match config.transport {
            TransportKind::SocketMode => SocketBudget::for_store(&store, config.app_sockets),
            _ => None,
        };
        let supervision = Arc::new(Supervision::new(&config, Arc::clone(&self.status), budget));
        let ops_web = web.clone();
        let status = Arc::clone(&self.status);
        let (slots, transport): (_, Arc<dyn std::any::Any + Send + Sync>) = match config.transport {
            TransportKind::SocketMode => {
                let ctx = Arc::new(SocketContext {
                    config: config.clone(),
                    web,
                    intake,
                    status,
                });
                (spawn_slots(&ctx, &supervision, &config, &stop_rx), ctx)
            }
            TransportKind::Rtm => {
                let ctx = Arc::new(RtmContext {
                    config: config.clone(),
                    web,
                    intake,
                    status,
                    sends: rtm_sends,
                });
                (spawn_slots(&ctx, &supervision, &config, &stop_rx), ctx)
            }
        };
        let mut slots = slots;
        if let Some(catch_up) = catch_up {
            // Beside the slots: it ends when they do, and ending before that is a death.
            let stop = stop_rx.clone();
            slots.spawn(async move {
                catch_up::run(catch_up, last_seen, stop.clone()).await;
                if *stop.borrow() {
                    Ok(())
                } else {
                    Err(Error::TaskDied {
                        task: "catch-up",
                        detail: "it returned before shutdown".to_owned(),
                    })
                }
            });
        }
        if let Some(takeover) = takeover {
            // Beside the slots, like catch-up: it ends when they do.
            let stop = stop_rx.clone();
            slots.spawn(async move {
                takeover::run(takeover, stop.clone()).await;
                if *stop.borrow() {
                    Ok(())
                } else {
                    Err(Error::TaskDied {
                        task: "takeover",
                        detail: "it returned before shutdown".to_owned(),
                    })
                }
            });
        }
        if let Some(every) = config.summary_every.filter(|e| !e.is_zero()) {
            let stop = stop_rx.clone();
            let status = Arc::clone(&self.status);
            slots.spawn(async move {
                ops::summary::run(status, every, stop).await;
                Ok(())
            });
        }
        if let Some(notifier) = ops::systemd::Notifier::from_env() {
            let stop = stop_rx.clone();
            let status = Arc::clone(&self.status);
            slots.spawn(async move {
                ops::systemd::run(notifier, status, stop).await;
                Ok(())
            });
        }
        if let Some(listener) = endpoint {
            ops::announce(&listener);
            let mut stop = stop_rx.clone();
            let status = Arc::clone(&self.status);
            let grace = config.health_grace;
            // A weak handle: the endpoint must not keep the writer's queue open at shutdown.
            let queue = ops_tx.downgrade();
            let backlog: ops::Backlog = Arc::new(move || {
                queue
                    .upgrade()
                    .map_or(0, |q| q.max_capacity() - q.capacity())
            });
            slots.spawn(async move {
                let shutdown = async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                };
                ops::serve(listener, status, ops_web, backlog, grace, shutdown)
                    .await
                    .map_err(|e| Error::TaskDied {
                        task: "operator endpoint",
                        detail: e.to_string(),
                    })
            });
        }
        drop(stop_rx);

        Running {
            slots,
            stop_slots: stop_tx,
            transport,
            ops: ops_tx,
            writer,
            writer_gone,
            dispatcher,
            sender,
            stop_sender,
            handler_timeout: config.handler_timeout,
            drain_timeout: config.drain_timeout,
        }
        .until(shutdown)
        .await
    }
}

/// The operator endpoint's listener: the one given, else `addr` bound, else none.
async fn open_endpoint(
    given: Option<std::net::TcpListener>,
    addr: Option<std::net::SocketAddr>,
) -> Result<Option<tokio::net::TcpListener>, Error> {
    let failed = |addr: String, e: std::io::Error| Error::Endpoint {
        addr,
        detail: e.to_string(),
    };
    if let Some(listener) = given {
        let addr = listener
            .local_addr()
            .map_or_else(|_| "?".to_owned(), |a| a.to_string());
        listener
            .set_nonblocking(true)
            .map_err(|e| failed(addr.clone(), e))?;
        return tokio::net::TcpListener::from_std(listener)
            .map(Some)
            .map_err(|e| failed(addr, e));
    }
    match addr {
        Some(addr) => tokio::net::TcpListener::bind(addr)
            .await
            .map(Some)
            .map_err(|e| failed(addr.to_string(), e)),
        None => Ok(None),
    }
}

/// One supervised slot per configured connection, each keeping one connection of `transport`
/// live until `stop` turns true.
fn spawn_slots<T: supervisor::Transport>(
    transport: &Arc<T>,
    supervision: &Arc<Supervision>,
    config: &Config,
    stop: &watch::Receiver<bool>,
) -> JoinSet<Result<(), Error>> {
    let mut slots = JoinSet::new();
    for slot in 0..config.connections {
        slots.spawn(supervisor::run_slot(
            Arc::clone(transport),
            Arc::clone(supervision),
            slot,
            stop.clone(),
        ));
    }
    slots
}

/// Resolves on Ctrl-C, SIGTERM or SIGHUP (a closed terminal, or a service manager's reload
/// signal, which would otherwise kill the bot without a drain): the usual `shutdown` for
/// [`App::run`].
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        let wait = |kind: SignalKind| async move {
            match signal(kind) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = wait(SignalKind::terminate()) => {}
            () = wait(SignalKind::hangup()) => {}
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Entries replayed at start at most; more stay in the journal for the next start.
const MAX_REPLAY: usize = 100_000;

/// The journal `config` names: a SQLite file, or memory.
async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Error> {
    if let Some(url) = &config.redis_url {
        return open_redis(config, url).await;
    }
    let Some(path) = config.journal_path.clone() else {
        return Ok(Arc::new(MemoryStore::new()));
    };
    let durability = config.journal_durability;
    let store = tokio::task::spawn_blocking(move || SqliteStore::open(path, durability))
        .await
        .map_err(|e| Error::TaskDied {
            task: "journal opener",
            detail: e.to_string(),
        })??;
    info!(path = store.path(), "journal open");
    Ok(Arc::new(store))
}

/// The journal in Redis (`REDIS_URL`), shared with the bot's other replicas. A Redis that
/// does not answer yet (starting beside the bot, loading its data, a failover under way) is
/// retried until it does, each failure a warning with its cause, as `auth.test` is: exiting
/// would hand the wait to a service manager's growing restart delays. One that refuses this
/// client (password, ACL) ends the run.
#[cfg(feature = "redis")]
async fn open_redis(config: &Config, url: &nonstop_web::Secret) -> Result<Arc<dyn Store>, Error> {
    use crate::journal::StoreError;
    let options = crate::journal::RedisOptions {
        prefix: config.redis_prefix.clone(),
        lease: config.takeover_after,
        replica_id: config.replica_id.clone(),
        ..crate::journal::RedisOptions::default()
    }
    .with_ca_file(config.redis_ca.as_deref())?;
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_cap);
    let store = loop {
        let (url, options) = (url.expose().to_owned(), options.clone());
        let opened =
            tokio::task::spawn_blocking(move || crate::journal::RedisStore::open(&url, options))
                .await
                .map_err(|e| Error::TaskDied {
                    task: "journal opener",
                    detail: e.to_string(),
                })?;
        match opened {
            Ok(store) => break store,
            Err(e @ StoreError::Unreachable { .. }) => {
                let delay = retry_delay(
                    &mut backoff,
                    None,
                    &e,
                    "the journal in Redis is not reachable yet",
                );
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(e.into()),
        }
    };
    info!(
        redis = store.url(),
        prefix = config.redis_prefix,
        replica = store.replica(),
        "journal open in Redis, shared with the bot's other replicas"
    );
    Ok(Arc::new(store))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_config: &Config, _url: &nonstop_web::Secret) -> Result<Arc<dyn Store>, Error> {
    Err(Error::Journal(crate::journal::StoreError::Open {
        path: "REDIS_URL".to_owned(),
        detail: "this build of nonstop has no Redis support (the `redis` feature is off); build it with the feature or unset REDIS_URL".to_owned(),
    }))
}

/// Logs a failed try at something the start waits for, with its cause and when the next try
/// comes (`hint`, e.g. a `Retry-After`, wins over the backoff); returns how long to wait.
fn retry_delay(
    backoff: &mut Backoff,
    hint: Option<Duration>,
    error: &dyn std::fmt::Display,
    what: &str,
) -> Duration {
    let delay = backoff.next_delay(hint, &mut rand::rng());
    warn!(
        error = %error,
        attempt = backoff.failures(),
        next = %format!("retrying in {:.1} s", delay.as_secs_f64()),
        "{what}"
    );
    delay
}

/// `auth.test`, retried until it answers: a fatal answer ends the run. Each try is one request
/// (within the client's timeout), and each failure is a warning with its cause, so a Web API
/// that never answers shows in the log at once and then at every retry, not after minutes.
async fn identify(web: &nonstop_web::WebClient, config: &Config) -> Result<BotIdentity, Error> {
    let mut backoff = Backoff::new(config.backoff_base, config.backoff_cap);
    info!(api = web.base_url(), "identifying the bot: auth.test");
    loop {
        match web
            .attempt::<nonstop_model::web::AuthTest>("auth.test", Default::default())
            .await
        {
            Ok(auth) => {
                return Ok(BotIdentity {
                    user_id: auth.user_id,
                    bot_id: auth.bot_id,
                    team_id: auth.team_id,
                })
            }
            Err(e) if e.is_fatal() => return Err(Error::from_web(&e)),
            Err(e) => {
                let hint = e.rate_limit_wait().or(e.retry_after());
                let delay = retry_delay(&mut backoff, hint, &e, "auth.test failed");
                tokio::time::sleep(delay).await;
            }
        }
    }
}
