//! Runtime settings: read from the environment or built in code, validated into [`Config`].

use std::path::PathBuf;
use std::time::Duration;

use nonstop_web::{Pace, Secret};

pub use crate::journal::sqlite::Durability;
use crate::transport::http::signature::SigningSecrets;

/// A setting that is missing or wrong. The message names the setting and never its value.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{name} is not set; {hint}")]
    Missing {
        name: &'static str,
        hint: &'static str,
    },
    #[error("{name} is malformed: {problem}")]
    Malformed { name: &'static str, problem: String },
    #[error("{name} is out of range: {problem}")]
    OutOfRange { name: &'static str, problem: String },
}

/// Validated settings for a bot. Durations are real durations and tokens are [`Secret`]s, so
/// printing a `Config` never prints a token.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// How Slack reaches the bot: Socket Mode (the default), HTTP request URLs, or RTM.
    pub transport: TransportKind,
    /// For HTTP: the app's signing secrets (the current one, and the previous one while
    /// Slack rotates it), from `SLACK_SIGNING_SECRET` (`current` or `current,previous`).
    /// Every request is checked against them before anything reads it.
    pub signing_secrets: Option<SigningSecrets>,
    /// For HTTP: where the receiver listens (`NONSTOP_HTTP_LISTEN`, default `0.0.0.0:3000`,
    /// Bolt's port). When it is the operator endpoint's address too, one listener serves
    /// both.
    pub events_addr: std::net::SocketAddr,
    /// For HTTP: the path Slack posts events, commands and interactions to
    /// (`NONSTOP_HTTP_PATH`, default `/slack/events`, as in Bolt); the request URL in the
    /// app's settings is the public address followed by it.
    pub events_path: String,
    /// For HTTP: the bot's public root as Slack reaches it (`NONSTOP_PUBLIC_URL`, e.g.
    /// `https://bot.example.com`), for the request URLs of the manifest (`mybot manifest`);
    /// the receiver itself does not need it.
    pub public_url: Option<String>,
    /// Installing the app in other workspaces through OAuth (`SLACK_CLIENT_ID` and
    /// `SLACK_CLIENT_SECRET`): the install page and Slack's redirect, served beside the
    /// receiver. `None`: no install routes.
    pub oauth: Option<OAuthSettings>,
    /// For RTM: connect with the deprecated `rtm.start` instead of `rtm.connect` (only older
    /// classic apps can; newer ones get `method_deprecated`).
    pub rtm_start: bool,
    /// For RTM: plain-text answers (`say`, `reply`, a `post` with only a channel, text and
    /// thread) go over the socket, at RTM's pace of one a second, confirmed by Slack; the
    /// rest, and any answer when no socket is live or the pace has no room, go through
    /// `chat.postMessage`. `false` sends everything through `chat.postMessage`.
    pub rtm_send_over_socket: bool,
    /// App-level token (`xapp-`) with `connections:write`, for opening Socket Mode sockets.
    /// Required for Socket Mode; RTM needs only the bot token.
    pub app_token: Option<Secret>,
    /// Bot token (`xoxb-`, or `xoxe.xoxb-` when it rotates), for the Web API.
    pub bot_token: Secret,
    /// With token rotation on for the bot's own token: its refresh token
    /// (`SLACK_REFRESH_TOKEN`, `xoxe-1-…`; needs `SLACK_CLIENT_ID` and `SLACK_CLIENT_SECRET`).
    /// The pair is kept in the store and renewed ahead of expiry; after the first renewal the
    /// store's pair is the current one, not these settings (docs/http.md, "Rotating tokens").
    pub refresh_token: Option<Secret>,
    /// Web API root, e.g. `https://slack.com/api/` or the simulator's.
    pub api_url: String,
    /// Allows `api_url` to be plain `http://` to another machine, which sends both tokens
    /// where anyone on the way can read them. Plain HTTP to this machine (the simulator) is
    /// always allowed.
    pub allow_plain_http: bool,
    /// Sockets kept live at once (1..=10; Slack allows 10 per app).
    pub connections: usize,
    /// With Redis: the sockets all replicas together may hold, replacements being opened and
    /// old sockets still closing included (`NONSTOP_APP_SOCKETS`, 1..=10, default 10, Slack's
    /// limit per app). A replica's slot opens a socket only while the count kept in Redis is
    /// under it, and otherwise waits for one to close, instead of being refused by Slack
    /// (whose refusal may also close another replica's socket).
    pub app_sockets: usize,
    /// How often we ping each socket.
    pub ping_interval: Duration,
    /// A socket that received no frame at all for this long is dead.
    pub dead_after: Duration,
    /// Limit on `apps.connections.open` plus the WebSocket handshake.
    pub connect_timeout: Duration,
    /// Limit on the wait for `hello` after the upgrade.
    pub hello_timeout: Duration,
    /// Smallest non-zero retry delay.
    pub backoff_base: Duration,
    /// Largest retry delay, unless Slack's `Retry-After` asks for more.
    pub backoff_cap: Duration,
    /// A connection live this long resets its slot's backoff.
    pub backoff_reset_after: Duration,
    /// After Slack's `too_many_websockets` (the app holds all 10 of its sockets, other
    /// replicas' included), a slot waits at least this long, plus up to half again, before it
    /// tries again: instead of the backoff's seconds, about twice a minute.
    pub socket_limit_wait: Duration,
    /// Replace a socket this long before Slack's `approximate_connection_time` runs out.
    pub refresh_margin: Duration,
    /// How long an old socket may take to close after its replacement is live.
    pub drain_timeout: Duration,
    /// Text frames larger than this are dropped with an error (the socket stays up).
    pub max_frame_bytes: usize,
    /// Limit on a handler's run time. Not counted: time it waits for its answers' delivery,
    /// and, while it streams an answer ([`crate::Context::stream`]), the time up to its last
    /// piece: a long answer is not cut off, a handler silent this long is.
    pub handler_timeout: Duration,
    /// Handlers running at once.
    pub max_concurrent_handlers: usize,
    /// Envelopes handed to the dispatcher but not started yet. When it is full, further
    /// envelopes are still journaled and acked, and wait in the journal; they are dispatched
    /// in arrival order as handlers free up.
    pub dispatch_queue: usize,
    /// The journal file (SQLite). `None` keeps the journal in memory: no install, no file, but
    /// events in flight at a crash are lost and dedup forgets on restart.
    pub journal_path: Option<PathBuf>,
    /// Whether each journal commit is fsynced (power-loss safe) or only written (crash safe).
    pub journal_durability: Durability,
    /// The journal, dedup and the bot's storage in Redis instead (`REDIS_URL`,
    /// `redis://` or `rediss://` for TLS, a password in it never shown): several replicas of
    /// one bot share them. `journal_path` is then unused.
    pub redis_url: Option<Secret>,
    /// Every Redis key starts with this (`NONSTOP_REDIS_PREFIX`, default `nonstop`): one
    /// Redis can hold several bots.
    pub redis_prefix: String,
    /// `rediss://` to a server whose certificate a private CA signed: that CA's certificate,
    /// a PEM file (`NONSTOP_REDIS_CA`), trusted instead of the public CAs built in.
    pub redis_ca: Option<PathBuf>,
    /// With Redis: how long a replica that stopped renewing its lease (killed, frozen, cut
    /// off from Redis) keeps its unfinished events before a live replica takes them over and
    /// runs them as replays (`NONSTOP_TAKEOVER_SECS`, default 30).
    pub takeover_after: Duration,
    /// With Redis: this replica's name in the shared journal (`NONSTOP_REPLICA_ID`; letters,
    /// digits, `.`, `_`, `-`, at most 64), stable across its restarts, e.g. a Kubernetes pod's
    /// name: a replica restarted under the same name resumes its own unfinished work at once
    /// instead of leaving it for a takeover after the lease. Two live processes with one name
    /// are refused. `None` (the default): a random name per start.
    pub replica_id: Option<String>,
    /// How long finished events are kept for dedup (Slack's delayed events retry hourly for a
    /// day), and how many entries the journal keeps at most.
    pub journal_retention: Duration,
    pub journal_max_entries: u64,
    /// Envelopes waiting for the journal writer. When full, envelopes are not acked.
    pub journal_queue: usize,
    /// Limit on each Web API request.
    pub web_timeout: Duration,
    /// A pace of our own for `chat.postMessage` per channel, on top of Slack's 429s (which
    /// are always obeyed). `None`, the default, sends as fast as Slack takes: Slack allows
    /// bursts and says when to wait; a pace only delays answers. Answers wait in the outbox
    /// for their turn either way, so a pace never drops one.
    pub post_pace: Option<Pace>,
    /// Answers waiting in the outbox from which new envelopes are left unacked with Slack
    /// (which redelivers them) until the backlog drains.
    pub outbox_bound: u64,
    /// How long a call whose answer was lost (a crash, a timeout, a reset) may still take
    /// effect at Slack: a message that may have been posted is looked for only this long
    /// after the call, so that a late one is found instead of posted twice.
    pub outbox_settle: Duration,
    /// Catch-up: after any time without a live socket longer than `catch_up_after` (a
    /// restart included), and after a socket is declared dead, read the history of the
    /// bot's conversations for what it missed and hand it to the listeners, marked
    /// ([`crate::Context::is_catch_up`]). At most `catch_up_max_age` back and
    /// `catch_up_max_messages` messages (the newest). `false` turns it off.
    pub catch_up: bool,
    pub catch_up_after: Duration,
    pub catch_up_max_age: Duration,
    pub catch_up_max_messages: usize,
    /// How long after receipt an envelope that accepts a response payload (slash commands,
    /// `view_submission`, `block_suggestion`) waits for its listener's [`crate::Context::ack`]
    /// before a plain ack goes out. Slack's limit is 3 s.
    pub ack_deadline: Duration,
    /// The operator endpoint (`/healthz`, `/readyz`, `/metrics`): off unless an address is
    /// given (`NONSTOP_HTTP=127.0.0.1:9090`). Beyond loopback it is said in the log: it has no
    /// authentication.
    pub http_addr: Option<std::net::SocketAddr>,
    /// How long `/healthz` still answers 200 after the last live socket closed: a
    /// replacement takes a moment, and a supervisor should not restart the bot for that.
    pub health_grace: Duration,
    /// A one-line summary in the log this often (uptime, live sockets, events handled, the
    /// last disconnect's cause), so a quiet log still shows the bot alive; `None` for none.
    pub summary_every: Option<Duration>,
}

/// The OAuth install flow's settings (docs/http.md, "Installing in other workspaces").
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OAuthSettings {
    /// The app's client id (Basic Information).
    pub client_id: String,
    /// The app's client secret: never printed, sent only to `oauth.v2.access`, and the key
    /// the install's `state` is signed with.
    pub client_secret: Secret,
    /// Where the install starts (`NONSTOP_OAUTH_INSTALL_PATH`, default `/slack/install`).
    pub install_path: String,
    /// Where Slack sends the installer back (`NONSTOP_OAUTH_REDIRECT_PATH`, default
    /// `/slack/oauth_redirect`); the app's redirect URL is the public root followed by it.
    pub redirect_path: String,
    /// How long an install may take from the install page to Slack's redirect.
    pub state_ttl: Duration,
    /// Installs started from an organization admin's page come back without a `state`
    /// (Slack's admin pages cannot add one). `true` (`NONSTOP_OAUTH_ORG_ADMIN_INSTALLS=1`)
    /// takes such a redirect, exchanges its code and keeps the install only when Slack says it
    /// is org-wide; any other install without a state is refused and its token revoked.
    pub org_admin_installs: bool,
    /// A rotating token is renewed once it expires within this (Bolt: 2 hours; Slack's
    /// tokens last 12).
    pub rotation_margin: Duration,
    /// How often rotating tokens are looked at.
    pub rotation_check: Duration,
}

impl OAuthSettings {
    pub fn new(client_id: impl Into<String>, client_secret: Secret) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret,
            install_path: "/slack/install".to_owned(),
            redirect_path: "/slack/oauth_redirect".to_owned(),
            state_ttl: Duration::from_secs(600),
            org_admin_installs: false,
            rotation_margin: Duration::from_secs(2 * 3600),
            rotation_check: Duration::from_secs(60),
        }
    }
}

/// How a bot holds its connection to Slack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TransportKind {
    /// Socket Mode: `apps.connections.open` with the app-level token; envelopes acked.
    #[default]
    SocketMode,
    /// The RTM API of classic apps: `rtm.connect` with the bot token; bare events, no acks
    /// and no redelivery by Slack.
    Rtm,
    /// Request URLs: Slack posts each event, command and interaction to the bot's HTTP
    /// receiver, signed with the app's signing secret; the answer (within 3 s) is the ack.
    Http,
}

impl TransportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SocketMode => "socket",
            Self::Rtm => "rtm",
            Self::Http => "http",
        }
    }
}

/// Environment variable names.
pub const ENV_TRANSPORT: &str = "NONSTOP_TRANSPORT";
/// Seconds between summary lines in the log (default 900), or `0` for none.
pub const ENV_SUMMARY_SECS: &str = "NONSTOP_SUMMARY_SECS";
/// Address of the operator endpoint (`127.0.0.1:9090`), or `off` (the default).
pub const ENV_HTTP: &str = "NONSTOP_HTTP";
/// `0`/`false`: no catch-up from history after downtime.
pub const ENV_CATCH_UP: &str = "NONSTOP_CATCH_UP";
/// `1`/`true`: RTM connects with `rtm.start` instead of `rtm.connect`.
pub const ENV_RTM_START: &str = "NONSTOP_RTM_START";
/// RTM: `socket` (the default) sends plain-text answers over the socket, `web` sends every
/// answer through `chat.postMessage`.
pub const ENV_RTM_SEND: &str = "NONSTOP_RTM_SEND";
pub const ENV_APP_TOKEN: &str = "SLACK_APP_TOKEN";
/// The app's signing secret for HTTP (`current`, or `current,previous` during a rotation).
pub const ENV_SIGNING_SECRET: &str = "SLACK_SIGNING_SECRET";
/// Where the HTTP receiver listens (default `0.0.0.0:3000`).
pub const ENV_HTTP_LISTEN: &str = "NONSTOP_HTTP_LISTEN";
/// The path of the HTTP receiver (default `/slack/events`).
pub const ENV_HTTP_PATH: &str = "NONSTOP_HTTP_PATH";
/// The bot's public root for the manifest's request URLs (`https://bot.example.com`).
pub const ENV_PUBLIC_URL: &str = "NONSTOP_PUBLIC_URL";
/// The app's client id and secret: with both, the OAuth install flow is served.
pub const ENV_CLIENT_ID: &str = "SLACK_CLIENT_ID";
pub const ENV_CLIENT_SECRET: &str = "SLACK_CLIENT_SECRET";
/// `1`: take installs from an organization admin's page, which come without a state.
pub const ENV_OAUTH_ORG_ADMIN_INSTALLS: &str = "NONSTOP_OAUTH_ORG_ADMIN_INSTALLS";
/// The refresh token of a rotating bot token (`xoxe-1-…`).
pub const ENV_REFRESH_TOKEN: &str = "SLACK_REFRESH_TOKEN";
pub const ENV_BOT_TOKEN: &str = "SLACK_BOT_TOKEN";
pub const ENV_API_URL: &str = "SLACK_API_URL";
pub const ENV_CONNECTIONS: &str = "NONSTOP_CONNECTIONS";
pub const ENV_APP_SOCKETS: &str = "NONSTOP_APP_SOCKETS";
pub const ENV_DB: &str = "NONSTOP_DB";
pub const ENV_REDIS_URL: &str = "REDIS_URL";
pub const ENV_REDIS_PREFIX: &str = "NONSTOP_REDIS_PREFIX";
pub const ENV_REDIS_CA: &str = "NONSTOP_REDIS_CA";
pub const ENV_TAKEOVER_SECS: &str = "NONSTOP_TAKEOVER_SECS";
pub const ENV_REPLICA_ID: &str = "NONSTOP_REPLICA_ID";
/// `1`/`true`: `SLACK_API_URL` may be plain `http://` to another machine.
pub const ENV_ALLOW_PLAIN_HTTP: &str = "NONSTOP_ALLOW_PLAIN_HTTP";
/// Milliseconds between `chat.postMessage` calls to one channel, or `off` (for the simulator).
pub const ENV_POST_PACE: &str = "NONSTOP_POST_PACE_MS";

/// The journal file when `NONSTOP_DB` is not set: in the working directory.
pub const DEFAULT_DB: &str = "nonstop.db";

impl Config {
    /// Settings with the documented defaults for these tokens.
    pub fn new(app_token: &str, bot_token: &str) -> Result<Self, ConfigError> {
        let mut config = Self::rtm(bot_token)?;
        config.transport = TransportKind::SocketMode;
        config.app_token = Some(check_token(
            ENV_APP_TOKEN,
            app_token,
            "xapp-",
            APP_TOKEN_HINT,
        )?);
        Ok(config)
    }

    /// Settings with the documented defaults for a bot Slack reaches over HTTP (request
    /// URLs): the bot token and the app's signing secret.
    pub fn http(bot_token: &str, signing_secret: &str) -> Result<Self, ConfigError> {
        let mut config = Self::rtm(bot_token)?;
        config.transport = TransportKind::Http;
        config.signing_secrets = Some(parse_signing_secrets(signing_secret)?);
        Ok(config)
    }

    /// Settings with the documented defaults for a classic bot on RTM: only the bot token.
    pub fn rtm(bot_token: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            transport: TransportKind::Rtm,
            signing_secrets: None,
            events_addr: std::net::SocketAddr::from(([0, 0, 0, 0], 3000)),
            events_path: DEFAULT_EVENTS_PATH.to_owned(),
            public_url: None,
            oauth: None,
            rtm_start: false,
            rtm_send_over_socket: true,
            app_token: None,
            bot_token: check_bot_token(bot_token)?,
            refresh_token: None,
            api_url: nonstop_web::SLACK_API_URL.to_owned(),
            allow_plain_http: false,
            connections: 2,
            app_sockets: 10,
            ping_interval: Duration::from_secs(2),
            dead_after: Duration::from_secs(6),
            connect_timeout: Duration::from_secs(10),
            hello_timeout: Duration::from_secs(10),
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(5),
            backoff_reset_after: Duration::from_secs(60),
            socket_limit_wait: Duration::from_secs(30),
            refresh_margin: Duration::from_secs(60),
            drain_timeout: Duration::from_secs(5),
            max_frame_bytes: 1024 * 1024,
            handler_timeout: Duration::from_secs(30),
            max_concurrent_handlers: 64,
            dispatch_queue: 10_000,
            journal_path: Some(PathBuf::from(DEFAULT_DB)),
            journal_durability: Durability::Full,
            redis_url: None,
            redis_prefix: "nonstop".to_owned(),
            redis_ca: None,
            takeover_after: Duration::from_secs(30),
            replica_id: None,
            journal_retention: Duration::from_secs(25 * 3600),
            journal_max_entries: 2_000_000,
            journal_queue: 10_000,
            web_timeout: Duration::from_secs(15),
            post_pace: None,
            outbox_bound: 10_000,
            outbox_settle: Duration::from_secs(15),
            ack_deadline: Duration::from_millis(2500),
            http_addr: None,
            health_grace: Duration::from_secs(30),
            summary_every: Some(Duration::from_secs(15 * 60)),
            catch_up: true,
            catch_up_after: Duration::from_secs(10),
            catch_up_max_age: Duration::from_secs(2 * 3600),
            catch_up_max_messages: 1000,
        })
    }

    /// Settings for a bot under test against the simulator (`nonstop sim`, or
    /// `nonstop_sim::Sim` in a test) at `api_url`: journal in memory, no posting pace (the
    /// simulator has no per-channel limit), short liveness and retry intervals.
    pub fn for_simulator(
        api_url: &str,
        app_token: &str,
        bot_token: &str,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::new(app_token, bot_token)?;
        config.against_simulator(api_url)?;
        Ok(config)
    }

    /// Settings for a bot that the simulator at `api_url` posts to over HTTP (see
    /// `nonstop_sim::Sim::set_request_url`), signing with `signing_secret`: otherwise as
    /// [`Config::for_simulator`].
    pub fn for_simulator_over_http(
        api_url: &str,
        bot_token: &str,
        signing_secret: &str,
    ) -> Result<Self, ConfigError> {
        let mut config = Self::http(bot_token, signing_secret)?;
        config.against_simulator(api_url)?;
        Ok(config)
    }

    fn against_simulator(&mut self, api_url: &str) -> Result<(), ConfigError> {
        self.api_url = check_url("api_url", api_url)?;
        self.journal_path = None;
        self.post_pace = None;
        self.ping_interval = Duration::from_millis(500);
        self.dead_after = Duration::from_secs(2);
        self.backoff_base = Duration::from_millis(50);
        self.backoff_cap = Duration::from_millis(500);
        Ok(())
    }

    /// Reads `SLACK_APP_TOKEN`, `SLACK_BOT_TOKEN`, and optionally `SLACK_API_URL` and
    /// `NONSTOP_CONNECTIONS`.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Config::from_env`] with any source of variables (tests use a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = Self::tokens_from(&lookup)?;
        config.oauth_settings_from(&lookup)?;
        config.refresh_settings_from(&lookup)?;
        config.connection_settings_from(&lookup)?;
        config.storage_settings_from(&lookup)?;
        config.runtime_settings_from(&lookup)?;
        config.validate()?;
        Ok(config)
    }

    /// The transport and the tokens it needs: the defaults every other setting starts from.
    fn tokens_from(lookup: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let transport = match lookup(ENV_TRANSPORT).as_deref().map(str::trim) {
            None | Some("" | "socket" | "socket_mode") => TransportKind::SocketMode,
            Some("rtm") => TransportKind::Rtm,
            Some("http") => TransportKind::Http,
            Some(_) => {
                return Err(ConfigError::Malformed {
                    name: ENV_TRANSPORT,
                    problem: "expected `socket` (Socket Mode, the default), `http` (request URLs) or `rtm` (classic apps)"
                        .to_owned(),
                })
            }
        };
        let app = match transport {
            TransportKind::SocketMode => {
                Some(lookup(ENV_APP_TOKEN).ok_or(ConfigError::Missing {
                    name: ENV_APP_TOKEN,
                    hint: APP_TOKEN_HINT,
                })?)
            }
            // RTM connects with the bot token alone.
            _ => None,
        };
        let bot = lookup(ENV_BOT_TOKEN).ok_or(ConfigError::Missing {
            name: ENV_BOT_TOKEN,
            hint: BOT_TOKEN_HINT,
        })?;
        if transport == TransportKind::Http {
            let secret = lookup(ENV_SIGNING_SECRET).ok_or(ConfigError::Missing {
                name: ENV_SIGNING_SECRET,
                hint: SIGNING_SECRET_HINT,
            })?;
            let mut config = Self::http(&bot, &secret)?;
            config.events_settings_from(lookup)?;
            return Ok(config);
        }
        match app {
            Some(app) => Self::new(&app, &bot),
            None => Self::rtm(&bot),
        }
    }

    /// The OAuth install flow: both the client id and secret, or neither.
    fn oauth_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let id = lookup(ENV_CLIENT_ID).filter(|v| !v.trim().is_empty());
        let secret = lookup(ENV_CLIENT_SECRET).filter(|v| !v.trim().is_empty());
        let (id, secret) = match (id, secret) {
            (None, None) => return Ok(()),
            (Some(id), Some(secret)) => (id, secret),
            (Some(_), None) => {
                return Err(ConfigError::Missing {
                    name: ENV_CLIENT_SECRET,
                    hint: "the OAuth install flow needs the client secret too (Basic Information), or unset SLACK_CLIENT_ID",
                })
            }
            (None, Some(_)) => {
                return Err(ConfigError::Missing {
                    name: ENV_CLIENT_ID,
                    hint: "the OAuth install flow needs the client id too (Basic Information), or unset SLACK_CLIENT_SECRET",
                })
            }
        };
        let id = id.trim();
        if id.len() > 64 || !id.chars().all(|c| c.is_ascii_digit() || c == '.') {
            return Err(ConfigError::Malformed {
                name: ENV_CLIENT_ID,
                problem:
                    "expected the app's client id, digits and a dot (e.g. 1234567890.1234567890)"
                        .to_owned(),
            });
        }
        let mut oauth = OAuthSettings::new(id, Secret::new(secret.trim()));
        if let Some(flag) = lookup(ENV_OAUTH_ORG_ADMIN_INSTALLS) {
            oauth.org_admin_installs = parse_flag(ENV_OAUTH_ORG_ADMIN_INSTALLS, &flag)?;
        }
        self.oauth = Some(oauth);
        Ok(())
    }

    /// The bot's own refresh token, for a rotating bot token.
    fn refresh_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let Some(refresh) = lookup(ENV_REFRESH_TOKEN).filter(|v| !v.trim().is_empty()) else {
            return Ok(());
        };
        if self.oauth.is_none() {
            return Err(ConfigError::Missing {
                name: ENV_CLIENT_ID,
                hint: "renewing the bot's rotating token (SLACK_REFRESH_TOKEN) needs the app's client id and secret (SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, from Basic Information)",
            });
        }
        self.refresh_token = Some(check_token(
            ENV_REFRESH_TOKEN,
            &refresh,
            "xoxe-",
            "set it to the refresh token Slack gave with the bot token (OAuth & Permissions, with token rotation on)",
        )?);
        Ok(())
    }

    /// The HTTP receiver's address and path.
    fn events_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(addr) = lookup(ENV_HTTP_LISTEN) {
            self.events_addr = addr.trim().parse().map_err(|_| ConfigError::Malformed {
                name: ENV_HTTP_LISTEN,
                problem: "expected an address and port to listen on, e.g. 0.0.0.0:3000".to_owned(),
            })?;
        }
        if let Some(path) = lookup(ENV_HTTP_PATH) {
            self.events_path = path.trim().to_owned();
        }
        if let Some(url) = lookup(ENV_PUBLIC_URL) {
            let url = url.trim().trim_end_matches('/');
            self.public_url = match url {
                "" => None,
                url => Some(check_url(ENV_PUBLIC_URL, url)?),
            };
        }
        Ok(())
    }

    /// Catch-up, RTM's choices, and where the Web API is.
    fn connection_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let config = self;
        if let Some(catch_up) = lookup(ENV_CATCH_UP) {
            config.catch_up = parse_flag(ENV_CATCH_UP, &catch_up)?;
        }
        if let Some(start) = lookup(ENV_RTM_START) {
            config.rtm_start = parse_flag(ENV_RTM_START, &start)?;
        }
        if let Some(send) = lookup(ENV_RTM_SEND) {
            config.rtm_send_over_socket = match send.trim() {
                "" | "socket" => true,
                "web" => false,
                _ => {
                    return Err(ConfigError::Malformed {
                        name: ENV_RTM_SEND,
                        problem: "expected `socket` (plain text over the RTM socket, the default) or `web` (everything through chat.postMessage)".to_owned(),
                    })
                }
            };
        }
        if let Some(url) = lookup(ENV_API_URL) {
            // Set but blank is a mistake (a template left unfilled), not a wish for the default.
            if url.trim().is_empty() {
                return Err(ConfigError::Malformed {
                    name: ENV_API_URL,
                    problem: "is empty; unset it for Slack's own (https://slack.com/api/)"
                        .to_owned(),
                });
            }
            config.api_url = check_url(ENV_API_URL, &url)?;
        }
        Ok(())
    }

    /// The journal: SQLite's path, or Redis with its prefix, CA, takeover and replica name.
    fn storage_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let config = self;
        if let Some(db) = lookup(ENV_DB) {
            config.journal_path = match db.trim() {
                "" => {
                    return Err(ConfigError::Malformed {
                        name: ENV_DB,
                        problem: "is empty; give a file path, or `:memory:` for no file".to_owned(),
                    })
                }
                ":memory:" => None,
                path => Some(PathBuf::from(path)),
            };
        }
        if let Some(url) = lookup(ENV_REDIS_URL) {
            config.redis_url =
                match url.trim() {
                    "" => None,
                    url if url.starts_with("redis://")
                        || url.starts_with("rediss://")
                        || url.starts_with("redis+unix://")
                        || url.starts_with("unix://") =>
                    {
                        Some(Secret::new(url))
                    }
                    _ => return Err(ConfigError::Malformed {
                        name: ENV_REDIS_URL,
                        problem:
                            "expected redis://[:password@]host[:port][/db], or rediss:// for TLS"
                                .to_owned(),
                    }),
                };
        }
        if let Some(prefix) = lookup(ENV_REDIS_PREFIX) {
            let prefix = prefix.trim();
            if prefix.is_empty() || prefix.len() > 100 || prefix.contains(char::is_whitespace) {
                return Err(ConfigError::Malformed {
                    name: ENV_REDIS_PREFIX,
                    problem: "expected a short name without spaces, e.g. `mybot`".to_owned(),
                });
            }
            config.redis_prefix = prefix.to_owned();
        }
        if let Some(ca) = lookup(ENV_REDIS_CA) {
            config.redis_ca = match ca.trim() {
                "" => None,
                path => Some(PathBuf::from(path)),
            };
        }
        if let Some(secs) = lookup(ENV_TAKEOVER_SECS) {
            let secs: u64 = secs.trim().parse().map_err(|_| ConfigError::Malformed {
                name: ENV_TAKEOVER_SECS,
                problem: "expected whole seconds from 1, e.g. 30".to_owned(),
            })?;
            if secs == 0 {
                return Err(ConfigError::Malformed {
                    name: ENV_TAKEOVER_SECS,
                    problem: "must be at least 1 s: a replica must have time to renew its lease"
                        .to_owned(),
                });
            }
            config.takeover_after = Duration::from_secs(secs);
        }
        if let Some(id) = lookup(ENV_REPLICA_ID) {
            let id = id.trim();
            let fits = !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !fits {
                return Err(ConfigError::Malformed {
                    name: ENV_REPLICA_ID,
                    problem:
                        "expected 1 to 64 letters, digits, '.', '_' or '-', e.g. the pod's name"
                            .to_owned(),
                });
            }
            config.replica_id = Some(id.to_owned());
        }
        Ok(())
    }

    /// Pacing, sockets, the summary line and the operator endpoint.
    fn runtime_settings_from(
        &mut self,
        lookup: &impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let config = self;
        if let Some(pace) = lookup(ENV_POST_PACE) {
            config.post_pace = match pace.trim() {
                "off" | "0" => None,
                millis => {
                    let millis: u64 = millis.parse().map_err(|_| ConfigError::Malformed {
                        name: ENV_POST_PACE,
                        problem: "expected milliseconds between messages to one channel, or `off`"
                            .to_owned(),
                    })?;
                    Some(Pace {
                        interval: Duration::from_millis(millis),
                        ..Pace::default()
                    })
                }
            };
        }
        if let Some(allow) = lookup(ENV_ALLOW_PLAIN_HTTP) {
            config.allow_plain_http = parse_flag(ENV_ALLOW_PLAIN_HTTP, &allow)?;
        }
        if let Some(n) = lookup(ENV_CONNECTIONS) {
            config.connections = n.trim().parse().map_err(|_| ConfigError::Malformed {
                name: ENV_CONNECTIONS,
                problem: "expected a whole number from 1 to 10".to_owned(),
            })?;
        }
        if let Some(n) = lookup(ENV_APP_SOCKETS) {
            config.app_sockets = n.trim().parse().map_err(|_| ConfigError::Malformed {
                name: ENV_APP_SOCKETS,
                problem:
                    "expected a whole number from 1 to 10: the sockets all replicas hold together"
                        .to_owned(),
            })?;
        }
        if let Some(secs) = lookup(ENV_SUMMARY_SECS) {
            config.summary_every = match secs.trim() {
                "0" | "off" => None,
                secs => Some(Duration::from_secs(secs.parse().map_err(|_| {
                    ConfigError::Malformed {
                        name: ENV_SUMMARY_SECS,
                        problem: "expected whole seconds (900 for 15 min), or 0 for no summary"
                            .to_owned(),
                    }
                })?)),
            };
        }
        if let Some(addr) = lookup(ENV_HTTP) {
            config.http_addr = match addr.trim() {
                "" | "off" => None,
                addr => Some(addr.parse().map_err(|_| ConfigError::Malformed {
                    name: ENV_HTTP,
                    problem: "expected an address and port to listen on, e.g. 127.0.0.1:9090, or `off`".to_owned(),
                })?),
            };
        }
        Ok(())
    }

    /// The HTTP receiver's and the install flow's settings.
    fn validate_http(&self) -> Result<(), ConfigError> {
        if self.transport == TransportKind::Http {
            if self.signing_secrets.is_none() {
                return Err(ConfigError::Missing {
                    name: ENV_SIGNING_SECRET,
                    hint: SIGNING_SECRET_HINT,
                });
            }
            let path = &self.events_path;
            let endpoint_paths = ["/", "/healthz", "/readyz", "/metrics"];
            if !path.starts_with('/')
                || path.len() > 200
                || path.contains(['?', '#', ' ', '{', '}', '*', ':'])
                || endpoint_paths.contains(&path.as_str())
            {
                return Err(ConfigError::Malformed {
                    name: ENV_HTTP_PATH,
                    problem: "expected a path starting with `/`, e.g. /slack/events (not one of the operator endpoint's)".to_owned(),
                });
            }
        }
        if let Some(oauth) = &self.oauth {
            let paths = [&oauth.install_path, &oauth.redirect_path];
            let taken = [
                "/",
                "/healthz",
                "/readyz",
                "/metrics",
                self.events_path.as_str(),
            ];
            let clash = paths.iter().any(|p| {
                !p.starts_with('/')
                    || taken.contains(&p.as_str())
                    || p.contains(['?', '#', ' ', '{', '}', '*', ':'])
            });
            if clash || oauth.install_path == oauth.redirect_path {
                return Err(ConfigError::Malformed {
                    name: ENV_CLIENT_ID,
                    problem: "the install and redirect paths must be two paths of their own, starting with `/`".to_owned(),
                });
            }
        }
        Ok(())
    }

    /// Checks relations between settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.validate_http()?;
        if self.transport == TransportKind::SocketMode && self.app_token.is_none() {
            return Err(ConfigError::Missing {
                name: ENV_APP_TOKEN,
                hint: APP_TOKEN_HINT,
            });
        }
        if !(1..=10).contains(&self.connections) {
            return Err(ConfigError::OutOfRange {
                name: "connections",
                problem: format!(
                    "{} (Slack allows 1 to 10 sockets per app)",
                    self.connections
                ),
            });
        }
        if !(1..=10).contains(&self.app_sockets) {
            return Err(ConfigError::OutOfRange {
                name: "app_sockets",
                problem: format!(
                    "{} (all replicas together; Slack allows an app 1 to 10 sockets)",
                    self.app_sockets
                ),
            });
        }
        if self.dead_after <= self.ping_interval {
            return Err(ConfigError::OutOfRange {
                name: "dead_after",
                problem: "must be longer than ping_interval, or every socket looks dead".to_owned(),
            });
        }
        if self.backoff_cap < self.backoff_base {
            return Err(ConfigError::OutOfRange {
                name: "backoff_cap",
                problem: "must be at least backoff_base".to_owned(),
            });
        }
        if self.max_concurrent_handlers == 0 || self.dispatch_queue == 0 || self.journal_queue == 0
        {
            return Err(ConfigError::OutOfRange {
                name: "max_concurrent_handlers",
                problem: "handlers and the dispatch queue need room for at least one event"
                    .to_owned(),
            });
        }
        if self.outbox_bound == 0 {
            return Err(ConfigError::OutOfRange {
                name: "outbox_bound",
                problem: "the outbox needs room for at least one answer".to_owned(),
            });
        }
        if self.ack_deadline >= Duration::from_secs(3) {
            return Err(ConfigError::OutOfRange {
                name: "ack_deadline",
                problem: "must be under 3 s: Slack gives up on an ack after 3 s".to_owned(),
            });
        }
        check_url("api_url", &self.api_url)?;
        if nonstop_web::sends_tokens_in_clear(&self.api_url) == Ok(true) && !self.allow_plain_http {
            return Err(ConfigError::Malformed {
                name: ENV_API_URL,
                problem: format!(
                    "{} is plain http:// to another machine: both tokens would travel unencrypted; use https://, or set {ENV_ALLOW_PLAIN_HTTP}=1 (Config::allow_plain_http) if every network on the way is yours",
                    self.api_url
                ),
            });
        }
        Ok(())
    }
}

/// `1`/`true`/`yes` or `0`/`false`/`no` (blank is no).
fn parse_flag(name: &'static str, value: &str) -> Result<bool, ConfigError> {
    match value.trim() {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" | "" => Ok(false),
        _ => Err(ConfigError::Malformed {
            name,
            problem: "expected 1 or 0".to_owned(),
        }),
    }
}

const SIGNING_SECRET_HINT: &str =
    "set it to the app's signing secret, from the app's Basic Information page (\"current,previous\" while it rotates)";

/// The path Slack posts to when `NONSTOP_HTTP_PATH` does not say: Bolt's.
pub const DEFAULT_EVENTS_PATH: &str = "/slack/events";

/// `current` or `current,previous`: each a signing secret (Slack's are 32 hex digits; any
/// printable text without spaces is taken).
fn parse_signing_secrets(value: &str) -> Result<SigningSecrets, ConfigError> {
    let mut secrets: Option<SigningSecrets> = None;
    for secret in value.split(',').map(str::trim) {
        if secret.is_empty()
            || secret.len() > 256
            || secret.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::Malformed {
                name: ENV_SIGNING_SECRET,
                problem: "expected the signing secret, or two separated by a comma (current,previous) while it rotates; none may be empty or hold spaces".to_owned(),
            });
        }
        secrets = Some(match secrets {
            None => SigningSecrets::new(secret),
            Some(secrets) => secrets.also(secret),
        });
    }
    secrets.ok_or(ConfigError::Missing {
        name: ENV_SIGNING_SECRET,
        hint: SIGNING_SECRET_HINT,
    })
}

pub(crate) const APP_TOKEN_HINT: &str =
    "set it to the app-level token (xapp-…) with the connections:write scope, from the app's Basic Information page";
const BOT_TOKEN_HINT: &str =
    "set it to the bot token (xoxb-…), from the app's OAuth & Permissions page";

/// The bot token: `xoxb-`, or `xoxe.xoxb-` when it rotates.
fn check_bot_token(value: &str) -> Result<Secret, ConfigError> {
    let prefix = if value.trim().starts_with("xoxe.") {
        "xoxe.xoxb-"
    } else {
        "xoxb-"
    };
    check_token(ENV_BOT_TOKEN, value, prefix, BOT_TOKEN_HINT)
}

fn check_token(
    name: &'static str,
    value: &str,
    prefix: &'static str,
    hint: &'static str,
) -> Result<Secret, ConfigError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ConfigError::Missing { name, hint });
    }
    if !value.starts_with(prefix) {
        // Name what the value looks like without printing it.
        let looks_like = Secret::new(value).kind();
        return Err(ConfigError::Malformed {
            name,
            problem: format!(
                "expected a token starting with {prefix}, got a {looks_like} token; {hint}"
            ),
        });
    }
    if value.len() > 512 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ConfigError::Malformed {
            name,
            problem: "contains spaces or control characters, or is too long".to_owned(),
        });
    }
    Ok(Secret::new(value))
}

fn check_url(name: &'static str, url: &str) -> Result<String, ConfigError> {
    let url = url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(ConfigError::Malformed {
            name,
            problem: format!("{url:?} is not an http(s) URL, e.g. https://slack.com/api/"),
        });
    }
    if let Err(problem) = nonstop_web::sends_tokens_in_clear(url) {
        return Err(ConfigError::Malformed {
            name,
            problem: format!("{url:?} is not a usable URL: {problem}"),
        });
    }
    Ok(url.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn tokens_never_go_over_plain_http_to_another_machine_unless_allowed() {
        let tokens = [
            ("SLACK_APP_TOKEN", "xapp-1-A1-1-secret"),
            ("SLACK_BOT_TOKEN", "xoxb-1-secret"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = tokens.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(env(&pairs))
        };
        let err = with(&[("SLACK_API_URL", "http://slack.example/api/")]).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("SLACK_API_URL"), "{shown}");
        assert!(shown.contains("NONSTOP_ALLOW_PLAIN_HTTP"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
        let allowed = with(&[
            ("SLACK_API_URL", "http://slack.example/api/"),
            ("NONSTOP_ALLOW_PLAIN_HTTP", "1"),
        ]);
        assert!(allowed.unwrap().allow_plain_http);
        for local in [
            "http://127.0.0.1:3030/api/",
            "http://localhost:3030/api/",
            "http://[::1]:3030/api/",
        ] {
            assert!(with(&[("SLACK_API_URL", local)]).is_ok(), "{local}");
        }
        assert!(with(&[("SLACK_API_URL", "http:///api/")]).is_err());
        let blank = with(&[("SLACK_API_URL", "  ")]).unwrap_err();
        assert!(
            blank
                .to_string()
                .contains("SLACK_API_URL is malformed: is empty"),
            "{blank}"
        );
        // Set in code, the same rule applies when the bot starts.
        let mut config = with(&[]).unwrap();
        config.api_url = "http://10.1.2.3/api/".to_owned();
        assert!(config.validate().is_err());
    }

    #[test]
    fn http_needs_the_signing_secret_not_the_app_token_and_never_shows_it() {
        let base = [("NONSTOP_TRANSPORT", "http"), ("SLACK_BOT_TOKEN", "xoxb-1")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(env(&pairs))
        };
        let missing = with(&[]).unwrap_err();
        assert!(
            missing.to_string().contains("SLACK_SIGNING_SECRET"),
            "{missing}"
        );
        let config = with(&[("SLACK_SIGNING_SECRET", "s3cr3t-current,s3cr3t-previous")]).unwrap();
        assert_eq!(config.transport, TransportKind::Http);
        assert_eq!(config.events_addr.to_string(), "0.0.0.0:3000");
        assert_eq!(config.events_path, "/slack/events");
        let shown = format!("{config:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        let installs = with(&[
            ("SLACK_SIGNING_SECRET", "s"),
            ("SLACK_CLIENT_ID", "1234.5678"),
            ("SLACK_CLIENT_SECRET", "c1i3nt-s3cr3t"),
        ])
        .unwrap();
        let oauth = installs.oauth.as_ref().unwrap();
        assert_eq!(oauth.install_path, "/slack/install");
        assert!(!oauth.org_admin_installs);
        assert!(!format!("{installs:?}").contains("c1i3nt"));
        let half = with(&[
            ("SLACK_SIGNING_SECRET", "s"),
            ("SLACK_CLIENT_ID", "1234.5678"),
        ]);
        assert!(half
            .unwrap_err()
            .to_string()
            .contains("SLACK_CLIENT_SECRET"));
        let config = with(&[
            ("SLACK_SIGNING_SECRET", "s"),
            ("NONSTOP_HTTP_LISTEN", "127.0.0.1:8080"),
            ("NONSTOP_HTTP_PATH", "/hooks/slack"),
            ("NONSTOP_PUBLIC_URL", "https://bot.example.com/"),
        ])
        .unwrap();
        assert_eq!(config.events_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.events_path, "/hooks/slack");
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://bot.example.com")
        );
        for (name, value) in [
            ("SLACK_SIGNING_SECRET", "a,,b"),
            ("NONSTOP_HTTP_LISTEN", "port 80"),
            ("NONSTOP_HTTP_PATH", "slack"),
            ("NONSTOP_HTTP_PATH", "/healthz"),
            ("NONSTOP_PUBLIC_URL", "bot.example.com"),
        ] {
            let mut pairs = vec![("SLACK_SIGNING_SECRET", "s")];
            pairs.push((name, value));
            let refused = with(&pairs).unwrap_err();
            assert!(refused.to_string().contains(name), "{value:?}: {refused}");
        }
    }

    #[test]
    fn a_rotating_bot_token_needs_its_refresh_token_and_the_client_and_shows_neither() {
        let base = [
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxe.xoxb-1-rotating"),
        ];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(env(&pairs))
        };
        assert!(with(&[]).is_ok(), "a rotating bot token is a bot token");
        let alone = with(&[("SLACK_REFRESH_TOKEN", "xoxe-1-r3fr3sh")]).unwrap_err();
        assert!(alone.to_string().contains("SLACK_CLIENT_ID"), "{alone}");
        let config = with(&[
            ("SLACK_REFRESH_TOKEN", "xoxe-1-r3fr3sh"),
            ("SLACK_CLIENT_ID", "1.2"),
            ("SLACK_CLIENT_SECRET", "s3cr3t"),
        ])
        .unwrap();
        assert!(config.refresh_token.is_some());
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("r3fr3sh") && !shown.contains("s3cr3t") && !shown.contains("rotating"),
            "{shown}"
        );
        let wrong = with(&[
            ("SLACK_REFRESH_TOKEN", "xoxb-not-a-refresh-token"),
            ("SLACK_CLIENT_ID", "1.2"),
            ("SLACK_CLIENT_SECRET", "s"),
        ])
        .unwrap_err();
        assert!(wrong.to_string().contains("SLACK_REFRESH_TOKEN"), "{wrong}");
    }

    #[test]
    fn redis_settings_are_checked_and_the_url_is_never_shown() {
        let base = [("NONSTOP_TRANSPORT", "rtm"), ("SLACK_BOT_TOKEN", "xoxb-1")];
        let with = |extra: &[(&str, &str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Config::from_lookup(env(&pairs))
        };
        let plain = with(&[]).unwrap();
        assert!(plain.redis_url.is_none());
        assert_eq!(plain.redis_prefix, "nonstop");
        assert_eq!(plain.takeover_after, Duration::from_secs(30));
        let config = with(&[
            ("REDIS_URL", "rediss://bot:hunter2@cache:6380/1"),
            ("NONSTOP_REDIS_PREFIX", "mybot"),
            ("NONSTOP_TAKEOVER_SECS", "10"),
        ])
        .unwrap();
        assert_eq!(
            config.redis_url.as_ref().map(Secret::expose),
            Some("rediss://bot:hunter2@cache:6380/1")
        );
        assert!(!format!("{config:?}").contains("hunter2"));
        assert_eq!(config.redis_prefix, "mybot");
        assert_eq!(config.takeover_after, Duration::from_secs(10));
        assert_eq!(plain.replica_id, None);
        let named = with(&[("NONSTOP_REPLICA_ID", "nonstop-7d9f-0")]).unwrap();
        assert_eq!(named.replica_id.as_deref(), Some("nonstop-7d9f-0"));
        for odd in ["", "a b", "web/0", &"x".repeat(65)] {
            let refused = with(&[("NONSTOP_REPLICA_ID", odd)]).unwrap_err();
            assert!(
                refused.to_string().contains("NONSTOP_REPLICA_ID"),
                "{odd:?}: {refused}"
            );
        }
        let wrong = with(&[("REDIS_URL", "http://bot:hunter2@cache")]).unwrap_err();
        assert!(wrong.to_string().contains("REDIS_URL"), "{wrong}");
        assert!(!wrong.to_string().contains("hunter2"), "{wrong}");
        assert!(with(&[("NONSTOP_TAKEOVER_SECS", "0")]).is_err());
        assert!(with(&[("NONSTOP_REDIS_PREFIX", "my bot")]).is_err());
    }

    #[test]
    fn rtm_needs_only_the_bot_token() {
        let config = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ]))
        .unwrap();
        assert_eq!(config.transport, TransportKind::Rtm);
        assert!(config.app_token.is_none());
        assert!(!config.rtm_start);
        assert!(config.rtm_send_over_socket);
        assert_eq!(config.http_addr, None);
        assert_eq!(config.summary_every, Some(Duration::from_secs(900)));
        let quiet = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_SUMMARY_SECS", "0"),
        ]))
        .unwrap();
        assert_eq!(quiet.summary_every, None);
        let http = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_HTTP", "127.0.0.1:9090"),
        ]))
        .unwrap();
        assert_eq!(http.http_addr, Some("127.0.0.1:9090".parse().unwrap()));
        let err = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_HTTP", "9090"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("NONSTOP_HTTP"), "{err}");
        let web = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_RTM_SEND", "web"),
        ]))
        .unwrap();
        assert!(!web.rtm_send_over_socket);
        let err = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "rtm"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_RTM_SEND", "carrier pigeon"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("NONSTOP_RTM_SEND"), "{err}");
        let err = Config::from_lookup(env(&[("NONSTOP_TRANSPORT", "rtm")])).unwrap_err();
        assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
        let err = Config::from_lookup(env(&[
            ("NONSTOP_TRANSPORT", "events"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("NONSTOP_TRANSPORT"), "{err}");
        // Socket Mode set in code without its token is refused when the bot starts.
        let mut config = Config::rtm("xoxb-1").unwrap();
        config.transport = TransportKind::SocketMode;
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("SLACK_APP_TOKEN"), "{err}");
    }

    #[test]
    fn missing_and_swapped_tokens_name_the_variable_not_the_value() {
        let err = Config::from_lookup(env(&[])).unwrap_err();
        assert!(err.to_string().contains("SLACK_APP_TOKEN"), "{err}");

        let err = Config::from_lookup(env(&[
            ("SLACK_APP_TOKEN", "xoxb-123-SECRETVALUE"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ]))
        .unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("SLACK_APP_TOKEN"), "{shown}");
        assert!(shown.contains("xoxb token"), "{shown}");
        assert!(!shown.contains("SECRETVALUE"), "{shown}");

        let err = Config::from_lookup(env(&[("SLACK_APP_TOKEN", "xapp-1")])).unwrap_err();
        assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
    }

    #[test]
    fn api_url_and_connections_are_read_and_checked() {
        let config = Config::from_lookup(env(&[
            ("SLACK_APP_TOKEN", "xapp-1-A"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_API_URL", "http://127.0.0.1:9/api"),
            ("NONSTOP_CONNECTIONS", "3"),
        ]))
        .unwrap();
        assert_eq!(config.api_url, "http://127.0.0.1:9/api");
        assert_eq!(config.connections, 3);
        assert_eq!(config.journal_path, Some(PathBuf::from("nonstop.db")));
        let shown = format!("{config:?}");
        assert!(!shown.contains("xapp-1-A\""), "{shown}");

        let err = Config::from_lookup(env(&[
            ("SLACK_APP_TOKEN", "xapp-1-A"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("NONSTOP_CONNECTIONS", "11"),
        ]))
        .unwrap_err();
        assert!(matches!(err, ConfigError::OutOfRange { .. }), "{err}");
        let err = Config::from_lookup(env(&[
            ("SLACK_APP_TOKEN", "xapp-1-A"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_API_URL", "slack.com"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("SLACK_API_URL"), "{err}");
    }

    #[test]
    fn the_app_socket_total_is_read_and_checked() {
        let tokens = [
            ("SLACK_APP_TOKEN", "xapp-1-A"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ];
        let with = |value: &'static str| {
            let mut pairs = tokens.to_vec();
            pairs.push(("NONSTOP_APP_SOCKETS", value));
            Config::from_lookup(env(&pairs))
        };
        assert_eq!(Config::from_lookup(env(&tokens)).unwrap().app_sockets, 10);
        assert_eq!(with("6").unwrap().app_sockets, 6);
        for bad in ["0", "11", "ten"] {
            let err = with(bad).unwrap_err();
            assert!(
                err.to_string().contains("app_sockets")
                    || err.to_string().contains("NONSTOP_APP_SOCKETS"),
                "{err}"
            );
        }
    }

    #[test]
    fn pace_and_ack_deadline_are_read_and_checked() {
        let base = [
            ("SLACK_APP_TOKEN", "xapp-1-A"),
            ("SLACK_BOT_TOKEN", "xoxb-1"),
        ];
        let with = |extra: (&'static str, &'static str)| {
            let mut pairs = base.to_vec();
            pairs.push(extra);
            Config::from_lookup(env(&pairs))
        };
        assert_eq!(
            with(("NONSTOP_POST_PACE_MS", "off")).unwrap().post_pace,
            None
        );
        let paced = with(("NONSTOP_POST_PACE_MS", "250"))
            .unwrap()
            .post_pace
            .unwrap();
        assert_eq!(paced.interval, Duration::from_millis(250));
        let err = with(("NONSTOP_POST_PACE_MS", "fast")).unwrap_err();
        assert!(err.to_string().contains("NONSTOP_POST_PACE_MS"), "{err}");

        let mut config = Config::new("xapp-1-A", "xoxb-1").unwrap();
        config.ack_deadline = Duration::from_secs(3);
        let err = config.validate().unwrap_err();
        assert!(err.to_string().contains("ack_deadline"), "{err}");
    }
}
