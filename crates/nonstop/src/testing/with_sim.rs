//! [`TestBot`]: the whole app against the simulator, in the test's process, over loopback.

use std::sync::Arc;
use std::time::Duration;

use nonstop_model::inbound::Inbound;
use nonstop_sim::{ApiCall, Sent, Sim, SimConfig};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::Call;
use crate::app::App;
use crate::config::Config;
use crate::error::Error;
use crate::status::Status;

/// How long an expectation waits before it fails the test: long enough for a busy 2-core
/// machine, and only ever spent when the bot is wrong.
const WAIT: Duration = Duration::from_secs(20);

/// A bot under test: the simulator and the app running against it as it would against
/// Slack (Socket Mode, journal, acks, dispatch, outbox, Web API), in the test's process.
///
/// ```no_run
/// use nonstop::testing::{inbound, TestBot};
/// use nonstop::{App, Context, HandlerResult, SlashCommand};
///
/// async fn todo(ctx: Context, command: SlashCommand) -> HandlerResult {
///     ctx.say(format!("added: {}", command.text)).await?;
///     Ok(())
/// }
///
/// # async fn test() {
/// let bot = TestBot::start(|config| App::new(config).command("/todo", todo)).await;
/// let sent = bot.send(inbound::slash_command("/todo").text("buy milk").channel("C1"));
/// assert_eq!(bot.ack(&sent).await, None); // a plain ack
/// bot.expect_text("added: buy milk").await;
/// bot.stop().await.unwrap();
/// # }
/// ```
#[derive(Debug)]
pub struct TestBot {
    /// Always `Some` but while [`TestBot::stop_keeping_sim`] hands it back.
    sim: Option<Sim>,
    status: Arc<Status>,
    stop: Option<oneshot::Sender<()>>,
    run: Option<JoinHandle<Result<(), Error>>>,
}

impl Drop for TestBot {
    fn drop(&mut self) {
        if let Some(run) = &self.run {
            run.abort();
        }
    }
}

impl TestBot {
    /// Starts a simulator with its default settings and the app `build` makes from settings
    /// pointed at it ([`Config::for_simulator`]: journal in memory), and waits until the bot
    /// is live.
    ///
    /// # Panics
    /// When the simulator cannot listen on loopback, or the bot is not live within 20 s (its
    /// error, if it stopped, is in the message).
    pub async fn start(build: impl FnOnce(Config) -> App) -> Self {
        Self::start_with(SimConfig::default(), build).await
    }

    /// [`TestBot::start`] with a simulator of other settings.
    ///
    /// # Panics
    /// As [`TestBot::start`].
    pub async fn start_with(sim_config: SimConfig, build: impl FnOnce(Config) -> App) -> Self {
        let sim = match Sim::start(sim_config).await {
            Ok(sim) => sim,
            Err(e) => panic!("the simulator could not listen on loopback: {e}"),
        };
        let app = build(Self::config_for(&sim));
        let mut bot = Self::launch(sim, app);
        bot.live().await;
        bot
    }

    /// [`TestBot::start`] for a bot Slack reaches over HTTP: the app receives on a loopback
    /// port of its own, and the simulator posts every envelope there, signed, as Slack's
    /// Events API does (the answer is the ack; late or failed answers are sent again with
    /// `X-Slack-Retry-Num`). Everything else reads the same as over Socket Mode.
    ///
    /// # Panics
    /// As [`TestBot::start`].
    pub async fn start_over_http(build: impl FnOnce(Config) -> App) -> Self {
        Self::start_over_http_with(SimConfig::default(), build).await
    }

    /// [`TestBot::start_over_http`] with a simulator of other settings.
    ///
    /// # Panics
    /// As [`TestBot::start`].
    pub async fn start_over_http_with(
        sim_config: SimConfig,
        build: impl FnOnce(Config) -> App,
    ) -> Self {
        let sim = match Sim::start(sim_config).await {
            Ok(sim) => sim,
            Err(e) => panic!("the simulator could not listen on loopback: {e}"),
        };
        let listener = match std::net::TcpListener::bind("127.0.0.1:0") {
            Ok(listener) => listener,
            Err(e) => panic!("no loopback port for the bot's receiver: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(e) => panic!("the receiver's port has no address: {e}"),
        };
        let config = Self::http_config_for(&sim);
        let path = config.events_path.clone();
        let app = build(config).with_events_listener(listener);
        sim.set_request_url(Some(&format!("http://{addr}{path}")));
        let mut bot = Self::launch(sim, app);
        bot.live().await;
        bot
    }

    /// Settings for a bot `sim` posts to over HTTP ([`Config::for_simulator_over_http`]).
    ///
    /// # Panics
    /// Never for a simulator's own tokens and URL.
    pub fn http_config_for(sim: &Sim) -> Config {
        let settings = sim.config();
        match Config::for_simulator_over_http(
            &sim.api_url(),
            &settings.bot_token,
            &settings.signing_secret,
        ) {
            Ok(config) => config,
            Err(e) => panic!("the simulator's settings do not validate: {e}"),
        }
    }

    /// Settings for a bot against `sim` ([`Config::for_simulator`]).
    ///
    /// # Panics
    /// Never for a simulator's own tokens and URL.
    pub fn config_for(sim: &Sim) -> Config {
        let tokens = sim.config();
        match Config::for_simulator(&sim.api_url(), &tokens.app_token, &tokens.bot_token) {
            Ok(config) => config,
            Err(e) => panic!("the simulator's settings do not validate: {e}"),
        }
    }

    /// Runs `app` against `sim` (one the test started, or kept from an earlier life of the
    /// bot) without waiting for it to be live.
    pub fn launch(sim: Sim, app: App) -> Self {
        let status = app.status();
        let (stop, stopped) = oneshot::channel::<()>();
        let run = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Self {
            sim: Some(sim),
            status,
            stop: Some(stop),
            run: Some(run),
        }
    }

    /// Waits until the bot holds a live socket.
    ///
    /// # Panics
    /// When it does not within 20 s; if the bot stopped, with its error.
    pub async fn live(&mut self) {
        if self.status.wait_for(WAIT, |s| s.live_connections > 0).await {
            return;
        }
        if self.run.as_ref().is_some_and(JoinHandle::is_finished) {
            let ended = self.ended().await;
            panic!("the bot stopped before it was live: {ended:?}");
        }
        panic!(
            "the bot was not live within {WAIT:?}: {:?}",
            self.status.snapshot()
        );
    }

    /// The simulator: faults, and everything it recorded.
    pub fn sim(&self) -> &Sim {
        match &self.sim {
            Some(sim) => sim,
            None => unreachable!(
                "the simulator is handed back only by stop_keeping_sim, which consumes the TestBot"
            ),
        }
    }

    /// The bot's live counters.
    pub fn status(&self) -> &Arc<Status> {
        &self.status
    }

    /// Sends `inbound` as Slack would (see [`super::inbound`]).
    pub fn send(&self, inbound: impl Into<Inbound>) -> Sent {
        self.sim().send(inbound)
    }

    /// Sends `inbound` from workspace `team`, one the app was installed in.
    pub fn send_in(&self, team: &str, inbound: impl Into<Inbound>) -> Sent {
        self.sim().send_in(team, inbound)
    }

    /// Waits for the ack of `sent` and returns its payload: `None` for a plain ack.
    ///
    /// # Panics
    /// When no ack comes within 20 s.
    pub async fn ack(&self, sent: &Sent) -> Option<Value> {
        match self.sim().wait_for_ack(&sent.envelope_id, WAIT).await {
            Some(ack) => ack.payload,
            None => panic!(
                "no ack of {} within {WAIT:?}; bot: {:?}",
                sent.envelope_id,
                self.status.snapshot()
            ),
        }
    }

    /// Waits until everything sent so far was acked and handled and every answer delivered:
    /// after this, what the bot did is all in the record (a doubled answer would be there).
    ///
    /// # Panics
    /// When that does not happen within 20 s.
    pub async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let sim = self.sim().stats();
            let bot = self.status.snapshot();
            let outcomes = bot.handled + bot.failed + bot.panicked + bot.timed_out;
            // An RTM bot acks nothing: its envelopes stay pending in the Socket Mode record.
            let rtm_only = sim.sockets_opened > 0 && sim.sockets_opened == sim.rtm_sockets_opened;
            let acked = sim.pending == 0 || rtm_only;
            if acked && outcomes >= bot.envelopes && bot.answers_waiting == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "not settled within {WAIT:?}: sim {sim:?}, bot {bot:?}"
            );
            // Two records (the simulator's and the bot's), polled together.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every call to `method` that Slack took (refused ones, e.g. rate limited, left out).
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.sim()
            .calls(method)
            .into_iter()
            .filter(|call| call.status == 200)
            .map(|call| self.to_call(call))
            .collect()
    }

    /// Messages posted (`chat.postMessage`).
    pub fn posts(&self) -> Vec<Call> {
        self.calls("chat.postMessage")
    }

    /// Ephemeral messages (`chat.postEphemeral`).
    pub fn ephemerals(&self) -> Vec<Call> {
        self.calls("chat.postEphemeral")
    }

    /// Messages replaced (`chat.update`).
    pub fn updates(&self) -> Vec<Call> {
        self.calls("chat.update")
    }

    /// Reactions added, by name.
    pub fn reactions(&self) -> Vec<String> {
        self.calls("reactions.add")
            .iter()
            .filter_map(|call| call.reaction().map(str::to_owned))
            .collect()
    }

    /// Views opened, pushed, updated or published, in the order the calls came.
    pub fn views(&self) -> Vec<Call> {
        let mut views: Vec<ApiCall> = ["views.open", "views.push", "views.update", "views.publish"]
            .into_iter()
            .flat_map(|method| self.sim().calls(method))
            .filter(|call| call.status == 200)
            .collect();
        views.sort_by_key(|call| call.at);
        views.into_iter().map(|call| self.to_call(call)).collect()
    }

    /// What the bot posted to the `response_url` of `sent`.
    pub fn responses(&self, sent: &Sent) -> Vec<Value> {
        self.sim()
            .responses()
            .into_iter()
            .filter(|response| response.is_for(sent))
            .map(|response| response.body)
            .collect()
    }

    /// Waits for a call to `method` that `check` accepts. (`check` sees the call's method
    /// and arguments; `posted_ts` is filled in on the call returned.)
    ///
    /// # Panics
    /// When none comes within 20 s; the message lists the calls to `method` there were.
    pub async fn expect_call(&self, method: &str, mut check: impl FnMut(&Call) -> bool) -> Call {
        let found = self
            .sim()
            // The check runs under the simulator's lock: no look at its posts (no `to_call`).
            .wait_for_call(method, WAIT, |call| {
                call.status == 200 && check(&Call::new(call.method.clone(), call.args.clone()))
            })
            .await;
        match found {
            Some(call) => self.to_call(call),
            None => panic!(
                "no {method} as expected within {WAIT:?}; the {method} calls: {:?}",
                self.calls(method)
            ),
        }
    }

    /// Waits for a posted message that `check` accepts.
    ///
    /// # Panics
    /// As [`TestBot::expect_call`].
    pub async fn expect_post(&self, check: impl FnMut(&Call) -> bool) -> Call {
        self.expect_call("chat.postMessage", check).await
    }

    /// Waits for a posted message whose text is `text`.
    ///
    /// # Panics
    /// As [`TestBot::expect_call`].
    pub async fn expect_text(&self, text: &str) -> Call {
        self.expect_post(|call| call.text() == Some(text)).await
    }

    /// Waits for a streamed answer ([`crate::Context::stream`]) that is stopped and whose text
    /// is `text`, and returns it.
    ///
    /// # Panics
    /// When none comes within 20 s, with the streams as they stand.
    pub async fn expect_streamed(&self, text: &str) -> nonstop_sim::StreamedMessage {
        let found = self
            .sim()
            .wait_for_stream(WAIT, |s| !s.open && s.text == text)
            .await;
        match found {
            Some(stream) => stream,
            None => panic!(
                "no stopped stream of {text:?} within {WAIT:?}; the streams: {:?}",
                self.sim().streams()
            ),
        }
    }

    /// Waits for the first body posted to the `response_url` of `sent`.
    ///
    /// # Panics
    /// When none comes within 20 s.
    pub async fn expect_response(&self, sent: &Sent) -> Value {
        match self.sim().wait_for_response(WAIT, |r| r.is_for(sent)).await {
            Some(response) => response.body,
            None => panic!(
                "nothing posted to the response_url of {} within {WAIT:?}",
                sent.envelope_id
            ),
        }
    }

    /// What Slack would refuse in `manifest` (e.g. [`App::manifest`]), as the simulator's
    /// `apps.manifest.validate` says over HTTP, with its configuration token: each as
    /// `pointer: message`; empty when Slack would take it.
    ///
    /// # Panics
    /// When the simulator does not answer as Slack does.
    pub async fn manifest_problems(
        &self,
        manifest: &nonstop_model::manifest::Manifest,
    ) -> Vec<String> {
        let sim = self.sim();
        let answer: Value = match reqwest::Client::new()
            .post(format!("{}apps.manifest.validate", sim.api_url()))
            .bearer_auth(&sim.config().config_token)
            .json(&serde_json::json!({ "manifest": manifest }))
            .send()
            .await
        {
            Ok(response) => match response.json().await {
                Ok(answer) => answer,
                Err(e) => panic!("apps.manifest.validate answered no JSON: {e}"),
            },
            Err(e) => panic!("apps.manifest.validate: no answer from the simulator: {e}"),
        };
        if answer["ok"] == true {
            return Vec::new();
        }
        let Some(errors) = answer["errors"].as_array() else {
            panic!("apps.manifest.validate refused the call: {answer}");
        };
        errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["pointer"].as_str().unwrap_or("?"),
                    e["message"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Stops the bot as a shutdown signal would, and returns what `run` returned.
    ///
    /// # Panics
    /// When it does not stop within 20 s.
    pub async fn stop(mut self) -> Result<(), Error> {
        self.stop_running().await
    }

    /// Stops the bot and hands back the simulator, for another life of a bot against it.
    ///
    /// # Panics
    /// As [`TestBot::stop`].
    pub async fn stop_keeping_sim(mut self) -> (Result<(), Error>, Sim) {
        let result = self.stop_running().await;
        match self.sim.take() {
            Some(sim) => (result, sim),
            None => unreachable!("the simulator is handed back once"),
        }
    }

    /// Ends the bot the way a crash does (its tasks dropped mid-flight, nothing drained, no
    /// goodbye) and hands back the simulator, for the next life of the bot against it.
    pub async fn crash(mut self) -> Sim {
        if let Some(run) = self.run.take() {
            run.abort();
            let _ = run.await;
        }
        match self.sim.take() {
            Some(sim) => sim,
            None => unreachable!("the simulator is handed back once"),
        }
    }

    /// The call as a test reads it; a message post with the `ts` the simulator gave it (the
    /// post recorded for the same request: same channel, text and arrival).
    fn to_call(&self, call: ApiCall) -> Call {
        let mut read = Call::new(call.method, call.args);
        if read.is_post() {
            let channel = read.channel().unwrap_or_default().to_owned();
            let text = read.text().unwrap_or_default().to_owned();
            read.posted_ts = self
                .sim()
                .posted()
                .into_iter()
                .find(|p| p.requested_at_ms == call.at_ms && p.channel == channel && p.text == text)
                .map(|p| p.ts);
        }
        read
    }

    async fn stop_running(&mut self) -> Result<(), Error> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.ended().await
    }

    /// Waits for the bot's run to end by itself (a fatal error, or a bad setting at start)
    /// and returns what it returned.
    ///
    /// # Panics
    /// When it has not ended within 20 s, or was already waited for.
    pub async fn ended(&mut self) -> Result<(), Error> {
        let Some(run) = self.run.take() else {
            panic!("the bot's run was already waited for");
        };
        match tokio::time::timeout(WAIT, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => panic!("the bot's run panicked: {e}"),
            Err(_) => panic!("the bot kept running for {WAIT:?}"),
        }
    }
}
