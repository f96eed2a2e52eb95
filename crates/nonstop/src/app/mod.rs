//! The runtime's entry point: the builder, and `run`, whose phases (`start.rs`) open the
//! journal, identify the bot, replay what was left, wire the writer, intake, dispatcher,
//! outbox sender and the supervisor's slots together, and hand them to `running.rs` to watch
//! and stop.

mod manifest;
mod start;

pub use manifest::AppInfo;

use std::any::TypeId;
use std::future::Future;
use std::sync::Arc;

use nonstop_model::{BlockAction, OptionsRequest, Shortcut, SlashCommand, ViewPayload};
use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::builtin;
use crate::config::{Config, TransportKind};
use crate::context::States;
use crate::doctor::{self, DoctorOptions, Finding};
use crate::error::Error;
use crate::handler::Handler;
use crate::journal::Store;
use crate::listeners::{self, After, Before, ErasedListener, Hears, Listener, Message, StateNeed};
use crate::router::{Router, Routes};
use crate::scopes::{self, ScopeNeed};
use crate::status::Status;

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
    /// The state types listeners take, and which listener: checked when the app starts.
    state_needs: Vec<(StateNeed, String)>,
    /// Commands, shortcuts, events and interactions registered, for the manifest.
    registered: manifest::Registered,
    /// Names and descriptions for the manifest.
    info: AppInfo,
    /// Where the operator endpoint listens, when given here rather than by address.
    http_listener: Option<std::net::TcpListener>,
    /// Where the HTTP receiver listens, when given here rather than by address.
    events_listener: Option<std::net::TcpListener>,
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
            state_needs: Vec::new(),
            registered: manifest::Registered::default(),
            info: AppInfo::default(),
            http_listener: None,
            events_listener: None,
        }
    }

    /// With the HTTP transport, receives Slack's requests on `listener` instead of binding
    /// `Config::events_addr` (tests bind port 0 and read it back).
    #[must_use]
    pub fn with_events_listener(mut self, listener: std::net::TcpListener) -> Self {
        self.events_listener = Some(listener);
        self
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

    /// The app manifest this bot needs, derived from its listeners and settings: the bot
    /// scopes `doctor` checks, the bot events, slash commands, shortcuts, interactivity, the
    /// Home tab, Socket Mode; names and words from [`App::with_info`]. Paste it into the app's
    /// settings ("App Manifest"), or create the app from it. `mybot manifest` prints it.
    pub fn manifest(&self) -> nonstop_model::manifest::Manifest {
        manifest::derive(&self.config, &self.info, &self.needs, &self.registered)
    }

    /// The app's name, description, and the words Slack shows for its commands and
    /// shortcuts, for [`App::manifest`].
    #[must_use]
    pub fn with_info(mut self, info: AppInfo) -> Self {
        self.info = info;
        self
    }

    /// Walks this bot's setup step by step without starting it (see [`crate::doctor`]): the
    /// `auth.test` step also names scopes its listeners need and the token lacks, and a last
    /// step, `app settings`, compares the installed app's bot events, commands, scopes,
    /// interactivity and Socket Mode with [`App::manifest`] (skipped, saying how, without
    /// [`DoctorOptions::installed_app`]).
    pub async fn doctor(
        &self,
        options: &DoctorOptions,
        mut report: impl FnMut(&Finding),
    ) -> Vec<Finding> {
        let mut findings =
            doctor::diagnose_with_needs(&self.config, &self.needs, options, &mut report).await;
        let verdict = match &options.installed {
            None => doctor::Verdict::Skipped(format!(
                "set {} (an app configuration token) and {} to compare the installed app's events and commands with these listeners",
                doctor::ENV_CONFIG_TOKEN,
                doctor::ENV_APP_ID
            )),
            Some(installed) => match installed.manifest(&self.config.api_url).await {
                Ok(found) => manifest::settings_verdict(&self.manifest(), &found),
                Err(problem) => doctor::Verdict::Fail {
                    problem,
                    fix: "check the app configuration token (they expire after 12 hours: make a new one) and the app id".to_owned(),
                },
            },
        };
        let finding = Finding {
            step: doctor::Step::AppSettings,
            verdict,
        };
        report(&finding);
        findings.push(finding);
        findings
    }

    /// Notes the state `listener` takes (for the start-time check) and erases its shape.
    fn listener<T: 'static, M: 'static>(
        &mut self,
        registered_as: &str,
        listener: impl Listener<T, M>,
    ) -> ErasedListener<T> {
        if let Some(need) = listener.state_needed() {
            self.state_needs.push((need, registered_as.to_owned()));
        }
        listeners::erase(listener)
    }

    /// The first mistake that keeps this app from starting: a `hears` pattern that does not
    /// compile, or a listener taking a [`State`](crate::State) no
    /// [`App::with_state`] registered. [`App::run`] returns it before connecting.
    pub fn check(&self) -> Result<(), Error> {
        if let Some(problem) = self.router.bad_patterns.first() {
            return Err(Error::Pattern(problem.clone()));
        }
        let missing = self
            .state_needs
            .iter()
            .find(|(need, _)| !self.states.contains_key(&need.type_id));
        match missing {
            Some((need, listener)) => Err(Error::MissingState {
                type_name: need.type_name,
                listener: listener.clone(),
            }),
            None => Ok(()),
        }
    }

    /// A bot whose one handler takes every envelope raw.
    pub fn with_handler(config: Config, handler: impl Handler) -> Self {
        Self::new(config).on_envelope(handler)
    }

    /// Messages whose text matches the regex `pattern`, anywhere the bot can read; the
    /// listener gets the captures. See [`App::hears_with`] to narrow where.
    #[must_use]
    pub fn hears<M: 'static>(self, pattern: &str, listener: impl Listener<Message, M>) -> Self {
        self.hears_with(Hears::new(pattern), listener)
    }

    /// Messages that `hears` admits: a pattern plus places (direct, mention, channel,
    /// thread) and subtypes. A pattern that does not compile makes [`App::run`] fail.
    #[must_use]
    pub fn hears_with<M: 'static>(
        mut self,
        hears: Hears,
        listener: impl Listener<Message, M>,
    ) -> Self {
        let direct_only = hears.direct && !hears.mention && !hears.channel;
        let mention_only = hears.mention && !hears.direct && !hears.channel;
        self.needs
            .extend(scopes::for_hears(&hears.pattern, direct_only, mention_only));
        let listener = self.listener(&format!("hears {:?}", hears.pattern), listener);
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
    pub fn event<T: DeserializeOwned + Send + 'static, M: 'static>(
        mut self,
        event_type: &str,
        listener: impl Listener<T, M>,
    ) -> Self {
        let listener = self.listener(&format!("event {event_type:?}"), listener);
        self.registered.events.push(event_type.to_owned());
        self.needs.extend(scopes::for_event(event_type));
        self.router.event(event_type.to_owned(), listener);
        self
    }

    /// Events of the type the listener takes ([`ReactionAdded`](nonstop_model::ReactionAdded),
    /// [`AppMention`](nonstop_model::AppMention), [`MemberJoinedChannel`](nonstop_model::MemberJoinedChannel), …): the payload's type names
    /// the event, so `app.on(thanks)` needs no string, and naming the type
    /// (`on::<ReactionAdded, _>`) with a listener of another payload does not compile. For
    /// events nonstop has no type for, [`App::event`] by name.
    ///
    /// ```
    /// # use nonstop::{App, Config, Context, HandlerResult, ReactionAdded};
    /// async fn thanks(ctx: Context, reaction: ReactionAdded) -> HandlerResult {
    ///     if reaction.reaction == "pray" {
    ///         ctx.say("you're welcome").await?;
    ///     }
    ///     Ok(())
    /// }
    /// # fn app(config: Config) -> App {
    /// App::new(config).on(thanks)
    /// # }
    /// ```
    ///
    /// ```compile_fail
    /// # use nonstop::{App, Config, Context, HandlerResult, MemberJoinedChannel, ReactionAdded};
    /// async fn welcome(_ctx: Context, _joined: MemberJoinedChannel) -> HandlerResult { Ok(()) }
    /// # fn app(config: Config) -> App {
    /// App::new(config).on::<ReactionAdded, _>(welcome)
    /// # }
    /// ```
    #[must_use]
    pub fn on<T: nonstop_model::EventType, M: 'static>(
        self,
        listener: impl Listener<T, M>,
    ) -> Self {
        self.event(T::TYPE, listener)
    }

    /// The slash command `command` (`/ticket` or `ticket`). Answer in the ack with
    /// [`Context::ack`](crate::Context::ack), later with [`Context::respond`](crate::Context::respond).
    #[must_use]
    pub fn command<M: 'static>(
        mut self,
        command: &str,
        listener: impl Listener<SlashCommand, M>,
    ) -> Self {
        let listener = self.listener(&format!("command {command:?}"), listener);
        self.registered.commands.push(command.to_owned());
        self.needs.extend(scopes::for_command(command));
        self.router.command(command.to_owned(), listener);
        self
    }

    /// `block_actions` on the element `action_id` (buttons, selects, …).
    #[must_use]
    pub fn action<M: 'static>(
        mut self,
        action_id: &str,
        listener: impl Listener<BlockAction, M>,
    ) -> Self {
        let listener = self.listener(&format!("action {action_id:?}"), listener);
        self.registered.interactive = true;
        self.router.action(action_id.to_owned(), listener);
        self
    }

    /// `view_submission` of views with `callback_id`. Answer with a `response_action`
    /// (errors, update, push, clear) through [`Context::ack`](crate::Context::ack).
    #[must_use]
    pub fn view_submission<M: 'static>(
        mut self,
        callback_id: &str,
        listener: impl Listener<ViewPayload, M>,
    ) -> Self {
        let listener = self.listener(&format!("view_submission {callback_id:?}"), listener);
        self.registered.interactive = true;
        self.router
            .view("view_submission", callback_id.to_owned(), listener);
        self
    }

    /// `view_closed` of views with `callback_id` (sent when the view set `notify_on_close`).
    #[must_use]
    pub fn view_closed<M: 'static>(
        mut self,
        callback_id: &str,
        listener: impl Listener<ViewPayload, M>,
    ) -> Self {
        let listener = self.listener(&format!("view_closed {callback_id:?}"), listener);
        self.registered.interactive = true;
        self.router
            .view("view_closed", callback_id.to_owned(), listener);
        self
    }

    /// Global and message shortcuts with `callback_id`.
    #[must_use]
    pub fn shortcut<M: 'static>(
        mut self,
        callback_id: &str,
        listener: impl Listener<Shortcut, M>,
    ) -> Self {
        let listener = self.listener(&format!("shortcut {callback_id:?}"), listener);
        self.registered.shortcuts.push(callback_id.to_owned());
        self.router.shortcut(callback_id.to_owned(), listener);
        self
    }

    /// `block_suggestion` for the external select `action_id`: answer
    /// `ctx.ack(json!({"options": [...]}))`.
    #[must_use]
    pub fn options<M: 'static>(
        mut self,
        action_id: &str,
        listener: impl Listener<OptionsRequest, M>,
    ) -> Self {
        let listener = self.listener(&format!("options {action_id:?}"), listener);
        self.registered.interactive = true;
        self.registered.options_loads = true;
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

    /// Shares `value` with every listener: as a [`State<T>`](crate::State) argument (checked
    /// at start: see [`Listener`]), or [`Context::state`](crate::Context::state)`::<T>()` in
    /// middleware. One value per type.
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
    pub(crate) fn into_routing(self) -> (Router, States, Arc<Status>, Config) {
        if let Err(problem) = self.check() {
            panic!("the app would not start: {problem}");
        }
        (self.router, self.states, self.status, self.config)
    }

    /// Runs until `shutdown` completes (then closes sockets, lets running handlers finish,
    /// and returns `Ok`) or a fatal error occurs (returned, naming the cause and the fix).
    ///
    /// The phases, in order (each a function of `start.rs`): open what is local (the
    /// journal, the endpoint's port), identify the bot, read what the journal left, start the
    /// pipeline (writer, intake, dispatcher, outbox sender), replay, open the connections and
    /// the tasks beside them, then watch everything until shutdown and drain (`running.rs`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), Error> {
        self.config.validate()?;
        self.check()?;
        let install_scopes = self.manifest().oauth_config.scopes.bot;
        let config = self.config;
        let status = self.status;
        let web = start::web_client(&config)?;
        tokio::pin!(shutdown);
        // What is local first: a journal that can't be opened or a port in use is a local
        // mistake, reported before any network call.
        let store = match self.store {
            Some(store) => store,
            None => tokio::select! {
                store = start::open_store(&config) => store?,
                () = &mut shutdown => return Ok(()),
            },
        };
        let http = config.transport == TransportKind::Http;
        // Over HTTP, the operator endpoint may share the receiver's address: one listener.
        let shared =
            http && self.http_listener.is_none() && config.http_addr == Some(config.events_addr);
        let endpoint = match shared {
            true => None,
            false => start::open_endpoint(self.http_listener, config.http_addr).await?,
        };
        let receiving = match http {
            true => Some(start::Listening {
                install_scopes,
                listener: start::open_receiver(self.events_listener, config.events_addr).await?,
                with_endpoint: shared,
            }),
            false => None,
        };
        // A rotating token of the bot's own: the current pair before anything uses it.
        tokio::select! {
            renewed = start::home_token(&config, &web, &store) => renewed?,
            () = &mut shutdown => return Ok(()),
        }
        let me = tokio::select! {
            me = start::identify(&web, &config) => Arc::new(me?),
            () = &mut shutdown => return Ok(()),
        };
        start::identified(&web, &config, &me);
        let left = start::read_journal(&store, &me).await?;
        let handler = Arc::new(Routes(Arc::new(self.router)));
        let bot = start::Bot {
            config: &config,
            web: &web,
            store: &store,
            status: &status,
            me: &me,
        };
        let pipeline = start::pipeline(&bot, handler, Arc::new(self.states), left.answers)?;
        start::replay(&left.backlog, &pipeline.queue, &status).await;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = start::connections(&bot, &pipeline, &stop_rx, receiving);
        start::beside_connections(
            &bot,
            &pipeline,
            left.last_seen,
            endpoint,
            &mut connections.tasks,
            &stop_rx,
        );
        drop(stop_rx);
        pipeline
            .run_until(connections, stop_tx, &config, shutdown)
            .await
    }
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
