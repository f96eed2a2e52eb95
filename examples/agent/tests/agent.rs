//! The example agent against the simulator and a fake model: prompts when a thread opens, a
//! status before each answer, the model's answer streamed whole and once (through a busy, a
//! failing and a cut-off model, and a crash mid-answer), the conversation kept per thread,
//! feedback thanked for.
#![allow(clippy::unwrap_used)]

mod fake_model;

use std::time::Duration;

use fake_model::{FakeModel, Fault};
use nonstop::testing::{inbound, Picked, TestBot};
use nonstop_example_agent::{app_with, ModelSettings, FEEDBACK};

const THREAD: &str = "1700000000.000100";
const ANSWER: &str = "Uptime is a habit: reconnect, replay, never answer twice.";

async fn agent(model: &FakeModel) -> TestBot {
    let settings = ModelSettings::new(&model.url, "fake");
    TestBot::start(move |config| app_with(config, Some(settings))).await
}

fn ask(text: &str) -> nonstop::testing::inbound::MessageIn {
    inbound::message(text)
        .channel("DU1")
        .user("U1")
        .in_thread(THREAD)
        .direct()
}

#[tokio::test]
async fn a_thread_gets_prompts_and_each_question_the_models_answer_after_a_status() {
    let model = FakeModel::start(ANSWER).await;
    let bot = agent(&model).await;
    bot.send(inbound::assistant_thread_started("U1", THREAD, "C9"));
    bot.settled().await;
    let thread = bot.sim().agent_thread("DU1", THREAD).unwrap();
    assert_eq!(thread.prompts.len(), 2);

    bot.send(ask("What is uptime?"));
    let answer = bot.expect_streamed(ANSWER).await;
    assert_eq!(answer.thread_ts, THREAD);
    assert!(answer
        .blocks
        .unwrap()
        .to_string()
        .contains("feedback_buttons"));
    let thread = bot.sim().agent_thread("DU1", THREAD).unwrap();
    assert_eq!(thread.statuses, ["is thinking…"]);
    assert_eq!(thread.status, "", "the answer cleared the status");
    // The conversation goes to the model with the next question.
    bot.send(ask("And downtime?"));
    bot.settled().await;
    let requests = model.requests();
    assert_eq!(requests.len(), 2);
    let second: Vec<&str> = requests[1]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["content"].as_str().unwrap())
        .collect();
    assert_eq!(second, ["What is uptime?", ANSWER, "And downtime?"]);

    let answer_ts = answer.ts.clone();
    let click = inbound::block_action(FEEDBACK, Picked::Feedback("positive".into()));
    bot.send(click.channel("DU1").message_ts(answer_ts));
    bot.expect_text("Thanks! Glad it helped.").await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_busy_failing_or_cut_off_model_is_asked_again_and_the_answer_comes_whole_once() {
    let model = FakeModel::start(ANSWER).await;
    model.fail_next(Fault::Busy {
        retry_after_secs: 1,
    });
    model.fail_next(Fault::Broken);
    model.fail_next(Fault::CutAfter { tokens: 3 });
    let bot = agent(&model).await;
    bot.send(ask("What is uptime?"));
    bot.expect_streamed(ANSWER).await;
    bot.settled().await;
    assert_eq!(model.requests().len(), 4, "three failures, then the answer");
    assert_eq!(bot.sim().streams().len(), 1, "one answer");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_silent_model_is_named_in_the_answer() {
    let model = FakeModel::start(ANSWER).await;
    for _ in 0..2 {
        model.fail_next(Fault::Slow {
            per_token: Duration::from_secs(2),
        });
    }
    let mut settings = ModelSettings::new(&model.url, "fake");
    settings.token_timeout = Duration::from_millis(300);
    settings.tries = 2;
    let bot = TestBot::start(move |config| app_with(config, Some(settings))).await;
    bot.send(ask("Are you there?"));
    bot.expect_streamed("Sorry, I could not answer: the model sent nothing for 300 ms, 2 times.")
        .await;
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn without_a_model_it_says_what_to_set() {
    let bot = TestBot::start(|config| app_with(config, None)).await;
    bot.send(ask("Hello?"));
    bot.expect_streamed(
        "I have no model to ask: set AGENT_API_URL (and AGENT_MODEL, AGENT_API_KEY).",
    )
    .await;
    bot.stop().await.unwrap();
}

/// A run cut off by a crash after the answer was kept and before it was sent leaves the
/// question's exchange in storage: the replayed run sends that answer, and the model is not
/// asked again.
#[tokio::test]
async fn a_question_answered_before_a_crash_is_not_asked_again() {
    let model = FakeModel::start(ANSWER).await;
    let store: std::sync::Arc<dyn nonstop::Store> =
        std::sync::Arc::new(nonstop::MemoryStore::new());
    let kept = serde_json::json!([{
        "ts": "1700000001.000200",
        "question": "What is uptime?",
        "answer": "The answer kept before the crash."
    }]);
    nonstop::Storage::new(std::sync::Arc::clone(&store))
        .set(&format!("agent:DU1:{THREAD}"), &kept)
        .await
        .unwrap();
    let settings = ModelSettings::new(&model.url, "fake");
    let bot =
        TestBot::start(move |config| app_with(config, Some(settings)).with_store(store)).await;
    bot.send(ask("What is uptime?").ts("1700000001.000200"));
    bot.expect_streamed("The answer kept before the crash.")
        .await;
    bot.settled().await;
    assert!(model.requests().is_empty(), "the model was asked again");
    bot.stop().await.unwrap();
}

/// The bot crashes while the model's answer streams in (slow tokens) and starts again on its
/// journal: the replayed run asks the model again and goes on where the message stands: one
/// message, the answer whole and once, stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_answer_is_continued_in_the_same_message() {
    let model = FakeModel::start(ANSWER).await;
    model.fail_next(Fault::Slow {
        per_token: Duration::from_millis(300),
    });
    let store: std::sync::Arc<dyn nonstop::Store> =
        std::sync::Arc::new(nonstop::MemoryStore::new());
    let settings = ModelSettings::new(&model.url, "fake");
    let app = move |config| {
        app_with(config, Some(settings.clone())).with_store(std::sync::Arc::clone(&store))
    };
    let bot = TestBot::start(app.clone()).await;
    bot.send(ask("What is uptime?"));
    // Some of the answer is in the message, the rest still coming from the model.
    bot.sim()
        .wait_for_stream(Duration::from_secs(30), |s| s.pieces >= 2)
        .await
        .unwrap();
    let sim = bot.crash().await;
    let config = TestBot::config_for(&sim);
    let bot = TestBot::launch(sim, app(config));
    let stream = bot.expect_streamed(ANSWER).await;
    assert_eq!(bot.sim().streams().len(), 1, "one message: {stream:?}");
    assert_eq!(model.requests().len(), 2, "asked again after the crash");
    bot.stop().await.unwrap();
}
