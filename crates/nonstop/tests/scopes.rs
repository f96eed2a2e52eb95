//! A bot token without the history scopes is named at start: the outbox could not look for a
//! message a crash may have posted, so such a message would be sent again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{sim_config, Harness};
use nonstop::App;
use nonstop_sim::{CapturedLog, Sim, SimConfig};

#[tokio::test]
async fn a_token_without_history_scopes_is_named_at_start() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let sim = Sim::start(SimConfig {
        scopes: vec!["chat:write".into(), "commands".into()],
        ..sim_config()
    })
    .await
    .unwrap();
    let config = common::bot_config(&sim);
    let h = Harness::launch(sim, App::new(config));
    h.wait_live(2).await;
    let logs = captured.text();
    assert!(logs.contains("bot identified"), "{logs}");
    assert!(logs.contains("no history scope"), "{logs}");
    assert!(logs.contains("channels:history"), "{logs}");
    h.stop().await.unwrap();

    // With every history scope, nothing is said.
    let before = captured.text().len();
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = common::bot_config(&sim);
    let h = Harness::launch(sim, App::new(config));
    h.wait_live(2).await;
    let logs = captured.text();
    assert!(logs[before..].contains("bot identified"), "{logs}");
    assert!(!logs[before..].contains("history scope"), "{logs}");
    h.stop().await.unwrap();
}
