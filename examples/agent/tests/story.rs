//! The story the agent's promise is told by: its own binary, as an operator runs it, streams
//! a 2,000-token answer from a model into a thread while Slack drops its socket twice and
//! answers an append with 429, and the process is killed (SIGKILL, no goodbye) mid-answer and
//! started again on its journal. The message ends with the model's text exactly (no piece
//! missing or doubled), stopped, the status cleared, and one answer to the question. And 50
//! answers streaming at once at each of eight SIGKILLs: every one ends stopped, none doubled.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod fake_model;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_model::{FakeModel, Fault as ModelFault};
use nonstop::testing::{inbound, Fault, Sim, SimConfig, Target, TempJournal};

const THREAD: &str = "1700000000.000100";
const WAIT: Duration = Duration::from_secs(60);

/// 2,000 tokens of the fake model (4 characters each), every word different, so that a
/// missing or doubled piece shows.
fn long_answer() -> String {
    (0..1334).map(|i| format!("{i:05} ")).collect::<String>()[..8000].to_owned()
}

/// The agent's process, killed when dropped (a failed assertion leaves none behind).
struct Agent(Child);

impl Agent {
    /// SIGKILL (TerminateProcess on Windows): no goodbye, nothing drained.
    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The agent's binary against `sim` and `model`, on `journal`.
fn agent(sim: &Sim, model: &FakeModel, journal: &TempJournal) -> Agent {
    let child = Command::new(env!("CARGO_BIN_EXE_agent"))
        .env("SLACK_API_URL", sim.api_url())
        .env("SLACK_APP_TOKEN", &sim.config().app_token)
        .env("SLACK_BOT_TOKEN", &sim.config().bot_token)
        .env("NONSTOP_DB", &journal.0)
        .env("NONSTOP_LOG", "warn")
        .env("AGENT_API_URL", &model.url)
        .env("AGENT_MODEL", "fake")
        .env_remove("AGENT_API_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the agent's binary starts");
    Agent(child)
}

/// Waits until the one stream in `sim` has at least `pieces` pieces.
async fn pieces(sim: &Sim, pieces: u32) {
    let found = sim.wait_for_stream(WAIT, |s| s.pieces >= pieces).await;
    assert!(found.is_some(), "the stream did not reach {pieces} pieces");
}

/// Waits until the bot has `sockets` sockets open in all (counting those dropped).
async fn opened(sim: &Sim, sockets: u64) {
    let reconnected = sim
        .wait_for_stats(WAIT, |s| s.sockets_opened >= sockets && s.live_sockets >= 1)
        .await;
    assert!(reconnected, "the bot did not connect ({sockets} sockets)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_streamed_through_drops_a_429_and_a_sigkill_arrives_whole_once() {
    let answer = long_answer();
    let model = FakeModel::start(&answer).await;
    // The first life's model is slow enough for the faults to land mid-answer.
    model.fail_next(ModelFault::Slow {
        per_token: Duration::from_millis(10),
    });
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let journal = TempJournal::new("agent-story");
    let mut bot = agent(&sim, &model, &journal);
    opened(&sim, 1).await;

    let question = inbound::message("Tell me a long story")
        .channel("DU1")
        .user("U1")
        .in_thread(THREAD)
        .direct();
    sim.send(question);
    pieces(&sim, 2).await;
    sim.inject(Fault::Drop {
        target: Target::default(),
    });
    opened(&sim, 2).await;
    sim.inject(Fault::RateLimitMethod {
        method: "chat.appendStream".into(),
        secs: 1,
    });
    pieces(&sim, 4).await;
    sim.inject(Fault::Drop {
        target: Target::default(),
    });
    opened(&sim, 3).await;
    pieces(&sim, 6).await;
    assert!(
        sim.streams()[0].open,
        "the answer is still streaming at the kill"
    );
    bot.kill();

    let bot = agent(&sim, &model, &journal);
    let stream = sim.wait_for_stream(WAIT, |s| !s.open).await;
    drop(bot);
    let stream = stream.expect("the stream was stopped");
    assert!(
        stream.text == answer,
        "the message is the model's text exactly: {} characters of {}; it begins {:?}",
        stream.text.len(),
        answer.len(),
        &stream.text[..stream.text.len().min(80)]
    );
    assert_eq!(sim.streams().len(), 1, "one answer to the question");
    let thread = sim.agent_thread("DU1", THREAD).unwrap();
    assert_eq!(thread.status, "", "the status is cleared");
    assert!(stream
        .blocks
        .unwrap()
        .to_string()
        .contains("feedback_buttons"));
    let limited = sim
        .calls("chat.appendStream")
        .iter()
        .filter(|c| c.status == 429)
        .count();
    assert_eq!(limited, 1, "one append was answered 429");
    assert_eq!(sim.early_calls(), 0, "the Retry-After was obeyed");
    assert_eq!(
        model.requests().len(),
        2,
        "the replay asked the model again"
    );
}

/// 50 answers streaming at once from a slow model, eight times over: the agent's process is
/// SIGKILLed while each wave of 50 is halfway, and started again on its journal, which
/// finishes that wave before the next comes. Every answer ends stopped, one per question,
/// with the model's text exactly. (A handler cut off by three kills in a row is given up
/// instead, by design: its stream is stopped with what it has and a note; `nonstop`'s
/// streaming tests show that.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_streams_through_eight_sigkills_each_end_stopped_and_none_doubled() {
    const AT_ONCE: usize = 50;
    const KILLS: usize = 8;
    let answer: String = (0..200).map(|i| format!("{i:03} ")).collect();
    let model = FakeModel::start(&answer).await;
    // Two seconds an answer; a replay's answer at once (the model knows the question).
    model.slow_first_asks(Duration::from_millis(10));
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let journal = TempJournal::new("agent-fifty");
    let mut bot = agent(&sim, &model, &journal);
    let mut asked = 0;
    for kill in 1..=KILLS {
        // The answers cut off by the last kill are finished in this life first.
        settled(&sim, asked).await;
        for n in asked..asked + AT_ONCE {
            let question = inbound::message(format!("Question {n}"))
                .channel(format!("D{n:03}"))
                .user("U1")
                .in_thread(THREAD)
                .direct();
            sim.send(question);
        }
        asked += AT_ONCE;
        // Every answer of this wave is streaming: some of it out, the rest coming.
        let halfway = sim
            .wait_for_stats(WAIT, |_| {
                let streams = sim.streams();
                streams.len() == asked && streams.iter().all(|s| !s.open || s.pieces >= 2)
            })
            .await;
        assert!(halfway, "wave {kill} did not begin");
        let open = sim.streams().iter().filter(|s| s.open).count();
        assert!(
            open >= AT_ONCE / 2,
            "{open} answers streaming at kill {kill}"
        );
        bot.kill();
        bot = agent(&sim, &model, &journal);
    }
    settled(&sim, asked).await;
    drop(bot);
    let streams = sim.streams();
    assert_eq!(streams.len(), AT_ONCE * KILLS, "one answer per question");
    for stream in &streams {
        assert!(
            stream.text == answer,
            "in {}: not the answer, once: {:?}",
            stream.channel,
            stream.text
        );
    }
}

/// Waits until `answers` streams exist and every one is stopped.
async fn settled(sim: &Sim, answers: usize) {
    let stopped = sim
        .wait_for_stats(WAIT, |_| {
            let streams = sim.streams();
            streams.len() == answers && streams.iter().all(|s| !s.open)
        })
        .await;
    assert!(stopped, "not every answer stopped: {:?}", sim.streams());
}
