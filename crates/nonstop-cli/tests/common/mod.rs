//! What the binary's tests share: the binary, a bot pointed at a simulator, and a simulator
//! that keeps redelivering.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::Duration;

use nonstop_sim::{Sim, SimConfig};

#[path = "../../../nonstop/tests/common/redis_server.rs"]
mod redis_server;
#[allow(unused_imports)] // not every test file uses each
pub use redis_server::{redis_url, OwnRedis, RedisPrefix};

/// The `nonstop` binary under test.
pub fn nonstop() -> Command {
    Command::new(env!("CARGO_BIN_EXE_nonstop"))
}

/// `command` set up as a bot against `sim` with the default settings, its journal at `db`,
/// logging at `log_level`.
pub fn as_bot<'c>(
    command: &'c mut Command,
    sim: &Sim,
    db: &Path,
    log_level: &str,
) -> &'c mut Command {
    command
        .env("SLACK_APP_TOKEN", &sim.config().app_token)
        .env("SLACK_BOT_TOKEN", &sim.config().bot_token)
        .env("SLACK_API_URL", sim.api_url())
        .env("NONSTOP_DB", db)
        .env("NONSTOP_LOG", log_level)
}

/// A simulator that keeps redelivering unacked envelopes every second, without Slack's limit
/// of three: these tests are about the bot's journal, not Slack's patience. The bot's posts
/// are not echoed back.
pub async fn redelivering_sim() -> Sim {
    Sim::start(SimConfig {
        echo_bot_messages: false,
        redelivery_after: Duration::from_secs(1),
        max_redeliveries: 1_000,
        ..SimConfig::default()
    })
    .await
    .unwrap()
}

/// Waits up to `within` for `child` to exit, polling (a child process has nothing to await),
/// then kills it if it still runs; how it ended.
pub async fn exited_within(
    child: &mut std::process::Child,
    within: Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    child.wait().unwrap()
}

/// Sends the signal `name` (`STOP`, `CONT`, `TERM`) to `child`, with `kill(1)`.
pub fn signal(child: &Child, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// A process of the test's own, killed (SIGKILL) and reaped when dropped: a test that fails
/// half-way leaves no `nonstop run` or `nonstop sim` behind on the machine.
pub struct Running(Option<Child>);

impl Running {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Self {
        Running(Some(command.spawn().expect("the process starts")))
    }

    /// Waits for it to exit and collects what it printed to piped stdout/stderr.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.0.take().expect("not yet waited for");
        child.wait_with_output().expect("its output")
    }
}

impl Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("not yet waited for")
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("not yet waited for")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
