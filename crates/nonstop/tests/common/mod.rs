//! Test harness: `nonstop::testing::TestBot` (the simulator and a bot wired to it over
//! loopback, what users get) with the short intervals and helpers these tests share.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nonstop::testing::TestBot;
use nonstop::{App, Config, Error, Handler, LifecycleChange};
use nonstop_sim::{Fault, MessageSpec, PostedMessage, Sim, SimConfig};

#[allow(unused_imports)] // not every test file uses each
pub use nonstop_test_support::{redis_tls_fixtures, redis_url, OwnRedis, RedisPrefix};

pub const WAIT: Duration = Duration::from_secs(20);

/// A [`TestBot`] with these tests' settings; derefs to it (`sim()`, `status()`, `send`, …).
#[derive(Debug)]
pub struct Harness {
    bot: TestBot,
}

impl std::ops::Deref for Harness {
    type Target = TestBot;
    fn deref(&self) -> &TestBot {
        &self.bot
    }
}

/// Simulator settings scaled down for tests: redelivery after 1 s, server pings every 300 ms.
pub fn sim_config() -> SimConfig {
    SimConfig {
        redelivery_after: Duration::from_secs(1),
        server_ping_interval: Duration::from_millis(300),
        half_open_hold: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

/// Bot settings scaled down for tests: dead after 1 s of silence, backoff capped at 500 ms.
pub fn bot_config(sim: &Sim) -> Config {
    let mut config = Config::new(&sim.config().app_token, &sim.config().bot_token).unwrap();
    config.api_url = sim.api_url();
    config.ping_interval = Duration::from_millis(250);
    config.dead_after = Duration::from_secs(1);
    config.backoff_base = Duration::from_millis(50);
    config.backoff_cap = Duration::from_millis(500);
    config.drain_timeout = Duration::from_millis(500);
    config.connect_timeout = Duration::from_secs(3);
    config.hello_timeout = Duration::from_secs(3);
    config.handler_timeout = Duration::from_secs(2);
    // In memory unless a test wants the file: tests run in parallel and leave nothing behind.
    config.journal_path = None;
    config
}

/// The test settings for a bot on RTM: only the bot token.
pub fn rtm_bot_config(sim: &Sim) -> Config {
    let mut config = bot_config(sim);
    config.transport = nonstop::TransportKind::Rtm;
    config.app_token = None;
    config
}

impl Harness {
    pub async fn start() -> Self {
        Self::start_with(sim_config(), |_| {}).await
    }

    pub async fn start_with(sim_config: SimConfig, tweak: impl FnOnce(&mut Config)) -> Self {
        let sim = Sim::start(sim_config).await.unwrap();
        let mut config = bot_config(&sim);
        tweak(&mut config);
        Self::launch(sim, App::new(config).with_builtin_commands())
    }

    pub async fn start_with_handler(handler: impl Handler) -> Self {
        let sim = Sim::start(sim_config()).await.unwrap();
        let config = bot_config(&sim);
        Self::launch(sim, App::with_handler(config, handler))
    }

    /// A bot built by `build` from the test settings, with the test simulator.
    pub async fn start_app(build: impl FnOnce(Config) -> App) -> Self {
        let sim = Sim::start(sim_config()).await.unwrap();
        let config = bot_config(&sim);
        Self::launch(sim, build(config))
    }

    pub fn launch(sim: Sim, app: App) -> Self {
        Self {
            bot: TestBot::launch(sim, app),
        }
    }

    /// Waits until the bot holds `n` live sockets (seen from both sides).
    pub async fn wait_live(&self, n: usize) {
        assert!(
            self.status()
                .wait_for(WAIT, |s| s.live_connections == n)
                .await,
            "bot never had {n} live sockets: {:?}",
            self.status().snapshot()
        );
        assert!(
            self.sim()
                .wait_for_stats(WAIT, |s| s.live_sockets == n)
                .await,
            "simulator never saw {n} live sockets: {:?}",
            self.sim().stats()
        );
    }

    /// Drops one socket without a close frame and waits until a new one is open and `n`
    /// sockets are live again.
    pub async fn drop_one_and_recover(&self, n: usize) {
        let opened = self.sim().stats().sockets_opened;
        self.sim().inject(Fault::Drop { target: None });
        assert!(
            self.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
                .await,
            "no socket opened after the drop"
        );
        self.wait_live(n).await;
    }

    /// Sends `ping <tag>` and waits for `pong <tag>`.
    pub async fn ping(&self, tag: &str) -> PostedMessage {
        self.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
        self.expect_post(&format!("pong {tag}")).await
    }

    pub async fn expect_post(&self, text: &str) -> PostedMessage {
        match self.sim().wait_for_post(WAIT, |p| p.text == text).await {
            Some(post) => post,
            None => panic!(
                "bot never posted {text:?}; posted: {:?}; bot: {:?}; sim: {:?}",
                self.sim().posted(),
                self.status().snapshot(),
                self.sim().stats()
            ),
        }
    }

    /// How many times the bot posted exactly `text`.
    pub fn count_posts(&self, text: &str) -> usize {
        self.sim()
            .posted()
            .iter()
            .filter(|p| p.text == text)
            .count()
    }

    /// Stops the bot and returns what `run` returned.
    pub async fn stop(self) -> Result<(), Error> {
        self.bot.stop().await
    }

    /// Stops the bot and hands back its simulator, for another life of a bot against it.
    pub async fn stop_keeping_sim(self) -> (Result<(), Error>, Sim) {
        self.bot.stop_keeping_sim().await
    }

    /// Ends the bot the way a crash does (its tasks dropped mid-flight, nothing drained) and
    /// hands back its simulator.
    pub async fn crash(self) -> Sim {
        self.bot.crash().await
    }

    /// Waits for `run` to end by itself (a fatal error).
    pub async fn finished(mut self) -> Result<(), Error> {
        self.bot.ended().await
    }

    /// Like `finished`, keeping the simulator for a look at what it saw.
    pub async fn ended(&mut self) -> Result<(), Error> {
        self.bot.ended().await
    }
}

/// Waits until no bot of this process holds the journal at `path`: after a crash simulated
/// in-process (a run aborted), its journal writer ends a moment later, and only then lets go
/// of the journal's lock (a process that really dies lets go at once).
pub async fn journal_released(path: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match nonstop::SqliteStore::open(path, nonstop::config::Durability::Normal) {
            Ok(_) => return,
            Err(nonstop::journal::StoreError::InUse { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("journal not released: {e}"),
        }
    }
}

/// Sends `ping 0..n` tagged with `prefix` and checks each got exactly one pong.
pub async fn assert_each_answered_once(h: &Harness, tags: &[String]) {
    for tag in tags {
        h.expect_post(&format!("pong {tag}")).await;
    }
    // Nothing left to redeliver, replay or send: a doubled answer would be there by now.
    h.settled().await;
    for tag in tags {
        let text = format!("pong {tag}");
        assert_eq!(
            h.count_posts(&text),
            1,
            "{text} answered {} times",
            h.count_posts(&text)
        );
    }
}

/// The `text` of a message event's envelope, or "".
pub fn text_of(envelope: &nonstop::Envelope) -> String {
    envelope
        .event_callback()
        .and_then(|cb| {
            cb.event
                .get("text")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[allow(unused_imports)] // not every test file captures logs
pub use nonstop_test_support::{capture_logs, Capturing};

/// Runs `during`, then asserts from the recorded lifecycle (not by sampling the live count,
/// which can miss a brief dip) that no slot was ever without a socket meanwhile: each socket
/// that went live replaced a live one (`slot_down_for: None`) and every close was ours
/// (`replaced`). Waits for at least `replacements` sockets to go live; returns how many did.
pub async fn never_down_during(
    h: &Harness,
    replacements: usize,
    during: impl std::future::Future<Output = ()>,
) -> usize {
    let since = std::time::SystemTime::now();
    during.await;
    let went_live = |h: &Harness| {
        h.status()
            .history()
            .iter()
            .filter(|r| r.at >= since && matches!(r.change, LifecycleChange::Live { .. }))
            .count()
    };
    assert!(
        h.status()
            .wait_for(WAIT, |_| went_live(h) >= replacements)
            .await,
        "fewer than {replacements} replacements: {:#?}",
        h.status().history()
    );
    let records: Vec<_> = h
        .status()
        .history()
        .into_iter()
        .filter(|r| r.at >= since)
        .collect();
    let mut went_live = 0;
    for record in &records {
        match &record.change {
            LifecycleChange::Live { slot_down_for } => {
                assert_eq!(
                    *slot_down_for, None,
                    "slot {} had no socket before connection {} went live: {records:#?}",
                    record.slot, record.connection
                );
                went_live += 1;
            }
            LifecycleChange::Closed { planned, .. } => {
                assert!(planned, "a socket was lost, not replaced: {records:#?}")
            }
            other => panic!("a socket failed to open during a replacement: {other:?}"),
        }
    }
    went_live
}

/// The waits the slots chose after each failed open, in order.
pub fn open_failures(h: &Harness) -> Vec<Duration> {
    h.status()
        .history()
        .into_iter()
        .filter_map(|r| match r.change {
            LifecycleChange::OpenFailed { retry_in, .. } => Some(retry_in),
            _ => None,
        })
        .collect()
}
