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

mod args;
mod capture;
mod control;
mod fault;
mod http_request;
mod inject;
mod manifest;
mod oauth;
mod poster;
mod reply;
mod rtm;
mod settings;
mod socket;
mod state;
mod stream;
mod streamed;
mod web_api;
mod workspace;

pub use capture::{CapturedLog, TempJournal};
pub use fault::{Fault, Target};
pub(crate) use inject::{
    apply_fault, enqueue_event, enqueue_inbound, enqueue_inbound_in, enqueue_message,
};
pub use nonstop_model::inbound::{self, Inbound};
pub use settings::{MessageSpec, SimConfig};
pub(crate) use state::AppState;
pub use state::{unix_ms, AckRecord, ApiCall, PostedMessage, Response, Sent, SimStats};
pub use streamed::{AgentThread, StreamedMessage};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use state::Shared;

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
            .route("/oauth/v2/authorize", get(oauth::authorize))
            .route("/link", get(web_api::link))
            .route("/link/", get(web_api::link))
            .route("/rtm", get(web_api::rtm))
            .route("/rtm/", get(web_api::rtm))
            .route("/_sim/upload/{file_id}", post(web_api::upload))
            .route("/_sim/respond/{id}", post(web_api::respond))
            .merge(control::routes())
            .with_state(app);
        let posts = shared
            .posts_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(posts) = posts {
            tokio::spawn(poster::run(Arc::clone(&shared), posts, shutdown_rx.clone()));
        }
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

    /// From now on, every envelope is POSTed to `url` (the bot's request URL), signed with
    /// [`SimConfig::signing_secret`], as Slack's Events API does: an event as JSON, a
    /// command as a form, an interaction as a form's `payload=`; retried on Slack's schedule
    /// when the answer is not 2xx within 3 s. A 2xx answer is the ack ([`Sim::acks`], its
    /// JSON body the payload). `None` returns to Socket Mode.
    pub fn set_request_url(&self, url: Option<&str>) {
        self.shared
            .lock()
            .request_url
            .set(url.into_iter().map(str::to_owned).collect());
    }

    /// [`Sim::set_request_url`] for replicas behind a load balancer: each request (a retry
    /// too) goes to the next of `urls` in turn, as a round-robin balancer sends it. Empty
    /// returns to Socket Mode.
    pub fn set_request_urls(&self, urls: &[String]) {
        self.shared.lock().request_url.set(urls.to_vec());
    }

    /// An install approved in workspace `team` as on Slack's authorize page: the `code` its
    /// redirect would bring back, for `oauth.v2.access` (asking for the simulated app's
    /// scopes).
    pub fn approve_install(&self, team: &str) -> String {
        let code = format!("{:08x}.sim-code", self.shared.next_id());
        let grant = state::Grant {
            team_id: Some(team.to_owned()),
            team_name: "Simulated Workspace".to_owned(),
            enterprise_id: None,
            scopes: String::new(),
        };
        self.shared.lock().oauth_codes.insert(code.clone(), grant);
        code
    }

    /// Every streamed message (`chat.startStream`), as it stands, in the order they started.
    pub fn streams(&self) -> Vec<StreamedMessage> {
        self.shared.lock().streams.clone()
    }

    /// The streamed message `ts`, as it stands.
    pub fn stream(&self, ts: &str) -> Option<StreamedMessage> {
        let inner = self.shared.lock();
        inner.streams.iter().rev().find(|s| s.ts == ts).cloned()
    }

    /// The agent thread `thread_ts` in `channel`, as the bot's `assistant.threads.*` calls
    /// left it.
    pub fn agent_thread(&self, channel: &str, thread_ts: &str) -> Option<AgentThread> {
        let inner = self.shared.lock();
        inner
            .agent_threads
            .iter()
            .find(|t| t.channel == channel && t.thread_ts == thread_ts)
            .cloned()
    }

    /// Where envelopes are POSTed, when set ([`Sim::set_request_url`]; the first of
    /// [`Sim::set_request_urls`]).
    pub fn request_url(&self) -> Option<String> {
        self.shared.lock().request_url.first()
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

    /// Sends one inbound item as Slack would in this workspace: a message, a mention, a
    /// reaction, any event, a slash command, a block action, a view submitted or closed, a
    /// shortcut, an options load, or a raw envelope (see [`inbound`]). A command's or an
    /// interaction's `response_url` points back at the simulator, which records what is
    /// POSTed there ([`Sim::responses`]).
    ///
    /// ```no_run
    /// # async fn run(sim: nonstop_sim::Sim) {
    /// use nonstop_sim::inbound;
    /// let sent = sim.send(inbound::slash_command("/todo").text("buy milk").user("U1"));
    /// let ack = sim.wait_for_ack(&sent.envelope_id, std::time::Duration::from_secs(5)).await;
    /// # }
    /// ```
    pub fn send(&self, inbound: impl Into<Inbound>) -> Sent {
        let response_url = self.response_url("in");
        enqueue_inbound(&self.shared, &inbound.into(), &response_url)
    }

    /// [`Sim::send`] from workspace `team` (one the app was installed in through OAuth): the
    /// item carries that team, as Slack's would.
    pub fn send_in(&self, team: &str, inbound: impl Into<Inbound>) -> Sent {
        let response_url = self.response_url("in");
        enqueue_inbound_in(&self.shared, team, &inbound.into(), &response_url)
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

    /// Waits until a streamed message matches `check`, and returns it as it stands then.
    /// `check` runs under the simulator's lock: it must not call the simulator (use
    /// [`Sim::wait_for_stats`] to wait on what such calls read).
    pub async fn wait_for_stream(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&StreamedMessage) -> bool,
    ) -> Option<StreamedMessage> {
        self.wait_for_first(timeout, |inner| {
            inner.streams.iter().find(|s| check(s)).cloned()
        })
        .await
    }

    /// Waits until a call to `method` matches `check`, and returns it.
    pub async fn wait_for_call(
        &self,
        method: &str,
        timeout: Duration,
        mut check: impl FnMut(&ApiCall) -> bool,
    ) -> Option<ApiCall> {
        self.wait_for_first(timeout, |inner| {
            let mut calls = inner.calls.iter();
            calls.find(|c| c.method == method && check(c)).cloned()
        })
        .await
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
        self.wait_for_first(timeout, |inner| {
            inner.responses.iter().find(|r| check(r)).cloned()
        })
        .await
    }

    /// Waits for the ack of `envelope_id`, and returns it with its payload.
    pub async fn wait_for_ack(&self, envelope_id: &str, timeout: Duration) -> Option<AckRecord> {
        self.wait_for_first(timeout, |inner| {
            let mut acks = inner.acks.iter();
            acks.find(|a| a.envelope_id == envelope_id).cloned()
        })
        .await
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
        self.wait_for_first(timeout, |inner| {
            inner.posted.iter().find(|p| check(p)).cloned()
        })
        .await
    }

    /// Waits until `find` finds something in the simulator's state, and returns it. `find`
    /// runs under the simulator's lock: it must not call the simulator.
    async fn wait_for_first<T>(
        &self,
        timeout: Duration,
        mut find: impl FnMut(&state::Inner) -> Option<T>,
    ) -> Option<T> {
        let mut found = None;
        state::wait_until(&self.shared, timeout, |shared| {
            found = find(&shared.lock());
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
