//! `tickets doctor` (the example's own binary, `nonstop::cli`) checks the scopes *its*
//! listeners need: a bot token without `commands` fails on the `/ticket` command, which the
//! `nonstop` binary's built-in bot (no commands) could never have told.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use nonstop::doctor::{DoctorOptions, Verdict};
use nonstop::testing::{Sim, SimConfig, TestBot};
use nonstop_sim::TempJournal;

/// `tickets doctor` against `sim`, as an operator runs it.
fn doctor(sim: &Sim, db: &TempJournal) -> Output {
    tokio::task::block_in_place(|| {
        Command::new(env!("CARGO_BIN_EXE_tickets"))
            .arg("doctor")
            .env("SLACK_APP_TOKEN", &sim.config().app_token)
            .env("SLACK_BOT_TOKEN", &sim.config().bot_token)
            .env("SLACK_API_URL", sim.api_url())
            .env("NONSTOP_DB", &db.0)
            .env("NONSTOP_LOG", "error")
            .output()
            .unwrap()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_of_the_bots_own_binary_names_the_scope_its_command_needs() {
    let db = TempJournal::new("tickets-doctor");
    let all_scopes = Sim::start(SimConfig::default()).await.unwrap();
    let out = doctor(&all_scopes, &db);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all steps passed"), "{text}");

    let mut config = SimConfig::default();
    config.scopes.retain(|scope| scope != "commands");
    let no_commands = Sim::start(config).await.unwrap();
    let out = doctor(&no_commands, &db);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let failed = text
        .lines()
        .find(|l| l.starts_with("FAIL auth.test"))
        .unwrap_or_default();
    assert!(
        failed.contains("commands") && failed.contains("/ticket"),
        "{text}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("step(s) failed"), "{stderr}");

    // The same token passes the built-in bot's doctor (what `nonstop doctor` checks): only
    // this bot's binary knows it has a slash command.
    let builtin = nonstop::App::new(TestBot::config_for(&no_commands)).with_builtin_commands();
    let findings = builtin.doctor(&DoctorOptions::default(), |_| {}).await;
    let auth = findings
        .iter()
        .find(|f| f.step.name() == "auth.test")
        .unwrap();
    assert!(matches!(auth.verdict, Verdict::Pass(_)), "{auth:?}");
}
