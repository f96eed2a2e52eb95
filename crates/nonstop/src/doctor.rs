//! `nonstop doctor`: the path from the settings to a live socket, walked one step at a time,
//! each with a verdict and, when it fails, the fix.
//!
//! The steps follow what a bot does at start (settings, DNS, TCP, TLS, `auth.test`, the
//! socket URL, the upgrade, `hello`, a ping) plus the journal and an optional test post. A
//! step that needs an earlier one which failed is skipped, saying which; the journal is
//! checked whatever the network did. Nothing here retries: the doctor reports what happens
//! now, and the bot's own retries are for running.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use nonstop_web::{ClientOptions, WebClient, WebError};
use serde_json::Value;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::cause::{ConnectStage, DisconnectCause};
use crate::config::{Config, TransportKind};
use crate::scopes::{self, ScopeNeed};
use crate::supervisor::OpenError;
use crate::transport::ws;

/// How long one network step may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// Less free space than this on the journal's disk fails the journal step.
const MIN_FREE_BYTES: u64 = 64 * 1024 * 1024;

/// One step of the walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    Settings,
    Dns,
    Tcp,
    Tls,
    AuthTest,
    SocketUrl,
    Upgrade,
    Hello,
    Ping,
    Journal,
    /// The shared journal in Redis (`REDIS_URL`), when configured.
    Redis,
    TestPost,
    /// HTTP transport: the receiver can listen where it is told, and the request URL (and
    /// the install page, with OAuth) to give Slack.
    RequestUrl,
    /// The installed app's settings against what the listeners need: its bot events, slash
    /// commands, interactivity and Socket Mode (`App::doctor` only; needs an app
    /// configuration token, see [`InstalledApp`]).
    AppSettings,
}

impl Step {
    /// The step as the report names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Settings => "settings",
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::AuthTest => "auth.test",
            Self::SocketUrl => "socket url",
            Self::Upgrade => "websocket upgrade",
            Self::Hello => "hello",
            Self::Ping => "ping",
            Self::Journal => "journal",
            Self::Redis => "redis",
            Self::TestPost => "test post",
            Self::AppSettings => "app settings",
            Self::RequestUrl => "request url",
        }
    }
}

/// What a step found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It works; what was seen.
    Pass(String),
    /// It does not; what failed, and what to do.
    Fail { problem: String, fix: String },
    /// Not tried, and why.
    Skipped(String),
}

/// One step's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub step: Step,
    pub verdict: Verdict,
}

/// What else the doctor should try.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DoctorOptions {
    /// Post a test message to this channel (id or name) as the last step.
    pub post_to: Option<String>,
    /// Compare the installed app's settings with what the listeners need.
    pub installed: Option<InstalledApp>,
}

/// The installed Slack app, to read its manifest (`apps.manifest.export`): an app
/// configuration token (`xoxe.xoxp-…`, api.slack.com/apps → Your App Configuration Tokens;
/// redacted everywhere) and the app's id.
#[derive(Debug, Clone)]
pub struct InstalledApp {
    config_token: nonstop_web::Secret,
    app_id: String,
}

/// Where `mybot doctor` and `mybot manifest --check` find the configuration token.
pub const ENV_CONFIG_TOKEN: &str = "SLACK_CONFIG_TOKEN";
/// Where they find the installed app's id.
pub const ENV_APP_ID: &str = "SLACK_APP_ID";

impl InstalledApp {
    pub fn new(config_token: impl Into<String>, app_id: impl Into<String>) -> Self {
        Self {
            config_token: nonstop_web::Secret::new(config_token.into()),
            app_id: app_id.into(),
        }
    }

    /// From `SLACK_CONFIG_TOKEN` and `SLACK_APP_ID`, when both are set.
    pub fn from_env() -> Option<Self> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        Some(Self::new(var(ENV_CONFIG_TOKEN)?, var(ENV_APP_ID)?))
    }

    /// The installed app's manifest, from `apps.manifest.export` at `api_url`, within 30 s.
    ///
    /// # Errors
    /// What Slack (or the network) said, in words; never the token.
    pub async fn manifest(
        &self,
        api_url: &str,
    ) -> Result<nonstop_model::manifest::Manifest, String> {
        let wait = Duration::from_secs(30);
        let web = nonstop_web::WebClient::new(api_url, Some(self.config_token.clone()), wait)
            .map_err(|e| e.to_string())?;
        let args = serde_json::json!({ "app_id": self.app_id });
        let answer = tokio::time::timeout(wait, web.call("apps.manifest.export", &args))
            .await
            .map_err(|_| format!("apps.manifest.export: no answer within {wait:?}"))?
            .map_err(|e| e.to_string())?;
        serde_json::from_value(answer.get("manifest").cloned().unwrap_or_default())
            .map_err(|e| format!("apps.manifest.export: not a manifest: {e}"))
    }
}

impl DoctorOptions {
    #[must_use]
    pub fn post_to(mut self, channel: impl Into<String>) -> Self {
        self.post_to = Some(channel.into());
        self
    }

    /// Also compare the installed app's settings with what the listeners need.
    #[must_use]
    pub fn installed_app(mut self, app: InstalledApp) -> Self {
        self.installed = Some(app);
        self
    }
}

/// Walks every step for `config`, handing each finding to `report` as soon as it is known
/// (a terminal prints as it goes), and returns them all. All passed (none failed) means the
/// bot can start. [`crate::App::doctor`] also checks the scopes its listeners need.
pub async fn diagnose(
    config: &Config,
    options: &DoctorOptions,
    report: impl FnMut(&Finding),
) -> Vec<Finding> {
    diagnose_with_needs(config, &[], options, report).await
}

/// [`diagnose`], with the scopes a bot's listeners need checked at `auth.test`.
pub async fn diagnose_with_needs(
    config: &Config,
    needs: &[ScopeNeed],
    options: &DoctorOptions,
    mut report: impl FnMut(&Finding),
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut note = |step: Step, verdict: Verdict| {
        let finding = Finding { step, verdict };
        report(&finding);
        findings.push(finding);
    };
    let network = walk_network(config, needs, options, &mut note).await;
    if let Some((step, reason)) = network {
        // Everything after the failed step needs it.
        for later in NETWORK_STEPS.iter().skip_while(|s| **s != step).skip(1) {
            note(*later, Verdict::Skipped(format!("needs {reason}")));
        }
        if options.post_to.is_some() {
            note(Step::TestPost, Verdict::Skipped(format!("needs {reason}")));
        }
    }
    note(Step::Journal, journal(config));
    if config.transport == TransportKind::Http {
        note(Step::RequestUrl, request_url(config).await);
    }
    if config.redis_url.is_some() {
        let checked = config.clone();
        let verdict = tokio::task::spawn_blocking(move || redis(&checked))
            .await
            .unwrap_or_else(|e| fail(format!("the check died: {e}"), "run it again"));
        note(Step::Redis, verdict);
    }
    findings
}

const NETWORK_STEPS: [Step; 8] = [
    Step::Dns,
    Step::Tcp,
    Step::Tls,
    Step::AuthTest,
    Step::SocketUrl,
    Step::Upgrade,
    Step::Hello,
    Step::Ping,
];

/// The network steps in order; the step that failed (and its name, for those skipped after
/// it), or `None` when all passed.
async fn walk_network(
    config: &Config,
    needs: &[ScopeNeed],
    options: &DoctorOptions,
    note: &mut impl FnMut(Step, Verdict),
) -> Option<(Step, &'static str)> {
    // A step's verdict noted; on failure the walk ends there. `quiet` notes nothing when
    // it works (a preparation that belongs to the step after it).
    macro_rules! step {
        ($step:expr, $result:expr) => {
            match $result {
                Ok((verdict, value)) => {
                    note($step, verdict);
                    value
                }
                Err(verdict) => {
                    note($step, verdict);
                    return Some(($step, $step.name()));
                }
            }
        };
        (quiet $step:expr, $result:expr) => {
            match $result {
                Ok(value) => value,
                Err(verdict) => {
                    note($step, verdict);
                    return Some(($step, $step.name()));
                }
            }
        };
    }
    let settings = config.validate().map_err(|e| Verdict::Fail {
        problem: e.to_string(),
        fix: "set the variable it names (tokens come from the app's settings pages)".to_owned(),
    });
    step!(
        Step::Settings,
        settings.map(|()| (Verdict::Pass(describe_settings(config)), ()))
    );
    let (host, port, tls) = step!(quiet Step::Dns, api_endpoint(config));
    let addresses = step!(Step::Dns, resolve(&host, port).await);
    step!(Step::Tcp, connect(&addresses).await);
    step!(Step::Tls, handshake(&host, port, tls).await);
    let web = step!(quiet Step::AuthTest, web_client(config));
    step!(Step::AuthTest, auth_test(config, &web, needs).await);
    if config.transport == TransportKind::Http {
        // Slack comes to the bot: there is no socket to open.
        for step in [Step::SocketUrl, Step::Upgrade, Step::Hello, Step::Ping] {
            note(
                step,
                Verdict::Skipped("the bot receives over HTTP: no socket to open".to_owned()),
            );
        }
    } else {
        let url = step!(Step::SocketUrl, socket_url(config, &web).await);
        let mut socket = step!(Step::Upgrade, upgrade(&url).await);
        step!(Step::Hello, hello(config, &mut socket).await);
        step!(Step::Ping, ping(&mut socket, config.dead_after).await);
        let _ = socket.close(None).await;
    }
    if let Some(channel) = &options.post_to {
        step!(Step::TestPost, test_post(&web, channel).await);
    }
    None
}

type StepResult<T> = Result<(Verdict, T), Verdict>;

fn fail(problem: impl Into<String>, fix: impl Into<String>) -> Verdict {
    Verdict::Fail {
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// The receiver's address is free to listen on; what to give Slack.
async fn request_url(config: &Config) -> Verdict {
    let addr = config.events_addr;
    match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => drop(listener),
        Err(e) => {
            return fail(
                format!("the receiver cannot listen on {addr}: {e}"),
                "pick a free port in NONSTOP_HTTP_LISTEN (or stop what holds it)",
            )
        }
    }
    let root = config
        .public_url
        .clone()
        .unwrap_or_else(|| "https://<this bot's public address>".to_owned());
    let mut said = format!(
        "listens on {addr}; request URL (events, interactivity, commands): {root}{}",
        config.events_path
    );
    if let Some(oauth) = &config.oauth {
        said.push_str(&format!(
            "; installs: {root}{}, redirect URL: {root}{}",
            oauth.install_path, oauth.redirect_path
        ));
    }
    Verdict::Pass(said)
}

fn describe_settings(config: &Config) -> String {
    let transport = match config.transport {
        TransportKind::SocketMode => "Socket Mode (app token and bot token present)",
        TransportKind::Rtm => "RTM (bot token present)",
        TransportKind::Http => "HTTP request URLs (bot token and signing secret present)",
    };
    format!("{transport}, API at {}", config.api_url)
}

/// The API's host, port, and whether it speaks TLS.
fn api_endpoint(config: &Config) -> Result<(String, u16, bool), Verdict> {
    let url = &config.api_url;
    let uri: tokio_tungstenite::tungstenite::http::Uri = url.parse().map_err(|e| {
        fail(
            format!("{url} is not a URL: {e}"),
            "set SLACK_API_URL to https://slack.com/api/ or unset it",
        )
    })?;
    let tls = uri.scheme_str() == Some("https");
    let host = uri
        .host()
        .ok_or_else(|| {
            fail(
                format!("{url} has no host"),
                "set SLACK_API_URL to https://slack.com/api/ or unset it",
            )
        })?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    Ok((host, port, tls))
}

async fn resolve(host: &str, port: u16) -> StepResult<Vec<SocketAddr>> {
    let looked_up = tokio::time::timeout(STEP_TIMEOUT, tokio::net::lookup_host((host, port))).await;
    let addresses: Vec<SocketAddr> = match looked_up {
        Ok(Ok(found)) => found.collect(),
        Ok(Err(e)) => {
            return Err(fail(
                format!("{host} does not resolve: {e}"),
                "check the machine's DNS (resolv.conf, a proxy, a firewall on port 53) and the host in SLACK_API_URL",
            ))
        }
        Err(_) => {
            return Err(fail(
                format!("resolving {host} took over {STEP_TIMEOUT:?}"),
                "check the machine's DNS servers",
            ))
        }
    };
    if addresses.is_empty() {
        return Err(fail(
            format!("{host} has no address"),
            "check the host in SLACK_API_URL",
        ));
    }
    let shown: Vec<String> = addresses.iter().map(|a| a.ip().to_string()).collect();
    Ok((
        Verdict::Pass(format!("{host}: {}", shown.join(", "))),
        addresses,
    ))
}

async fn connect(addresses: &[SocketAddr]) -> StepResult<()> {
    let mut failures = Vec::new();
    for address in addresses {
        let started = Instant::now();
        match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(address)).await {
            Ok(Ok(_)) => {
                let took = started.elapsed();
                return Ok((
                    Verdict::Pass(format!("{address} in {} ms", took.as_millis())),
                    (),
                ));
            }
            Ok(Err(e)) => failures.push(format!("{address}: {e}")),
            Err(_) => failures.push(format!("{address}: no answer within {STEP_TIMEOUT:?}")),
        }
    }
    Err(fail(
        failures.join("; "),
        "a firewall or proxy blocks outgoing connections to the API (Slack needs outgoing TCP 443), or the service is down",
    ))
}

/// A TLS handshake with the API's host, as the bot's sockets and calls make it: an HTTP
/// answer of any kind after it means TLS worked.
async fn handshake(host: &str, port: u16, tls: bool) -> StepResult<()> {
    if !tls {
        return Ok((
            Verdict::Skipped("plain HTTP (allowed to this machine, for the simulator)".to_owned()),
            (),
        ));
    }
    let url = format!("wss://{host}:{port}/");
    match tokio::time::timeout(STEP_TIMEOUT, ws::dial(&url)).await {
        Ok(Ok(_)) => Ok((Verdict::Pass("handshake completed".to_owned()), ())),
        Ok(Err(OpenError::Transient {
            cause: DisconnectCause::ConnectFailed { stage, detail },
            ..
        })) => match stage {
            // TLS done; the plain path is just not a WebSocket.
            ConnectStage::Http | ConnectStage::Handshake => {
                Ok((Verdict::Pass("handshake completed".to_owned()), ()))
            }
            _ => {
                let (what, fix) = tls_failure(&detail);
                Err(fail(
                    format!("TLS with {host} failed: {what} ({detail})"),
                    fix,
                ))
            }
        },
        Ok(Err(other)) => Err(fail(
            format!("TLS with {host} failed: {}", open_error_text(&other)),
            tls_failure("").1,
        )),
        Err(_) => Err(fail(
            format!("TLS with {host} took over {STEP_TIMEOUT:?}"),
            "a proxy or firewall may be holding the connection",
        )),
    }
}

/// What a failed handshake's detail (rustls' words) means, and the fix. nonstop trusts the
/// public CAs built into it (Mozilla's list, webpki-roots), not the system's store: a CA an
/// administrator added to the machine does not help it, which is worth saying.
fn tls_failure(detail: &str) -> (&'static str, &'static str) {
    let lower = detail.to_ascii_lowercase();
    if lower.contains("expired") || lower.contains("notvalidyet") {
        (
            "the server's certificate is expired or not yet valid",
            "check this machine's clock (`date`); if it is right, something between you and Slack presents an old certificate",
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        (
            "the server's certificate is for another name",
            "the API host resolves to a server that is not Slack's: check DNS and any proxy",
        )
    } else if lower.contains("certificate")
        || lower.contains("unknownissuer")
        || lower.contains("cert")
    {
        (
            "the server's certificate is not trusted",
            "nonstop trusts the public CAs built into it (Mozilla's list), not CAs added to this machine: a proxy that intercepts TLS must let the Slack hosts through untouched",
        )
    } else if lower.contains("plain text") || lower.contains("invalidcontenttype") {
        (
            "the server does not speak TLS",
            "the server does not speak TLS: use http:// only for the simulator on this machine",
        )
    } else {
        (
            "the handshake did not complete",
            "check for a proxy or firewall that interferes with TLS to the API host",
        )
    }
}

fn web_client(config: &Config) -> Result<WebClient, Verdict> {
    WebClient::with_options(
        &config.api_url,
        Some(config.bot_token.clone()),
        ClientOptions {
            timeout: STEP_TIMEOUT,
            ..ClientOptions::default()
        },
    )
    .map_err(|e| fail(e.to_string(), "check SLACK_API_URL"))
}

/// A Web API refusal as a verdict: Slack's code and the fix the client knows for it.
fn web_fail(what: &str, error: &WebError) -> Verdict {
    let fix = error
        .code()
        .and_then(nonstop_web::fix_for)
        .unwrap_or(if error.is_transient() || error.rate_limit_wait().is_some() {
            "Slack or the way to it is failing right now: try again; the bot itself retries without limit"
        } else {
            "check the app's configuration in Slack"
        });
    fail(
        format!("{what}: {}", nonstop_web::redact(&error.to_string())),
        fix,
    )
}

/// `auth.test`: who the token is, its scopes, and any scope the listeners need that it lacks
/// (a granular app's token only: a classic bot token on RTM has the umbrella `bot` scope).
async fn auth_test(config: &Config, web: &WebClient, needs: &[ScopeNeed]) -> StepResult<()> {
    match web
        .attempt::<nonstop_model::web::AuthTest>("auth.test", Default::default())
        .await
    {
        Ok(auth) => {
            let granted = web.granted_scopes();
            if let (Some(granted), TransportKind::SocketMode) = (&granted, config.transport) {
                let missing = scopes::missing(needs, granted);
                if !missing.is_empty() {
                    let named: Vec<String> = missing
                        .iter()
                        .map(|m| format!("{} ({})", m.describe(), m.why))
                        .collect();
                    return Err(fail(
                        format!("the bot token lacks scopes its listeners need: {}", named.join("; ")),
                        "add them under OAuth & Permissions → Scopes, reinstall the app to the workspace, and subscribe to the matching events under Event Subscriptions",
                    ));
                }
            }
            let scopes = granted
                .map(|s| s.join(","))
                .unwrap_or_else(|| "not reported".to_owned());
            let seen = format!(
                "team {} ({}), bot user {} ({}), scopes: {scopes}",
                auth.team.as_deref().unwrap_or("?"),
                auth.team_id.as_deref().unwrap_or("?"),
                auth.user.as_deref().unwrap_or("?"),
                auth.user_id.as_deref().unwrap_or("?"),
            );
            Ok((Verdict::Pass(seen), ()))
        }
        Err(e) => Err(web_fail("auth.test failed", &e)),
    }
}

async fn socket_url(config: &Config, web: &WebClient) -> StepResult<String> {
    let (method, url) = match (config.transport, &config.app_token) {
        (TransportKind::Rtm, _) => {
            let method = if config.rtm_start {
                "rtm.start"
            } else {
                "rtm.connect"
            };
            (
                method,
                web.rtm_connect(config.rtm_start).await.map(|a| a.url),
            )
        }
        (_, Some(app_token)) => (
            "apps.connections.open",
            web.apps_connections_open(app_token).await,
        ),
        (_, None) => {
            return Err(fail(
                "Socket Mode needs the app-level token",
                crate::config::APP_TOKEN_HINT,
            ))
        }
    };
    match url {
        Ok(url) => {
            let host = url
                .split("://")
                .nth(1)
                .and_then(|r| r.split(['/', '?']).next());
            let seen = format!("{method} gave a socket URL on {}", host.unwrap_or("?"));
            Ok((Verdict::Pass(seen), url))
        }
        Err(e) => Err(web_fail(&format!("{method} failed"), &e)),
    }
}

async fn upgrade(url: &str) -> StepResult<ws::Ws> {
    let started = Instant::now();
    match tokio::time::timeout(STEP_TIMEOUT, ws::dial(url)).await {
        Ok(Ok(socket)) => Ok((
            Verdict::Pass(format!("upgraded in {} ms", started.elapsed().as_millis())),
            socket,
        )),
        Ok(Err(e)) => Err(fail(
            format!("the WebSocket connection failed: {}", open_error_text(&e)),
            "a proxy or firewall may block WebSockets to Slack's socket hosts (wss-primary.slack.com and others); allow outgoing wss on 443",
        )),
        Err(_) => Err(fail(
            format!("the WebSocket connection took over {STEP_TIMEOUT:?}"),
            "a proxy or firewall may hold WebSocket connections",
        )),
    }
}

fn open_error_text(error: &OpenError) -> String {
    match error {
        OpenError::Transient { cause, .. } => cause.to_string(),
        OpenError::Fatal(e) => e.to_string(),
    }
}

async fn hello(config: &Config, socket: &mut ws::Ws) -> StepResult<()> {
    let started = Instant::now();
    let waited = ws::await_hello(socket, config.hello_timeout, |text| {
        let frame: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match frame.get("type").and_then(Value::as_str) {
            Some("hello") => Ok(Some(())),
            Some("error") => Err(DisconnectCause::Protocol {
                detail: format!("error frame instead of hello: {}", frame["error"]),
            }),
            _ => Ok(None),
        }
    })
    .await;
    match waited {
        Ok(()) => Ok((
            Verdict::Pass(format!("hello after {} ms", started.elapsed().as_millis())),
            (),
        )),
        Err(e) => Err(fail(
            format!("no hello: {}", open_error_text(&e)),
            "Slack accepted the socket but did not greet it: try again; if it persists, check status.slack.com",
        )),
    }
}

/// A WebSocket ping and its pong within `dead_after`, as the bot's liveness check does.
async fn ping(socket: &mut ws::Ws, dead_after: Duration) -> StepResult<()> {
    let started = Instant::now();
    let round_trip = async {
        socket
            .send(Message::Ping(b"doctor".to_vec().into()))
            .await?;
        while let Some(frame) = socket.next().await {
            if let Message::Pong(_) = frame? {
                return Ok(());
            }
        }
        Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed)
    };
    match tokio::time::timeout(dead_after, round_trip).await {
        Ok(Ok(())) => Ok((
            Verdict::Pass(format!("pong after {} ms", started.elapsed().as_millis())),
            (),
        )),
        Ok(Err(e)) => Err(fail(
            format!("the socket failed during the ping: {e}"),
            "something between the bot and Slack cuts WebSockets: check proxies with idle or message filters",
        )),
        Err(_) => Err(fail(
            format!("no pong within dead_after ({dead_after:?})"),
            "the socket is open but nothing comes back (half-open): a proxy or NAT may be dropping it; the bot would find it dead and replace it, again and again",
        )),
    }
}

async fn test_post(web: &WebClient, channel: &str) -> StepResult<()> {
    let args = serde_json::json!({"channel": channel, "text": "nonstop doctor: a test post"});
    let posted: Result<Value, WebError> = web
        .attempt(
            "chat.postMessage",
            args.as_object().cloned().unwrap_or_default(),
        )
        .await;
    match posted {
        Ok(answer) => {
            let ts = answer.get("ts").and_then(Value::as_str).unwrap_or("?");
            Ok((Verdict::Pass(format!("posted to {channel} (ts {ts})")), ()))
        }
        Err(e) => Err(web_fail(
            &format!("chat.postMessage to {channel} failed"),
            &e,
        )),
    }
}

/// The shared journal in Redis: reachable, the password accepted, a primary, and set to keep
/// what it acknowledged (docs/storage.md "What Redis must be configured for").
#[cfg(feature = "redis")]
fn redis(config: &Config) -> Verdict {
    let Some(url) = &config.redis_url else {
        return Verdict::Skipped("no REDIS_URL".to_owned());
    };
    let options = crate::journal::RedisOptions {
        prefix: config.redis_prefix.clone(),
        ..crate::journal::RedisOptions::default()
    }
    .with_ca_file(config.redis_ca.as_deref());
    let options = match options {
        Ok(options) => options,
        Err(e) => return fail(e.to_string(), "point NONSTOP_REDIS_CA at the CA's PEM file"),
    };
    let store = match crate::journal::RedisStore::open_read_only(url.expose(), options) {
        Ok(store) => store,
        Err(e) => {
            return fail(
                e.to_string(),
                "check REDIS_URL's host, port and password, and that this machine may reach it",
            )
        }
    };
    let facts = match store.server_facts() {
        Ok(facts) => facts,
        Err(e) => return fail(e.to_string(), "check that the Redis user may run INFO"),
    };
    let shown = store.url();
    if facts.role != "master" {
        return fail(
            format!("{shown} is a {} (read only)", facts.role),
            "point REDIS_URL at the primary",
        );
    }
    if facts.maxmemory_policy != "noeviction" {
        return fail(
            format!(
                "{shown} evicts keys under memory pressure (maxmemory-policy {})",
                facts.maxmemory_policy
            ),
            "set maxmemory-policy noeviction: an evicted key is a lost event, a forgotten dedup or lost storage",
        );
    }
    if !facts.aof_enabled {
        return fail(
            format!("{shown} has no append-only file: a restart of Redis loses every event it acked since its last snapshot"),
            "set appendonly yes (with appendfsync always, or everysec to risk about a second on a crash of its machine)",
        );
    }
    let fsync = facts.appendfsync.as_deref().unwrap_or("not told");
    if fsync == "no" {
        return fail(
            format!("{shown} leaves its append-only file to the OS (appendfsync no): a crash of its machine loses up to 30 s of acked events"),
            "set appendfsync always (or everysec)",
        );
    }
    let mib = |bytes: u64| bytes as f64 / 1_048_576.0;
    if facts.maxmemory > 0
        && facts.used_memory.saturating_mul(10) >= facts.maxmemory.saturating_mul(9)
    {
        return fail(
            format!(
                "{shown} is {:.0}% full ({:.1} MiB used of its maxmemory {:.1} MiB): at the limit it refuses every write, and the bot stops acking until it has room",
                100.0 * facts.used_memory as f64 / facts.maxmemory as f64,
                mib(facts.used_memory),
                mib(facts.maxmemory)
            ),
            "raise maxmemory: the journal keeps each finished event 25 h for dedup, about 1.4 KB each and 2.3 KB with an answer (docs/storage.md)",
        );
    }
    let memory = if facts.maxmemory > 0 {
        format!(
            "{:.1} MiB used of its maxmemory {:.1} MiB",
            mib(facts.used_memory),
            mib(facts.maxmemory)
        )
    } else {
        format!(
            "{:.1} MiB used, no maxmemory (it grows until its machine runs out)",
            mib(facts.used_memory)
        )
    };
    Verdict::Pass(format!(
        "{shown}: Redis {}, primary, append-only file on (appendfsync {fsync}), noeviction, {memory}",
        facts.version
    ))
}

#[cfg(not(feature = "redis"))]
fn redis(_config: &Config) -> Verdict {
    fail(
        "REDIS_URL is set, but this nonstop was built without Redis support".to_owned(),
        "build with the `redis` feature, or unset REDIS_URL",
    )
}

/// The journal's file: opens as ours, a schema this version reads, private, and room on its
/// disk.
fn journal(config: &Config) -> Verdict {
    if config.redis_url.is_some() {
        return Verdict::Skipped(
            "the journal is in Redis (REDIS_URL): see the redis step".to_owned(),
        );
    }
    let Some(path) = &config.journal_path else {
        return Verdict::Skipped(
            "in memory (NONSTOP_DB=:memory:): nothing survives a restart".to_owned(),
        );
    };
    let shown = path.display();
    let dir = match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => dir.to_path_buf(),
        None => std::path::PathBuf::from("."),
    };
    if !dir.is_dir() {
        return fail(
            format!("the directory of {shown} does not exist"),
            "create it, or set NONSTOP_DB to a path in an existing directory",
        );
    }
    let mut seen = Vec::new();
    if path.exists() {
        if let Err(e) = crate::journal::SqliteStore::open_read_only(path) {
            return fail(
                format!("{shown}: {e}"),
                "see the message: it names what to do",
            );
        }
        seen.push(format!(
            "{shown} opens (schema up to {})",
            crate::journal::sqlite::SCHEMA_VERSION
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            if let Ok(meta) = std::fs::metadata(path) {
                let mode = meta.permissions().mode() & 0o777;
                if mode & 0o077 != 0 {
                    return fail(
                        format!("{shown} has mode {mode:o}: others can read what users said"),
                        format!("chmod 600 {shown}"),
                    );
                }
                seen.push(format!("mode {mode:o}"));
            }
        }
    } else {
        seen.push(format!(
            "{shown} does not exist yet; the bot creates it at start"
        ));
    }
    match free_bytes(&dir) {
        Some(free) if free < MIN_FREE_BYTES => return fail(
            format!("{} MiB free on its disk", free / (1024 * 1024)),
            "free disk space: the journal grows with traffic (see docs/storage.md for retention)",
        ),
        Some(free) => seen.push(format!("{} MiB free", free / (1024 * 1024))),
        None => seen.push("free space not checked on this platform".to_owned()),
    }
    Verdict::Pass(seen.join(", "))
}

#[cfg(unix)]
fn free_bytes(dir: &std::path::Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(not(unix))]
fn free_bytes(_dir: &std::path::Path) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::tls_failure;

    #[test]
    fn handshake_failures_are_told_apart_by_rustls_words() {
        let what = |detail: &str| tls_failure(detail).0;
        assert!(what("invalid peer certificate: UnknownIssuer").contains("not trusted"));
        assert!(what("invalid peer certificate: Expired").contains("expired"));
        assert!(what(
            "certificate expired: verification time 1, but certificate is not valid after 0"
        )
        .contains("expired"));
        assert!(what("invalid peer certificate: NotValidForName").contains("another name"));
        assert!(what("certificate not valid for name \"slack.com\"").contains("another name"));
        assert!(what("received corrupt message of type InvalidContentType")
            .contains("does not speak TLS"));
        assert!(what("connection reset").contains("did not complete"));
    }
}
