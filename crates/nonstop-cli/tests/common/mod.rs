//! What the binary's tests share: the binary, a bot pointed at a simulator, and a simulator
//! that keeps redelivering.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use nonstop_sim::{Sim, SimConfig};

#[allow(unused_imports)] // not every test file uses each
pub use nonstop_test_support::{
    bot_settled, exited_within, free_port, metric, redis_url, signal, OwnRedis, RedisPrefix,
    Running,
};

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
