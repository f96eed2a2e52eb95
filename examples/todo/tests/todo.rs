//! The todo bot driven as Slack would drive it, with nonstop's testing kit: a message, a
//! slash command, a button, a modal with validation, the Home tab. docs/bot-api.md shows
//! this file ("Testing your bot").
#![allow(clippy::unwrap_used)]

use nonstop::testing::inbound::{self, button, message, slash_command, view_submission};
use nonstop::testing::{Picked, TestBot};
use nonstop_example_todo::{app, form, DONE, NEW_TODO, OPEN_FORM};

#[tokio::test]
async fn hello_todo_done_and_a_form_that_checks_its_input() {
    let bot = TestBot::start(app).await;

    bot.send(message("hello").user("U1"));
    bot.expect_text("Hi <@U1>! Try `/todo buy milk`.").await;

    let todo = bot.send(slash_command("/todo").text("buy milk"));
    assert_eq!(bot.ack(&todo).await.unwrap()["text"], "Added #1.");
    let ts = bot.expect_text("#1 buy milk").await.posted_ts.unwrap();

    bot.send(button(DONE).value("1").message_ts(&ts).user("U2"));
    let done = bot.expect_call("chat.update", |_| true).await;
    assert_eq!(done.text(), Some("~#1 buy milk~ done by <@U2>"));

    bot.send(button(OPEN_FORM).in_view("VHOME", ""));
    let opened = bot.expect_call("views.open", |_| true).await;
    assert_eq!(opened.view(), Some(form()));

    let short = bot.send(view_submission(NEW_TODO).text("text", "text", "no"));
    assert_eq!(bot.ack(&short).await.unwrap()["response_action"], "errors");
    let filled = view_submission(NEW_TODO)
        .text("text", "text", "water the plants")
        .input("channel", "channel", Picked::Conversation("C2".into()));
    bot.send(filled);
    let post = bot.expect_text("#2 water the plants").await;
    assert_eq!(post.channel(), Some("C2"));

    bot.stop().await.unwrap();
}

/// The Home tab lists the open todos when a user opens it, and again after each change.
#[tokio::test]
async fn the_home_tab_shows_what_is_open() {
    let bot = TestBot::start(app).await;
    bot.send(inbound::app_home_opened("U1"));
    let home = bot.expect_call("views.publish", |_| true).await;
    assert_eq!(home.user(), Some("U1"));
    assert_eq!(home.view(), Some(nonstop_example_todo::home([])));

    bot.send(inbound::slash_command("/todo").text("buy milk").user("U1"));
    let home = bot
        .expect_call("views.publish", |call| {
            call.view().is_some_and(|v| v.blocks().len() == 3)
        })
        .await;
    let todos = vec![nonstop_example_todo::Todo {
        number: 1,
        text: "buy milk".into(),
        added_by: "U1".into(),
        done_by: None,
    }];
    assert_eq!(home.view(), Some(nonstop_example_todo::home(todos)));
    bot.stop().await.unwrap();
}

/// docs/bot-api.md ("Testing your bot") shows the first test of this file as it is.
#[test]
fn the_docs_show_this_test_as_it_is() {
    let this = include_str!("todo.rs");
    let start = this.find("#[tokio::test]\nasync fn hello_todo").unwrap();
    let end = start + this[start..].find("\n}\n").unwrap() + 2;
    let test = &this[start..end];
    assert!(
        include_str!("../../../docs/bot-api.md").contains(test),
        "docs/bot-api.md no longer shows tests/todo.rs's first test as it is: copy it again"
    );
    let lines = test.lines().count();
    assert!(lines <= 40, "the newcomer's test grew to {lines} lines");
}

/// The probe of issue 27: a bot that keeps its journal while the simulator restarts (as
/// `nonstop sim` restarted by hand would) answers every click of the new simulator: none is
/// taken for one the journal saw before.
#[tokio::test]
async fn a_simulator_restart_drops_nothing() {
    let db = std::env::temp_dir().join(format!("todo-sim-restart-{}.db", std::process::id()));
    let start = |sim: nonstop::testing::Sim| {
        let mut config = TestBot::config_for(&sim);
        config.journal_path = Some(db.clone());
        TestBot::launch(sim, app(config))
    };
    for life in 1..=2 {
        let sim = nonstop::testing::Sim::start(nonstop::testing::SimConfig::default())
            .await
            .unwrap();
        let mut bot = start(sim);
        bot.live().await;
        let todo = bot.send(slash_command("/todo").text(format!("todo of life {life}")));
        bot.ack(&todo).await;
        let ts = bot
            .expect_text(&format!("#{life} todo of life {life}"))
            .await
            .posted_ts
            .unwrap();
        let click = bot.send(button(DONE).value(life.to_string()).message_ts(&ts));
        assert_eq!(bot.ack(&click).await, None);
        bot.expect_call("chat.update", |_| true).await;
        bot.stop().await.unwrap();
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// `todo manifest` prints a manifest Slack takes (the simulator's `apps.manifest.validate`).
#[tokio::test]
async fn its_manifest_is_one_slack_accepts() {
    let bot = nonstop::testing::TestBot::start(nonstop_example_todo::app).await;
    let manifest = nonstop_example_todo::app(nonstop::testing::TestApp::config()).manifest();
    assert_eq!(bot.manifest_problems(&manifest).await, Vec::<String>::new());
    bot.stop().await.unwrap();
}
