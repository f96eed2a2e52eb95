//! The greeter against the simulator: greetings are counted in storage, across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Duration;

use nonstop::Config;
use nonstop_sim::{MessageSpec, Sim, SimConfig, TempJournal};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// Runs the greeter with its journal and storage in `db` until the returned sender is used.
fn start(
    sim: &Sim,
    db: &Path,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), nonstop::Error>>,
) {
    let mut config = Config::for_simulator(
        &sim.api_url(),
        &sim.config().app_token,
        &sim.config().bot_token,
    )
    .unwrap();
    config.journal_path = Some(db.to_path_buf());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(nonstop_example_greeter::app(config).run(async move {
        let _ = stopped.await;
    }));
    (stop, run)
}

/// Sends `event` and waits for the bot's next post, which must be `text`.
async fn exchange(sim: &Sim, event: serde_json::Value, text: &str) -> nonstop_sim::PostedMessage {
    let before = sim.posted_count();
    sim.send_event(event);
    assert!(
        sim.wait_for_stats(WAIT, |s| s.posted > before).await,
        "no answer to the message; expected {text:?}"
    );
    let post = sim.posted()[before].clone();
    assert_eq!(post.text, text);
    post
}

fn said(user: &str, text: &str, ts: &str) -> serde_json::Value {
    json!({"type": "message", "channel": "C1", "channel_type": "channel", "user": user,
           "text": text, "ts": ts})
}

#[tokio::test]
async fn greetings_are_counted_and_survive_a_restart() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let db = TempJournal::new("greeter");
    let (stop, run) = start(&sim, &db.0);

    exchange(
        &sim,
        said("U1", "hello there", "1.0"),
        "Nice to meet you, <@U1>!",
    )
    .await;
    exchange(
        &sim,
        said("U1", "Hi", "2.0"),
        "Welcome back, <@U1>: visit number 2.",
    )
    .await;
    let _ = stop.send(());
    run.await.unwrap().unwrap();

    // Same file, new process state: the count is still there.
    let (stop, run) = start(&sim, &db.0);
    exchange(
        &sim,
        said("U1", "hey", "3.0"),
        "Welcome back, <@U1>: visit number 3.",
    )
    .await;
    // Another user has a count of their own.
    exchange(&sim, said("U2", "hello", "4.0"), "Nice to meet you, <@U2>!").await;

    // `forget me` in a direct message deletes it, and answers in a thread.
    let dm = json!({"type": "message", "channel": "D1", "channel_type": "im",
        "user": "U1", "text": "forget me", "ts": "500.0"});
    let post = exchange(&sim, dm, "Forgotten. Say hello to start over.").await;
    assert_eq!(post.thread_ts.as_deref(), Some("500.0"));
    exchange(&sim, said("U1", "hello", "6.0"), "Nice to meet you, <@U1>!").await;
    // `forget me` in a channel, without a mention, is not for the greeter.
    let before = sim.posted_count();
    sim.send_message(MessageSpec::new("C1", "U1", "forget me"));
    exchange(&sim, said("U1", "ping x", "7.0"), "pong x").await;
    assert_eq!(sim.posted_count(), before + 1);
    let _ = stop.send(());
    run.await.unwrap().unwrap();
}
