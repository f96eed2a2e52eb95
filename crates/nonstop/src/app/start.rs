//! [`App::run`](crate::App::run)'s phases, in the order it calls them: what is local (the
//! web client, the journal, the endpoint's port), who the bot is, what the journal left, the
//! pipeline (writer, intake, dispatcher, outbox sender), the replay, the connections and the
//! tasks beside them, and the hand-over to `running.rs`, which watches and drains.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::backoff::Backoff;
use crate::config::{Config, TransportKind};
use crate::context::{BotIdentity, Context, States};
use crate::delivery::catch_up::{self, CatchUp};
use crate::delivery::takeover;
use crate::delivery::writer::{self, Op, Retention};
use crate::delivery::{replayed_envelope, Deferral, Intake, OutboxLink};
use crate::dispatch;
use crate::envelope::Envelope;
use crate::error::Error;
use crate::handler::Handler;
use crate::journal::{Entry, MemoryStore, Output, SqliteStore, Store};
use crate::ops;
use crate::outbox::sender::{self, SenderSetup};
use crate::outbox::{self, Outbox, SocketRoute, WriterDoor};
use crate::running::Running;
use crate::status::Status;
use crate::storage::Storage;
use crate::supervisor::budget::SocketBudget;
use crate::supervisor::{self, Supervision};
use crate::task::OwnedTask;
use crate::transport::http::Receiver;
use crate::transport::rtm::send::RtmSends;
use crate::transport::rtm::RtmContext;
use crate::transport::socket::SocketContext;
use nonstop_web::ClientOptions;

/// What every phase after identification reads.
pub(super) struct Bot<'a> {
    pub(super) config: &'a Config,
    pub(super) web: &'a nonstop_web::WebClient,
    pub(super) store: &'a Arc<dyn Store>,
    pub(super) status: &'a Arc<Status>,
    pub(super) me: &'a Arc<BotIdentity>,
}

/// The Web API client with the configured token, timeout and pace.
pub(super) fn web_client(config: &Config) -> Result<nonstop_web::WebClient, Error> {
    nonstop_web::WebClient::with_options(
        &config.api_url,
        Some(config.bot_token.clone()),
        ClientOptions {
            timeout: config.web_timeout,
            post_pace: config.post_pace,
            ..ClientOptions::default()
        },
    )
    .map_err(Error::Client)
}

/// Entries replayed at start at most; more stay in the journal for the next start.
const MAX_REPLAY: usize = 100_000;

/// The journal `config` names: a SQLite file, or memory.
pub(super) async fn open_store(config: &Config) -> Result<Arc<dyn Store>, Error> {
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

/// With a rotating bot token of the bot's own: the current pair (the store's, or the
/// settings' when they are new), renewed first when it expires soon; `web` takes it.
pub(super) async fn home_token(
    config: &Config,
    web: &nonstop_web::WebClient,
    store: &Arc<dyn Store>,
) -> Result<(), Error> {
    let (Some(refresh), Some(oauth)) = (&config.refresh_token, &config.oauth) else {
        return Ok(());
    };
    let rotator = crate::install::Rotator {
        store: Arc::clone(store),
        web: web.clone(),
        settings: oauth.clone(),
        workspaces: crate::install::Workspaces::new(Arc::clone(store), web.clone(), Arc::default()),
        holder: format!("{:016x}", rand::random::<u64>()),
        home: Some(web.clone()),
    };
    crate::install::home_pair(&rotator, &config.bot_token, refresh)
        .await
        .map_err(|detail| Error::TokenRenewal { detail })
}

/// `auth.test`, retried until it answers: a fatal answer ends the run. Each try is one request
/// (within the client's timeout), and each failure is a warning with its cause, so a Web API
/// that never answers shows in the log at once and then at every retry, not after minutes.
pub(super) async fn identify(
    web: &nonstop_web::WebClient,
    config: &Config,
) -> Result<BotIdentity, Error> {
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

/// The operator endpoint's listener: the one given, else `addr` bound, else none.
pub(super) async fn open_endpoint(
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

/// The HTTP receiver's listener: the one given, else the configured address bound.
pub(super) async fn open_receiver(
    given: Option<std::net::TcpListener>,
    addr: std::net::SocketAddr,
) -> Result<tokio::net::TcpListener, Error> {
    match open_endpoint(given, Some(addr)).await {
        Ok(Some(listener)) => Ok(listener),
        Ok(None) => Err(Error::Receiver {
            addr: addr.to_string(),
            detail: "no listener".to_owned(),
        }),
        Err(Error::Endpoint { addr, detail }) => Err(Error::Receiver { addr, detail }),
        Err(other) => Err(other),
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

/// Says who the bot is, and warns when the token lacks a scope the outbox needs to find an
/// answer after a crash.
pub(super) fn identified(web: &nonstop_web::WebClient, config: &Config, me: &BotIdentity) {
    outbox::check_scopes(web.granted_scopes().as_deref());
    let (user_id, bot_id, team_id) = (
        me.user_id.as_deref().unwrap_or("?"),
        me.bot_id.as_deref().unwrap_or("?"),
        me.team_id.as_deref().unwrap_or("?"),
    );
    if config.transport == crate::config::TransportKind::Http {
        info!(
            user_id,
            bot_id, team_id, "bot identified; receiving requests"
        );
        return;
    }
    let connections = config.connections;
    info!(
        user_id,
        bot_id, team_id, connections, "bot identified; opening sockets"
    );
}

/// What the journal held at start.
pub(super) struct Left {
    /// Events journaled but not finished before the last stop, in arrival order.
    pub(super) backlog: Vec<Entry>,
    /// Answers not delivered before the last stop; they go out first in their lanes.
    pub(super) answers: Vec<Output>,
    /// When the journal last heard anything: downtime for catch-up begins there.
    pub(super) last_seen: Option<SystemTime>,
}

/// Claims the journal for this bot (another bot's unfinished events would run with this
/// one's handlers, so nothing is read before), then reads what the last run left.
pub(super) async fn read_journal(store: &Arc<dyn Store>, me: &BotIdentity) -> Result<Left, Error> {
    let bot = me.journal_owner();
    let store = Arc::clone(store);
    tokio::task::spawn_blocking(move || {
        if let Some(bot) = bot {
            store.claim_for_bot(&bot)?;
        }
        let unfinished = store.unfinished(MAX_REPLAY)?;
        let answers = store.outbox_unfinished(MAX_REPLAY)?;
        let last_seen = store.recent(1, None)?.first().map(|e| e.received_at);
        Ok::<_, crate::journal::StoreError>(Left {
            backlog: crate::journal::replay::prepare(store.as_ref(), unfinished),
            answers,
            last_seen,
        })
    })
    .await
    .map_err(|e| Error::TaskDied {
        task: "journal reader",
        detail: e.to_string(),
    })?
    .map_err(Error::from)
}

/// The data path from the journal on: the writer's thread, the intake the sockets hand
/// envelopes to, the dispatcher that runs handlers, and the outbox's sender.
pub(super) struct Pipeline {
    /// Into the dispatcher; the takeover holds a clone, the replay sends through it.
    pub(super) queue: mpsc::Sender<Envelope>,
    ops: mpsc::Sender<Op>,
    pub(super) intake: Arc<Intake>,
    writer: std::thread::JoinHandle<()>,
    writer_gone: oneshot::Receiver<()>,
    dispatcher: OwnedTask<()>,
    sender: OwnedTask<()>,
    stop_sender: oneshot::Sender<Duration>,
    /// On RTM, plain-text answers may go over the sockets.
    rtm_sends: Arc<RtmSends>,
    /// With installs through OAuth: the installed workspaces.
    workspaces: Option<Arc<crate::install::Workspaces>>,
}

pub(super) fn pipeline(
    bot: &Bot<'_>,
    handler: Arc<dyn Handler>,
    states: Arc<States>,
    answers: Vec<Output>,
) -> Result<Pipeline, Error> {
    let config = bot.config;
    let (queue_tx, queue_rx) = mpsc::channel(config.dispatch_queue);
    let (ops_tx, ops_rx) = mpsc::channel(config.journal_queue);
    let (feed_tx, feed_rx) = mpsc::unbounded_channel();
    let link = OutboxLink {
        feed: outbox::answers_to(feed_tx.clone()),
        waiting: answers.len() as u64,
        bound: config.outbox_bound,
    };
    let (writer, writer_gone) = start_writer(bot, ops_rx, queue_tx.clone(), link)?;
    let status = Arc::clone(bot.status);
    let intake = Arc::new(Intake::new(
        ops_tx.clone(),
        Arc::clone(&status),
        Arc::clone(bot.me),
    ));
    // An app that installs through OAuth acts in each event's workspace with its token.
    let workspaces = config.oauth.as_ref().map(|_| {
        crate::install::Workspaces::new(Arc::clone(bot.store), bot.web.clone(), Arc::clone(bot.me))
    });
    let mut ctx = Context::new(
        bot.web.clone(),
        Arc::clone(bot.me),
        Arc::clone(&status),
        Storage::new(Arc::clone(bot.store)),
        states,
        Outbox::new(
            WriterDoor::new(ops_tx.clone()),
            feed_tx,
            Arc::clone(bot.store) as Arc<dyn crate::journal::OutboxStore>,
            bot.store.lease().is_some(),
        ),
    );
    if let Some(workspaces) = &workspaces {
        ctx = ctx.with_workspaces(Arc::clone(workspaces));
    }
    let (stop_sender, sender_stop) = oneshot::channel();
    // One confirmation is awaited long enough for a dead socket to be found and its
    // replacement to bring it.
    let rtm_sends = Arc::new(RtmSends::new(config.dead_after * 2));
    let over_socket = config.transport == TransportKind::Rtm && config.rtm_send_over_socket;
    let setup = SenderSetup {
        web: bot.web.clone(),
        workspaces: workspaces.clone(),
        door: WriterDoor::new(ops_tx.clone()),
        store: Arc::clone(bot.store),
        status: Arc::clone(&status),
        settle: config.outbox_settle,
        backoff_base: config.backoff_base,
        backoff_cap: config.backoff_cap,
        socket: over_socket.then(|| Arc::clone(&rtm_sends) as Arc<dyn SocketRoute>),
        me: Arc::clone(bot.me),
        lease: bot.store.lease(),
    };
    let sender = OwnedTask::spawn(sender::run(setup, feed_rx, answers, sender_stop));
    let dispatcher = OwnedTask::spawn(dispatch::run(
        queue_rx,
        ops_tx.clone(),
        handler,
        ctx,
        config.max_concurrent_handlers,
        config.handler_timeout,
        status,
    ));
    Ok(Pipeline {
        queue: queue_tx,
        ops: ops_tx,
        intake,
        writer,
        writer_gone,
        dispatcher,
        sender,
        stop_sender,
        rtm_sends,
        workspaces,
    })
}

/// The journal's writer on a thread of its own; the receiver resolves when it ends (returns
/// or unwinds).
fn start_writer(
    bot: &Bot<'_>,
    ops: mpsc::Receiver<Op>,
    queue: mpsc::Sender<Envelope>,
    link: OutboxLink,
) -> Result<(std::thread::JoinHandle<()>, oneshot::Receiver<()>), Error> {
    let (writer_alive, writer_gone) = oneshot::channel::<()>();
    let store = Arc::clone(bot.store);
    let status = Arc::clone(bot.status);
    let retention = Retention {
        keep_for: bot.config.journal_retention,
        max_entries: bot.config.journal_max_entries,
        every: Duration::from_secs(60),
    };
    let deferral = Deferral {
        deadline: bot.config.ack_deadline,
        runtime: tokio::runtime::Handle::current(),
    };
    let writer = std::thread::Builder::new()
        .name("nonstop-journal".into())
        .spawn(move || {
            // Dropped when the writer returns or unwinds: the run loop hears of it.
            let _alive = writer_alive;
            writer::run(store, ops, queue, status, retention, deferral, link)
        })
        .map_err(|e| Error::TaskDied {
            task: "journal writer",
            detail: format!("its thread could not start: {e}"),
        })?;
    Ok((writer, writer_gone))
}

/// Hands what the last run left unfinished to the dispatcher, in arrival order, before any
/// new traffic; each start is recorded before it runs.
pub(super) async fn replay(backlog: &[Entry], queue: &mpsc::Sender<Envelope>, status: &Status) {
    if !backlog.is_empty() {
        info!(
            events = backlog.len(),
            "replaying events journaled but not finished before the last stop"
        );
    }
    for entry in backlog {
        match replayed_envelope(entry) {
            Some(envelope) => {
                if !crate::journal::replay::given_up(entry.attempts) {
                    status.count_replayed();
                }
                if queue.send(envelope).await.is_err() {
                    break;
                }
            }
            None => {
                warn!(seq = entry.seq, key = %entry.key, "journal entry unreadable; not replayed")
            }
        }
    }
}

/// The supervisor's slots and the tasks beside them, and the transport's shared context.
pub(super) struct Connections {
    pub(super) tasks: JoinSet<Result<(), Error>>,
    /// Holds the intake: dropped after the slots ended, it leaves the writer's queue to the
    /// dispatcher and the sender.
    transport: Arc<dyn std::any::Any + Send + Sync>,
}

/// Where the HTTP receiver listens, and whether the operator endpoint shares its listener.
pub(super) struct Listening {
    pub(super) listener: tokio::net::TcpListener,
    pub(super) with_endpoint: bool,
    /// The bot scopes an install through OAuth asks for (the manifest's).
    pub(super) install_scopes: Vec<String>,
}

/// One slot per configured connection of the configured transport; for HTTP, the receiver.
pub(super) fn connections(
    bot: &Bot<'_>,
    pipeline: &Pipeline,
    stop: &watch::Receiver<bool>,
    receiving: Option<Listening>,
) -> Connections {
    let config = bot.config;
    if let (Some(receiving), Some(secrets)) = (receiving, &config.signing_secrets) {
        return receiver(bot, pipeline, stop, receiving, secrets.clone());
    }
    // Slack's limit of 10 is on Socket Mode sockets; replicas on Redis keep it together.
    let budget = match config.transport {
        TransportKind::SocketMode => SocketBudget::for_store(bot.store, config.app_sockets),
        _ => None,
    };
    let supervision = Arc::new(Supervision::new(config, Arc::clone(bot.status), budget));
    let (web, intake, status) = (
        bot.web.clone(),
        Arc::clone(&pipeline.intake),
        Arc::clone(bot.status),
    );
    let (tasks, transport): (_, Arc<dyn std::any::Any + Send + Sync>) = match config.transport {
        TransportKind::SocketMode => {
            let ctx = Arc::new(SocketContext {
                config: config.clone(),
                web,
                intake,
                status,
            });
            (spawn_slots(&ctx, &supervision, config, stop), ctx)
        }
        TransportKind::Rtm => {
            let sends = Arc::clone(&pipeline.rtm_sends);
            let ctx = Arc::new(RtmContext {
                config: config.clone(),
                web,
                intake,
                status,
                sends,
            });
            (spawn_slots(&ctx, &supervision, config, stop), ctx)
        }
        TransportKind::Http => {
            // `App::run` opens the receiver's listener for this transport.
            let mut tasks = JoinSet::new();
            tasks.spawn(async {
                Err(Error::TaskDied {
                    task: "request URL receiver",
                    detail: "it was given no listener".to_owned(),
                })
            });
            (tasks, intake)
        }
    };
    Connections { tasks, transport }
}

/// The HTTP transport: the receiver on its listener, the operator endpoint's routes beside
/// it when they share it.
fn receiver(
    bot: &Bot<'_>,
    pipeline: &Pipeline,
    stop: &watch::Receiver<bool>,
    receiving: Listening,
    secrets: crate::signature::SigningSecrets,
) -> Connections {
    let config = bot.config;
    let receiver = Arc::new(Receiver::new(
        secrets,
        Arc::clone(&pipeline.intake),
        Arc::clone(bot.status),
        config.max_frame_bytes,
        config.ack_deadline,
    ));
    let mut routes = receiver.routes(&config.events_path);
    if receiving.with_endpoint {
        ops::announce(&receiving.listener);
        routes = routes.merge(endpoint_routes(bot, pipeline));
    }
    if let Some(oauth) = &config.oauth {
        let installer = Arc::new(crate::install::Installer::new(
            oauth.clone(),
            Arc::clone(bot.store),
            bot.web.clone(),
            &config.api_url,
            config.public_url.as_deref(),
            receiving.install_scopes,
        ));
        info!(install = oauth.install_path, redirect = oauth.redirect_path, "installs through OAuth: send people to the install path; the app's redirect URL is the public root followed by the redirect path");
        routes = routes.merge(installer.routes());
    }
    let mut tasks = JoinSet::new();
    let run = crate::transport::http::run(
        Arc::clone(&receiver),
        receiving.listener,
        routes,
        config.events_path.clone(),
        stop.clone(),
    );
    tasks.spawn(async move {
        run.await.map_err(|detail| Error::TaskDied {
            task: "request URL receiver",
            detail,
        })
    });
    Connections {
        tasks,
        transport: receiver,
    }
}

/// The tasks that run beside the slots and end when they do: catch-up, takeover (on a shared
/// journal), the periodic summary, systemd's watchdog, the operator endpoint.
pub(super) fn beside_connections(
    bot: &Bot<'_>,
    pipeline: &Pipeline,
    last_seen: Option<SystemTime>,
    endpoint: Option<tokio::net::TcpListener>,
    tasks: &mut JoinSet<Result<(), Error>>,
    stop: &watch::Receiver<bool>,
) {
    let config = bot.config;
    if let (Some(catch_up), Some(workspaces)) = (catch_up_for(bot, pipeline), &pipeline.workspaces)
    {
        let run = catch_up_installed(
            catch_up,
            Arc::clone(workspaces),
            Arc::clone(bot.store),
            last_seen,
            stop.clone(),
        );
        tasks.spawn(until_stopped(
            "catch-up of installed workspaces",
            stop.clone(),
            run,
        ));
    }
    if let Some(catch_up) = catch_up_for(bot, pipeline) {
        let stop = stop.clone();
        tasks.spawn(until_stopped(
            "catch-up",
            stop.clone(),
            catch_up::run(catch_up, last_seen, stop),
        ));
    }
    if bot.store.is_shared() {
        let takeover = takeover::Takeover {
            store: Arc::clone(bot.store),
            dispatch: pipeline.queue.clone(),
            writer: pipeline.ops.clone(),
            status: Arc::clone(bot.status),
            every: takeover::interval(config.takeover_after),
        };
        tasks.spawn(until_stopped(
            "takeover",
            stop.clone(),
            takeover::run(takeover, stop.clone()),
        ));
    }
    if let (Some(oauth), Some(workspaces)) = (&config.oauth, &pipeline.workspaces) {
        let rotator = Arc::new(crate::install::Rotator {
            store: Arc::clone(bot.store),
            web: bot.web.clone(),
            settings: oauth.clone(),
            workspaces: Arc::clone(workspaces),
            holder: format!("{:016x}", rand::random::<u64>()),
            home: config.refresh_token.as_ref().map(|_| bot.web.clone()),
        });
        workspaces.renewed_by(&rotator);
        if config.refresh_token.is_some() {
            // The bot's own rotating token: its client asks for a renewal when Slack refuses
            // it, as each workspace's client does.
            bot.web
                .renewed_by(workspaces.renewer_for(crate::install::HOME_KEY));
        }
        tasks.spawn(until_stopped(
            "token rotation",
            stop.clone(),
            rotator.run(stop.clone()),
        ));
    }
    if let Some(every) = config.summary_every.filter(|e| !e.is_zero()) {
        let run = ops::summary::run(Arc::clone(bot.status), every, stop.clone());
        tasks.spawn(async move {
            run.await;
            Ok(())
        });
    }
    if let Some(notifier) = ops::systemd::Notifier::from_env() {
        let run = ops::systemd::run(notifier, Arc::clone(bot.status), stop.clone());
        tasks.spawn(async move {
            run.await;
            Ok(())
        });
    }
    if let Some(listener) = endpoint {
        tasks.spawn(serve_endpoint(bot, pipeline, listener, stop.clone()));
    }
}

/// Catch-up for each workspace installed at start (a workspace's own install; an org-wide
/// install has no one workspace's conversations to read), each with that workspace's token
/// and identity, until `stop`.
async fn catch_up_installed(
    template: CatchUp,
    workspaces: Arc<crate::install::Workspaces>,
    store: Arc<dyn Store>,
    last_seen: Option<SystemTime>,
    mut stop: watch::Receiver<bool>,
) {
    let installed = tokio::task::spawn_blocking(move || store.installations(100_000)).await;
    let installed = match installed {
        Ok(Ok(installed)) => installed,
        Ok(Err(e)) => {
            warn!(error = %e, "catch-up: the installations could not be read; installed workspaces are not caught up this run");
            Vec::new()
        }
        Err(e) => {
            warn!(error = %e, "catch-up: reading the installations died");
            Vec::new()
        }
    };
    let mut runs = JoinSet::new();
    for installation in installed.iter().filter(|i| !i.is_enterprise_install) {
        let key = installation.key().as_stored();
        let Some(workspace) = workspaces.by_key(&key).await else {
            continue;
        };
        let catch_up = template.in_workspace(&workspaces, key, workspace.web, workspace.me);
        runs.spawn(catch_up::run(catch_up, last_seen, stop.clone()));
    }
    let _ = stop.wait_for(|stopping| *stopping).await;
    while runs.join_next().await.is_some() {}
}

fn catch_up_for(bot: &Bot<'_>, pipeline: &Pipeline) -> Option<CatchUp> {
    let config = bot.config;
    config.catch_up.then(|| CatchUp {
        web: bot.web.clone(),
        installed: None,
        intake: Arc::clone(&pipeline.intake),
        status: Arc::clone(bot.status),
        me: Arc::clone(bot.me),
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
    })
}

/// `run`, which must last until `stop` turns true: returning before that is a death.
async fn until_stopped(
    task: &'static str,
    stop: watch::Receiver<bool>,
    run: impl Future<Output = ()>,
) -> Result<(), Error> {
    run.await;
    if *stop.borrow() {
        Ok(())
    } else {
        Err(Error::TaskDied {
            task,
            detail: "it returned before shutdown".to_owned(),
        })
    }
}

/// The operator endpoint (health, readiness, metrics, the status page) until `stop`.
fn serve_endpoint(
    bot: &Bot<'_>,
    pipeline: &Pipeline,
    listener: tokio::net::TcpListener,
    mut stop: watch::Receiver<bool>,
) -> impl Future<Output = Result<(), Error>> + Send + 'static {
    ops::announce(&listener);
    let routes = endpoint_routes(bot, pipeline);
    async move {
        let shutdown = async move {
            let _ = stop.wait_for(|stopping| *stopping).await;
        };
        crate::serving::serve(listener, routes, ops::LIMITS, shutdown)
            .await
            .map_err(|e| Error::TaskDied {
                task: "operator endpoint",
                detail: e.to_string(),
            })
    }
}

/// The operator endpoint's routes, reading this bot's status, client and journal queue.
fn endpoint_routes(bot: &Bot<'_>, pipeline: &Pipeline) -> axum::Router {
    // A weak handle: the endpoint must not keep the writer's queue open at shutdown.
    let queue = pipeline.ops.downgrade();
    let backlog: ops::Backlog = Arc::new(move || {
        queue
            .upgrade()
            .map_or(0, |q| q.max_capacity() - q.capacity())
    });
    ops::routes(
        Arc::clone(bot.status),
        bot.web.clone(),
        backlog,
        bot.config.health_grace,
    )
}

impl Pipeline {
    /// Watches everything until `shutdown` completes or a task ends, then stops it all in
    /// order (`running.rs`).
    pub(super) async fn run_until(
        self,
        connections: Connections,
        stop_slots: watch::Sender<bool>,
        config: &Config,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error> {
        // What the pipeline kept for wiring goes now: the dispatcher's queue closes once the
        // takeover and the writer let go, and the writer's once the transport's context (which
        // holds the intake from here on) is dropped after the slots end. Held here instead,
        // they would keep the writer, and the journal's lock, past shutdown.
        drop(self.queue);
        drop(self.intake);
        drop(self.rtm_sends);
        Running {
            slots: connections.tasks,
            stop_slots,
            transport: connections.transport,
            ops: self.ops,
            writer: self.writer,
            writer_gone: self.writer_gone,
            dispatcher: self.dispatcher,
            sender: self.sender,
            stop_sender: self.stop_sender,
            handler_timeout: config.handler_timeout,
            drain_timeout: config.drain_timeout,
        }
        .until(shutdown)
        .await
    }
}
