//! The greeter against the simulator (`nonstop::testing::TestBot`): greetings are counted in
//! storage, across a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use nonstop::testing::{inbound, Call, Sim, SimConfig, TestBot};
use nonstop_sim::TempJournal;

/// The greeter against `sim`, with its journal and storage in `db`.
async fn start(sim: Sim, db: &Path) -> TestBot {
    let mut config = TestBot::config_for(&sim);
    config.journal_path = Some(db.to_path_buf());
    let mut bot = TestBot::launch(sim, nonstop_example_greeter::app(config));
    bot.live().await;
    bot
}

/// `user` says `text` in C1, and the bot's next post must be `answer`.
async fn exchange(bot: &TestBot, said: inbound::MessageIn, answer: &str) -> Call {
    let before = bot.posts().len();
    bot.send(said);
    let post = bot.expect_post(|_| true).await;
    bot.settled().await;
    let posts = bot.posts();
    assert_eq!(posts.len(), before + 1, "one answer: {posts:?}");
    assert_eq!(posts[before].text(), Some(answer), "{post:?}");
    posts[before].clone()
}

fn said(user: &str, text: &str) -> inbound::MessageIn {
    inbound::message(text).channel("C1").user(user)
}

#[tokio::test]
async fn greetings_are_counted_and_survive_a_restart() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let db = TempJournal::new("greeter");
    let bot = start(sim, &db.0).await;

    exchange(&bot, said("U1", "hello there"), "Nice to meet you, <@U1>!").await;
    exchange(
        &bot,
        said("U1", "Hi"),
        "Welcome back, <@U1>: visit number 2.",
    )
    .await;
    let (stopped, sim) = bot.stop_keeping_sim().await;
    stopped.unwrap();

    // Same file, new process state: the count is still there.
    let bot = start(sim, &db.0).await;
    exchange(
        &bot,
        said("U1", "hey"),
        "Welcome back, <@U1>: visit number 3.",
    )
    .await;
    // Another user has a count of their own.
    exchange(&bot, said("U2", "hello"), "Nice to meet you, <@U2>!").await;

    // `forget me` in a direct message deletes it, and answers in a thread.
    let dm = inbound::message("forget me")
        .channel("D1")
        .user("U1")
        .direct()
        .ts("500.0");
    let post = exchange(&bot, dm, "Forgotten. Say hello to start over.").await;
    assert_eq!(post.thread_ts(), Some("500.0"));
    exchange(&bot, said("U1", "hello"), "Nice to meet you, <@U1>!").await;
    // `forget me` in a channel, without a mention, is not for the greeter.
    let before = bot.posts().len();
    bot.send(said("U1", "forget me"));
    exchange(&bot, said("U1", "ping x"), "pong x").await;
    assert_eq!(bot.posts().len(), before + 1);
    bot.stop().await.unwrap();
}

/// `greeter manifest` prints a manifest Slack takes (the simulator's `apps.manifest.validate`).
#[tokio::test]
async fn its_manifest_is_one_slack_accepts() {
    let bot = nonstop::testing::TestBot::start(nonstop_example_greeter::app).await;
    let manifest = nonstop_example_greeter::app(nonstop::testing::TestApp::config()).manifest();
    assert_eq!(bot.manifest_problems(&manifest).await, Vec::<String>::new());
    bot.stop().await.unwrap();
}
