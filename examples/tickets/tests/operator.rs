//! The example's own binary as an operator runs it (`nonstop::cli`): `tickets doctor` checks
//! the scopes *its* listeners need (a bot token without `commands` fails on the `/ticket`
//! command, which the `nonstop` binary's built-in bot could never have told), and `tickets
//! manifest` prints the manifest they need and checks the installed app against it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

use nonstop::doctor::{DoctorOptions, Verdict};
use nonstop::testing::{Sim, SimConfig, TestBot};
use nonstop_sim::TempJournal;

/// `tickets ARGS` against `sim`, as an operator runs it: with the bot's tokens and its
/// journal in `journal`, or with no tokens (before the app exists); with the simulator's app
/// configuration token and app id when `config_token`.
fn tickets(sim: &Sim, args: &[&str], journal: Option<&TempJournal>, config_token: bool) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tickets"));
    command
        .args(args)
        .env("SLACK_API_URL", sim.api_url())
        .env("NONSTOP_LOG", "error");
    match journal {
        Some(db) => command
            .env("SLACK_APP_TOKEN", &sim.config().app_token)
            .env("SLACK_BOT_TOKEN", &sim.config().bot_token)
            .env("NONSTOP_DB", &db.0),
        None => command
            .env_remove("SLACK_APP_TOKEN")
            .env_remove("SLACK_BOT_TOKEN"),
    };
    if config_token {
        command
            .env("SLACK_CONFIG_TOKEN", &sim.config().config_token)
            .env("SLACK_APP_ID", &sim.config().app_id);
    } else {
        command
            .env_remove("SLACK_CONFIG_TOKEN")
            .env_remove("SLACK_APP_ID");
    }
    tokio::task::block_in_place(|| command.output().unwrap())
}

/// `tickets doctor` against `sim`, without a configuration token.
fn doctor(sim: &Sim, db: &TempJournal) -> Output {
    tickets(sim, &["doctor"], Some(db), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_of_the_bots_own_binary_names_the_scope_its_command_needs() {
    let db = TempJournal::new("tickets-doctor");
    let all_scopes = Sim::start(SimConfig::default()).await.unwrap();
    let out = doctor(&all_scopes, &db);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("all steps passed"), "{text}");

    let all = SimConfig::default().scopes;
    let no_commands = Sim::start(SimConfig {
        scopes: all
            .into_iter()
            .filter(|scope| scope != "commands")
            .collect(),
        ..SimConfig::default()
    })
    .await
    .unwrap();
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

/// `tickets manifest` prints the manifest its listeners need (JSON, or `--yaml`), Slack
/// takes it, and `--check` says how the installed app differs, until it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifest_prints_what_the_listeners_need_and_checks_the_installed_app() {
    let tickets = |sim: &Sim, args: &[&str]| tickets(sim, args, None, true);
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    // No tokens yet: the manifest comes before the app exists.
    let out = tickets(&sim, &["manifest"]);
    assert!(out.status.success(), "{out:?}");
    let printed: nonstop::model::manifest::Manifest = serde_json::from_slice(&out.stdout).unwrap();
    let derived = nonstop_example_tickets::app(nonstop::testing::TestApp::config()).manifest();
    assert_eq!(printed, derived);
    assert_eq!(printed.features.slash_commands[0].command, "/ticket");
    assert_eq!(
        printed.features.slash_commands[0].description,
        "Open a ticket"
    );
    let yaml = String::from_utf8_lossy(&tickets(&sim, &["manifest", "--yaml"]).stdout).into_owned();
    assert!(yaml.contains("command: \"/ticket\""), "{yaml}");

    // The installed app (the simulator's own manifest) has no /ticket, no interactivity.
    let out = tickets(&sim, &["manifest", "--check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("differs /features/slash_commands"), "{text}");
    assert!(text.contains("differs /settings/interactivity"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("difference(s) from the installed app"));

    // Installed from this very manifest: nothing differs.
    let installed = Sim::start(SimConfig {
        app_manifest: Some(serde_json::to_value(&derived).unwrap()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = tickets(&installed, &["manifest", "--check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("is the one these listeners need"), "{text}");

    // And Slack takes it.
    let bot = TestBot::start(nonstop_example_tickets::app).await;
    assert_eq!(bot.manifest_problems(&derived).await, Vec::<String>::new());
    bot.stop().await.unwrap();
}

/// With an app configuration token, `tickets doctor` also compares the installed app's
/// settings with what its listeners need: an app without `/ticket` (or interactivity for the
/// form) fails the `app settings` step, naming them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_the_installed_app_lacks() {
    let db = TempJournal::new("tickets-doctor-app");
    let doctor_with_token = |sim: &Sim| tickets(sim, &["doctor"], Some(&db), true);
    // The simulator's own app: the bot's scopes, but no /ticket and no interactivity.
    let bare = Sim::start(SimConfig::default()).await.unwrap();
    let out = doctor_with_token(&bare);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    let line = text
        .lines()
        .find(|l| l.starts_with("FAIL app settings"))
        .unwrap_or_default();
    assert!(
        line.contains("slash commands /ticket") && line.contains("interactivity"),
        "{text}"
    );
    let all = format!("{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        !all.contains(&bare.config().config_token),
        "the token leaked: {all}"
    );

    let derived = nonstop_example_tickets::app(nonstop::testing::TestApp::config()).manifest();
    let installed = Sim::start(SimConfig {
        app_manifest: Some(serde_json::to_value(&derived).unwrap()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let out = doctor_with_token(&installed);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("ok   app settings:"), "{text}");
}
