//! A Slack simulator for tests, demos and local development.
//!
//! It serves the Web API subset a bot calls (`auth.test`, `apps.connections.open`,
//! `chat.postMessage`), a Socket Mode WebSocket server (hello, envelopes, acks, server pings,
//! redelivery of unacked envelopes with `retry_attempt`/`retry_reason`, distribution across
//! sockets), an event generator, a record of everything the bot posted, and a fault plan
//! driven from Rust ([`Sim::inject`]) or over HTTP (`POST /_sim/fault`).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = nonstop_sim::Sim::start(nonstop_sim::SimConfig::default()).await?;
//! println!("point SLACK_API_URL at {}", sim.api_url());
//! sim.send_message(nonstop_sim::MessageSpec::new("C1", "U1", "ping 1"));
//! # Ok(()) }
//! ```

mod capture;
mod control;
mod fault;
mod reply;
mod rtm;
mod socket;
mod state;
mod web_api;
mod workspace;

pub use capture::{CapturedLog, TempJournal};
pub use fault::{Fault, Target};
pub use state::{unix_ms, AckRecord, ApiCall, PostedMessage, Response, SimStats};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use state::{Shared, SocketCommand};

/// How the simulated workspace behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The app-level token `apps.connections.open` accepts.
    pub app_token: String,
    /// The bot token the other methods accept.
    pub bot_token: String,
    pub team_id: String,
    pub app_id: String,
    pub bot_user_id: String,
    pub bot_id: String,
    /// An envelope not acked within this is sent again (Slack: about 3 s).
    pub redelivery_after: Duration,
    /// Redeliveries before an envelope is given up on (Slack: 3).
    pub max_redeliveries: u32,
    /// How often the server pings each socket.
    pub server_ping_interval: Duration,
    /// Announced in `hello` as `approximate_connection_time`.
    pub approximate_connection_time: Duration,
    /// How long a half-open socket is held before the server lets it go.
    pub half_open_hold: Duration,
    /// Deliver the bot's own posts back to it as message events, as Slack does.
    pub echo_bot_messages: bool,
    /// Deliver every event three times: its envelope, the same envelope again as a retry on
    /// another socket (as after a missed ack, even when it was acked), and the same event in
    /// a second envelope. A bot must handle each event once.
    pub duplicate_delivery: bool,
    /// Channels and users in the workspace, for `conversations.list`, `users.list` and
    /// `conversations.members` (enough for several pages).
    pub channels: usize,
    pub users: usize,
    /// The scopes the bot token has, as Slack names them in its `x-oauth-scopes` header.
    pub scopes: Vec<String>,
    /// Whether `rtm.start` works (older classic apps) or answers `method_deprecated` (apps
    /// created since 2021-11-30, the default).
    pub rtm_start_allowed: bool,
    /// Socket Mode sockets the app may hold live at once (Slack's cap is 10): one more is
    /// sent `hello`, then `disconnect` `too_many_websockets`, and closed.
    pub max_sockets: usize,
    /// `SO_RCVBUF` of the simulator's sockets, when set: small, it makes a socket the server
    /// stops reading ([`Fault::StopReading`]) block the bot's writes after a few KiB, as a
    /// server with small buffers would, instead of after the megabytes loopback allows.
    pub receive_buffer: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            app_token: "xapp-1-A0SIM-0000-simulatedapptoken".to_owned(),
            bot_token: "xoxb-0000-0000-simulatedbottoken".to_owned(),
            team_id: "T0SIM".to_owned(),
            app_id: "A0SIM".to_owned(),
            bot_user_id: "U0BOT".to_owned(),
            bot_id: "B0BOT".to_owned(),
            redelivery_after: Duration::from_secs(3),
            max_redeliveries: 3,
            server_ping_interval: Duration::from_secs(5),
            approximate_connection_time: Duration::from_secs(18060),
            half_open_hold: Duration::from_secs(30),
            echo_bot_messages: true,
            duplicate_delivery: false,
            channels: 450,
            users: 250,
            scopes: [
                "channels:history",
                "groups:history",
                "im:history",
                "mpim:history",
                "chat:write",
                "reactions:write",
                "commands",
                "channels:read",
                "users:read",
            ]
            .map(str::to_owned)
            .to_vec(),
            rtm_start_allowed: false,
            max_sockets: 10,
            receive_buffer: None,
        }
    }
}

/// A message a simulated user sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageSpec {
    pub channel: String,
    pub user: String,
    pub text: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

impl MessageSpec {
    pub fn new(channel: &str, user: &str, text: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
            text: text.to_owned(),
            thread_ts: None,
        }
    }

    #[must_use]
    pub fn in_thread(mut self, thread_ts: &str) -> Self {
        self.thread_ts = Some(thread_ts.to_owned());
        self
    }
}

#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// A running simulator. Dropping it stops the server.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Sim {
    /// Starts a simulator on a free loopback port.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), config).await
    }

    /// Starts a simulator on `addr`.
    pub async fn bind(addr: SocketAddr, config: SimConfig) -> std::io::Result<Self> {
        let listener = match config.receive_buffer {
            None => TcpListener::bind(addr).await?,
            Some(bytes) => {
                // Accepted sockets take the listener's buffer size.
                let socket = if addr.is_ipv4() {
                    tokio::net::TcpSocket::new_v4()?
                } else {
                    tokio::net::TcpSocket::new_v6()?
                };
                socket.set_recv_buffer_size(bytes)?;
                socket.bind(addr)?;
                socket.listen(1024)?
            }
        };
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new(config));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let app = AppState {
            shared: Arc::clone(&shared),
            addr,
            shutdown: shutdown_rx.clone(),
        };
        let router = Router::new()
            .route("/api/{method}", post(web_api::call).get(web_api::call))
            .route("/link", get(web_api::link))
            .route("/link/", get(web_api::link))
            .route("/rtm", get(web_api::rtm))
            .route("/rtm/", get(web_api::rtm))
            .route("/_sim/upload/{file_id}", post(web_api::upload))
            .route("/_sim/respond/{id}", post(web_api::respond))
            .merge(control::routes())
            .with_state(app);
        let redelivery = Arc::clone(&shared);
        let mut redelivery_stop = shutdown_rx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            loop {
                tokio::select! {
                    _ = tick.tick() => redelivery.redeliver_due(),
                    _ = redelivery_stop.changed() => return,
                }
            }
        });
        let mut server_stop = shutdown_rx;
        let server = tokio::spawn(async move {
            let stop = async move {
                let _ = server_stop.changed().await;
            };
            // Slack's edge answers without Nagle delays; so must we, or every small frame can
            // wait 40 ms on the client's delayed ACK.
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            if let Err(error) = axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::error!(%error, "simulator server failed");
            }
        });
        tracing::info!(%addr, "Slack simulator listening");
        Ok(Self {
            shared,
            addr,
            shutdown,
            server: Some(server),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Web API root to give a bot as `SLACK_API_URL`.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/", self.addr)
    }

    pub fn config(&self) -> &SimConfig {
        &self.shared.config
    }

    /// A simulated user posts a message; the bot receives it as an `events_api` envelope.
    /// Returns the event id.
    pub fn send_message(&self, spec: MessageSpec) -> String {
        enqueue_message(&self.shared, &spec, None, None)
    }

    /// Sends any envelope, e.g. `slash_commands` or `interactive`. Returns its envelope id.
    pub fn send_envelope(
        &self,
        kind: &str,
        payload: serde_json::Value,
        accepts_response_payload: bool,
    ) -> String {
        self.shared
            .enqueue_envelope(kind, payload, accepts_response_payload)
    }

    /// Sends any Events API event (the inner `event` object) wrapped in an `event_callback`
    /// envelope as Slack would. Returns the event id.
    pub fn send_event(&self, event: serde_json::Value) -> String {
        enqueue_event(&self.shared, event)
    }

    /// A user runs the slash command `command` with `text`; the envelope accepts a response
    /// payload, and its `response_url` points back at the simulator. Returns the envelope id.
    pub fn send_slash_command(
        &self,
        command: &str,
        text: &str,
        user: &str,
        channel: &str,
    ) -> String {
        let config = &self.shared.config;
        let id = self.shared.next_id();
        let payload = serde_json::json!({
            "token": "deprecated-verification-token",
            "team_id": config.team_id,
            "team_domain": "sim",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": "someone",
            "command": command,
            "text": text,
            "api_app_id": config.app_id,
            "is_enterprise_install": "false",
            "response_url": self.response_url(&format!("cmd{id}")),
            "trigger_id": format!("{id}.trigger.sim"),
        });
        self.shared
            .enqueue_envelope("slash_commands", payload, true)
    }

    /// A `response_url` that records what is POSTed to it under `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/_sim/respond/{id}", self.addr)
    }

    /// Every Web API call to `method` so far, refused ones included.
    pub fn calls(&self, method: &str) -> Vec<ApiCall> {
        let inner = self.shared.lock();
        inner
            .calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }

    /// Waits until a call to `method` matches `check`, and returns it.
    pub async fn wait_for_call(
        &self,
        method: &str,
        timeout: Duration,
        mut check: impl FnMut(&ApiCall) -> bool,
    ) -> Option<ApiCall> {
        let mut found = None;
        state::wait_until(&self.shared, timeout, |shared| {
            found = shared
                .lock()
                .calls
                .iter()
                .find(|c| c.method == method && check(c))
                .cloned();
            found.is_some()
        })
        .await;
        found
    }

    /// Calls that arrived while a `Retry-After` the simulator gave for their method was still
    /// running: a client that obeys Slack keeps this at 0.
    pub fn early_calls(&self) -> u64 {
        self.shared.lock().early_calls
    }

    /// What was POSTed to the simulator's `response_url`s.
    pub fn responses(&self) -> Vec<Response> {
        self.shared.lock().responses.clone()
    }

    /// Waits until a body POSTed to a `response_url` matches `check`, and returns it.
    pub async fn wait_for_response(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&Response) -> bool,
    ) -> Option<Response> {
        let mut found = None;
        state::wait_until(&self.shared, timeout, |shared| {
            found = shared.lock().responses.iter().find(|r| check(r)).cloned();
            found.is_some()
        })
        .await;
        found
    }

    /// Waits for the ack of `envelope_id`, and returns it with its payload.
    pub async fn wait_for_ack(&self, envelope_id: &str, timeout: Duration) -> Option<AckRecord> {
        let mut found = None;
        state::wait_until(&self.shared, timeout, |shared| {
            found = shared
                .lock()
                .acks
                .iter()
                .find(|a| a.envelope_id == envelope_id)
                .cloned();
            found.is_some()
        })
        .await;
        found
    }

    /// The size of the uploaded file `file_id`, once its bytes arrived.
    pub fn uploaded(&self, file_id: &str) -> Option<usize> {
        self.shared.lock().files.get(file_id).copied().flatten()
    }

    pub fn inject(&self, fault: Fault) {
        apply_fault(&self.shared, fault);
    }

    pub fn stats(&self) -> SimStats {
        self.shared.stats()
    }

    pub fn posted(&self) -> Vec<PostedMessage> {
        self.shared.lock().posted.clone()
    }

    pub fn acks(&self) -> Vec<AckRecord> {
        self.shared.lock().acks.clone()
    }

    /// Takes the ack latencies recorded so far: from the moment an envelope went out on a
    /// socket to the moment its ack came back.
    pub fn take_ack_latencies(&self) -> Vec<Duration> {
        std::mem::take(&mut self.shared.lock().ack_latencies)
    }

    /// The latest moment a `Retry-After` header sent by `apps.connections.open` told a client
    /// it could call again; `None` before any 429.
    pub fn retry_after_deadline(&self) -> Option<Instant> {
        self.shared.lock().faults.retry_after_told_until
    }

    /// How many messages the bot posted.
    /// What the bot posted from the `from`th message on (0 is the first): a test that
    /// follows tens of thousands of answers reads each once, not all of them at every look.
    pub fn posted_since(&self, from: usize) -> Vec<PostedMessage> {
        let shared = self.shared.lock();
        shared
            .posted
            .get(from..)
            .map(<[_]>::to_vec)
            .unwrap_or_default()
    }

    pub fn posted_count(&self) -> usize {
        self.shared.lock().posted.len()
    }

    /// Waits until `check` holds for the simulator's stats; true when it did within `timeout`.
    pub async fn wait_for_stats(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&SimStats) -> bool,
    ) -> bool {
        state::wait_until(&self.shared, timeout, |shared| check(&shared.stats())).await
    }

    /// Waits until the bot has posted a message matching `check`, and returns it.
    pub async fn wait_for_post(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&PostedMessage) -> bool,
    ) -> Option<PostedMessage> {
        let mut found = None;
        state::wait_until(&self.shared, timeout, |shared| {
            found = shared.lock().posted.iter().find(|p| check(p)).cloned();
            found.is_some()
        })
        .await;
        found
    }

    /// Stops the server and closes every socket with a close frame.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(server) = self.server.take() {
            let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

/// Builds a `message` event as Slack's Events API would and queues it for delivery.
pub(crate) fn enqueue_message(
    shared: &Shared,
    spec: &MessageSpec,
    bot_id: Option<String>,
    ts: Option<String>,
) -> String {
    let ts = ts.unwrap_or_else(|| shared.next_ts());
    let event_id = format!("Ev{:010}", shared.next_id());
    let config = &shared.config;
    let mut event = serde_json::json!({
        "type": "message",
        "channel": spec.channel,
        "channel_type": "channel",
        "user": spec.user,
        "text": spec.text,
        "ts": ts,
        "event_ts": ts,
        "team": config.team_id,
    });
    if let Some(thread_ts) = &spec.thread_ts {
        event["thread_ts"] = thread_ts.clone().into();
    }
    match bot_id {
        Some(bot_id) => event["bot_id"] = bot_id.into(),
        // The bot's own posts are in the record of posts; a user's message goes into the
        // channel's history here, so that a bot can fetch what it missed.
        None => shared.record_said(state::Said {
            channel: spec.channel.clone(),
            user: spec.user.clone(),
            text: spec.text.clone(),
            ts: ts.clone(),
            thread_ts: spec.thread_ts.clone(),
        }),
    }
    enqueue_event_with_id(shared, event, event_id)
}

/// Wraps `event` in an `event_callback` as Slack's Events API does and queues it.
pub(crate) fn enqueue_event(shared: &Shared, event: serde_json::Value) -> String {
    let event_id = format!("Ev{:010}", shared.next_id());
    enqueue_event_with_id(shared, event, event_id)
}

fn enqueue_event_with_id(shared: &Shared, event: serde_json::Value, event_id: String) -> String {
    // RTM sockets get the bare event, Socket Mode sockets the envelope below.
    rtm::broadcast(shared, &event);
    let config = &shared.config;
    let payload = serde_json::json!({
        "type": "event_callback",
        "token": "deprecated-verification-token",
        "team_id": config.team_id,
        "api_app_id": config.app_id,
        "event": event,
        "event_id": event_id,
        "event_time": 1_700_000_000,
        "event_context": format!("EC{event_id}"),
        "authorizations": [{
            "enterprise_id": null,
            "team_id": config.team_id,
            "user_id": config.bot_user_id,
            "is_bot": true,
            "is_enterprise_install": false,
        }],
        "is_ext_shared_channel": false,
    });
    shared.enqueue_envelope("events_api", payload, false);
    event_id
}

pub(crate) fn apply_fault(shared: &Shared, fault: Fault) {
    tracing::info!(fault = fault.name(), "sim: injecting fault");
    let now = Instant::now();
    let secs = |s: f64| Duration::from_secs_f64(s.clamp(0.0, 86_400.0));
    let mut inner = shared.lock();
    let live = Shared::live_any(&inner);
    let pick = |target: Target| live.get(target.unwrap_or(0)).copied();
    let mut orders: Vec<(u64, SocketCommand)> = Vec::new();
    let disconnect = |reason: &str, close_after: Duration| SocketCommand::Disconnect {
        reason: reason.to_owned(),
        close_after,
    };
    let drop_all = |orders: &mut Vec<(u64, SocketCommand)>| {
        orders.extend(live.iter().map(|id| (*id, SocketCommand::Drop)));
    };
    match fault {
        Fault::Drop { target } => orders.extend(pick(target).map(|id| (id, SocketCommand::Drop))),
        Fault::DropAll => drop_all(&mut orders),
        Fault::HalfOpen { target } => {
            orders.extend(pick(target).map(|id| (id, SocketCommand::HalfOpen)));
        }
        Fault::Outage {
            secs: s,
            drop_all: all,
        } => {
            inner.faults.outage = Some((now, now + secs(s)));
            if all {
                drop_all(&mut orders);
            }
        }
        Fault::DisconnectWarning {
            target,
            close_after_secs,
        } => orders
            .extend(pick(target).map(|id| (id, disconnect("warning", secs(close_after_secs))))),
        Fault::Refresh {
            target,
            close_after_secs,
        } => orders.extend(
            pick(target).map(|id| (id, disconnect("refresh_requested", secs(close_after_secs)))),
        ),
        Fault::RateLimit {
            secs: s,
            drop_all: all,
        } => {
            inner.faults.rate_limited_until = Some(now + Duration::from_secs(s.min(86_400)));
            if all {
                drop_all(&mut orders);
            }
        }
        Fault::Goodbye {
            target,
            close_after_secs,
        } => orders.extend(pick(target).map(|id| {
            (
                id,
                SocketCommand::Goodbye {
                    close_after: secs(close_after_secs),
                },
            )
        })),
        Fault::ReorderReplies => inner.faults.reorder_rtm_replies = true,
        Fault::RefuseMessages { count } => inner.faults.refuse_rtm_messages = count,
        Fault::DropBeforeReply { posted, late_reply } => {
            inner.faults.drop_before_reply = Some((posted, late_reply));
        }
        Fault::ErrorFrame { target } => orders.extend(pick(target).map(|id| {
            let frame = r#"{"type":"error","error":{"code":2,"msg":"simulated server error"}}"#;
            (id, SocketCommand::Text(frame.to_owned()))
        })),
        Fault::TooManyWebsockets { target } => orders.extend(pick(target).map(|id| {
            (
                id,
                disconnect("too_many_websockets", Duration::from_millis(200)),
            )
        })),
        Fault::LinkDisabled => orders.extend(
            live.iter()
                .map(|id| (*id, disconnect("link_disabled", Duration::from_millis(200)))),
        ),
        Fault::RevokeToken { code } => {
            inner.faults.revoked = Some(code);
            orders.extend(live.iter().map(|id| {
                (
                    *id,
                    SocketCommand::Close {
                        code: 1000,
                        reason: String::new(),
                    },
                )
            }));
        }
        Fault::Malformed { target } => orders.extend(pick(target).map(|id| {
            (
                id,
                SocketCommand::Text(r#"{"type":"events_api","envelope_id":"#.to_owned()),
            )
        })),
        Fault::Binary { target } => orders.extend(
            pick(target).map(|id| (id, SocketCommand::Binary(vec![0xde, 0xad, 0xbe, 0xef]))),
        ),
        Fault::Oversized { target, bytes } => orders.extend(pick(target).map(|id| {
            let padding = "x".repeat(bytes.min(64 * 1024 * 1024));
            let text = format!(r#"{{"type":"sim_padding","padding":"{padding}"}}"#);
            (id, SocketCommand::Text(text))
        })),
        Fault::UnknownEnvelope { target: _ } => {
            drop(inner);
            shared.enqueue_envelope("sim_future_envelope", serde_json::json!({"x": 1}), false);
            return;
        }
        Fault::CloseFrame {
            target,
            code,
            reason,
        } => orders.extend(pick(target).map(|id| (id, SocketCommand::Close { code, reason }))),
        Fault::WithholdHello { count } => inner.faults.withhold_hello = count,
        Fault::OddHello { count, value } => inner.faults.odd_hello = (count, value),
        Fault::RefreshAfterHello => inner.faults.refresh_after_hello = true,
        Fault::HalfOpenAfterHello { count } => inner.faults.half_open_after_hello = count,
        Fault::StopReading { target } => {
            orders.extend(pick(target).map(|id| (id, SocketCommand::StopReading)));
        }
        Fault::RateLimitMethod { method, secs: s } => {
            inner
                .faults
                .method_limits
                .insert(method, now + Duration::from_secs(s.min(86_400)));
        }
        Fault::FailMethod {
            method,
            count,
            status,
            code,
        } => {
            let queue = inner.faults.method_failures.entry(method).or_default();
            let failure = (status, code.unwrap_or_else(|| "internal_error".to_owned()));
            queue.extend(std::iter::repeat_n(failure, count.min(10_000) as usize));
        }
        Fault::WarnMethod { method, warning } => {
            inner.faults.method_warnings.insert(method, warning);
        }
        Fault::LoseReply { method, count } => {
            inner.faults.lost_replies.insert(method, count);
        }
        Fault::SlowWebApi { millis } => {
            inner.faults.slow_web_api = Some(Duration::from_millis(millis));
        }
        Fault::ChannelLimit { burst, per_sec } => {
            inner.faults.channel_limit = Some(state::ChannelLimit::new(burst, per_sec));
        }
        Fault::Heal => inner.faults = state::Faults::default(),
    }
    for (id, order) in orders {
        if let Some(socket) = inner.sockets.get(&id) {
            let _ = socket.commands.try_send(order);
        }
    }
    drop(inner);
    shared.notify();
}

/// Serves `sim` until `until` resolves, sending `ping N` messages into channel C0DEMO at
/// `rate` per second meanwhile if given; then shuts it down. What `nonstop sim` does.
pub async fn serve_until(
    sim: Sim,
    rate: Option<f64>,
    until: impl std::future::Future<Output = ()>,
) {
    let generator = rate.map(|r| spawn_generator(&sim, "C0DEMO", r, None));
    until.await;
    if let Some(generator) = generator {
        generator.abort();
    }
    sim.shutdown().await;
}

/// Sends `ping N` messages at `per_second` into `channel` until the returned handle is
/// aborted or `count` messages went out. Returns the texts sent through `sent`.
pub fn spawn_generator(
    sim: &Sim,
    channel: &str,
    per_second: f64,
    count: Option<u64>,
) -> JoinHandle<u64> {
    spawn_generator_across(sim, &[channel], per_second, count)
}

/// [`spawn_generator`] over several channels in turn: `ping N` goes to channel `N mod len`.
pub fn spawn_generator_across(
    sim: &Sim,
    channels: &[&str],
    per_second: f64,
    count: Option<u64>,
) -> JoinHandle<u64> {
    let shared = Arc::clone(&sim.shared);
    let channels: Vec<String> = if channels.is_empty() {
        vec!["C1".to_owned()]
    } else {
        channels.iter().map(|c| (*c).to_owned()).collect()
    };
    let period = Duration::from_secs_f64(1.0 / per_second.clamp(0.01, 1_000_000.0));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        let mut sent = 0u64;
        while count.is_none_or(|c| sent < c) {
            tick.tick().await;
            sent += 1;
            let channel = &channels[(sent % channels.len() as u64) as usize];
            let spec = MessageSpec::new(channel, "U0HUMAN", &format!("ping {sent}"));
            enqueue_message(&shared, &spec, None, None);
        }
        sent
    })
}
