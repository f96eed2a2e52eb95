//! Streamed answers through the outbox, against the simulator: the final message's text is
//! exactly what the handler streamed (no piece missing or doubled) through a lost answer and
//! a 429 mid-stream; the stream is stopped with its blocks; one a handler leaves unfinished is
//! stopped with what it has and a note.
#![allow(clippy::unwrap_used)]

use nonstop::blocks::{Block, FeedbackButtons};
use nonstop::testing::{inbound, TestBot};
use nonstop::{App, Context, HandlerResult, Message};
use nonstop_sim::{Fault, StreamedMessage};

const THREAD: &str = "1700000000.000100";

/// 2,000 characters, in 10-character tokens, each different so that a doubled or missing
/// piece shows.
fn answer() -> String {
    (0..200).map(|i| format!("token{i:04} ")).collect()
}

/// Another answer, in tokens of another length: what a model that is not deterministic
/// might say when asked again.
fn other_answer() -> String {
    (0..300).map(|i| format!("W{i:05} ")).collect()
}

/// `text` in tokens as long as its words.
fn tokens(text: &str) -> Vec<String> {
    let size = text.find(' ').map_or(1, |space| space + 1);
    text.as_bytes()
        .chunks(size)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect()
}

async fn streams(ctx: Context, message: Message) -> HandlerResult {
    let mut stream = ctx.stream()?;
    let text = if ctx.attempt() > 0 && message.text.contains("differently") {
        other_answer()
    } else {
        answer()
    };
    if ctx.attempt() > 0 && message.text.contains("another way") {
        // The replayed handler does not come back to its stream.
        return Ok(());
    }
    let mut tokens = tokens(&text);
    if ctx.attempt() > 0 && message.text.contains("continue") {
        // A handler that continues: only what the earlier run did not write.
        let delivered = stream.delivered().await?;
        assert!(answer().starts_with(&delivered) && !delivered.is_empty());
        tokens = self::tokens(&answer()[delivered.len()..]);
    }
    for (i, token) in tokens.iter().enumerate() {
        if i == 100 && ctx.attempt() == 0 && message.text.contains("hang") {
            // The model hangs halfway: the crash comes while the handler runs.
            std::future::pending::<()>().await;
        }
        stream.append(token).await?;
    }
    if message.text.contains("cut") {
        return Err("the model went away".into());
    }
    let feedback = Block::context_actions([FeedbackButtons::new("feedback")]);
    stream.finish(Some(vec![feedback.into()])).await?;
    Ok(())
}

async fn bot() -> TestBot {
    TestBot::start(|config| App::new(config).hears("^stream", streams)).await
}

/// The stream once it is stopped (or as it stands after 30 s).
async fn streamed(bot: &TestBot) -> StreamedMessage {
    bot.settled().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while bot.sim().streams().iter().any(|s| s.open) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let streams = bot.sim().streams();
    assert_eq!(streams.len(), 1, "one answer: {streams:?}");
    streams.into_iter().next().unwrap()
}

fn ask(text: &str) -> nonstop::testing::inbound::MessageIn {
    inbound::message(text).channel("D1").in_thread(THREAD)
}

#[tokio::test]
async fn a_streamed_answer_arrives_whole_in_pieces_and_is_stopped_with_its_blocks() {
    let bot = bot().await;
    bot.send(ask("stream please"));
    let stream = streamed(&bot).await;
    assert_eq!(stream.text, answer());
    assert!(!stream.open);
    assert_eq!(stream.thread_ts, THREAD);
    assert!(stream.blocks.unwrap()[0]["elements"][0]["type"] == "feedback_buttons");
    // The first token at once, then pieces of at least 256 characters: 7 appends, the
    // stop with the rest.
    assert_eq!(bot.sim().calls("chat.startStream").len(), 1);
    assert_eq!(bot.sim().calls("chat.appendStream").len(), 7);
    assert_eq!(bot.sim().calls("chat.stopStream").len(), 1);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_start_or_piece_whose_answer_was_lost_is_not_sent_twice() {
    let bot = bot().await;
    bot.sim().inject(Fault::LoseReply {
        method: "chat.appendStream".into(),
        count: 2,
    });
    bot.sim().inject(Fault::LoseReply {
        method: "chat.stopStream".into(),
        count: 1,
    });
    // The start too: the stream it began is found in the thread, not started twice.
    bot.sim().inject(Fault::LoseReply {
        method: "chat.startStream".into(),
        count: 1,
    });
    bot.send(ask("stream please"));
    let stream = streamed(&bot).await;
    assert_eq!(stream.text, answer(), "no piece doubled or missing");
    assert!(!stream.open);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_429_mid_stream_delays_the_rest_and_drops_nothing() {
    let bot = bot().await;
    bot.sim().inject(Fault::RateLimitMethod {
        method: "chat.appendStream".into(),
        secs: 1,
    });
    bot.send(ask("stream please"));
    let stream = streamed(&bot).await;
    assert_eq!(stream.text, answer());
    assert!(!stream.open);
    assert_eq!(
        bot.sim().early_calls(),
        0,
        "no call before the Retry-After ran out"
    );
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_stream_its_handler_leaves_unfinished_is_stopped_with_a_note() {
    let bot = bot().await;
    bot.send(ask("stream, then cut"));
    let stream = streamed(&bot).await;
    assert!(!stream.open, "never left open");
    assert!(stream.text.starts_with(&answer()), "{}", stream.text);
    assert!(
        stream.text.ends_with("_(this answer was cut off)_"),
        "{}",
        stream.text
    );
    bot.stop().await.unwrap();
}

/// The bot crashes mid-stream (a piece's call in flight on a slow Web API, the handler done)
/// and starts again on its journal: the stream goes on, and the message ends with the whole
/// answer once, stopped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_stream_is_continued_after_the_restart_without_a_doubled_piece() {
    let stream = crash_mid_stream("stream please").await;
    assert_eq!(stream.text, answer(), "whole, once");
}

/// The bot crashes while its handler streams (its model hangs halfway); the replayed
/// handler's model says something else this time: what the first run wrote
/// stands, and the new answer goes on from the same position (no piece doubled, none
/// garbled, the same length).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_that_streams_different_text_goes_on_where_the_first_run_stopped() {
    let stream = crash_mid_stream("stream, hang, then differently").await;
    let (first, other) = (answer(), other_answer());
    let seam = stream
        .text
        .chars()
        .zip(first.chars())
        .take_while(|(a, b)| a == b)
        .count();
    assert!(seam >= 10, "the first run's start stands: {}", stream.text);
    assert!(
        seam < first.len(),
        "the replay wrote the rest: {}",
        stream.text
    );
    assert_eq!(&stream.text[seam..], &other[seam..], "{}", stream.text);
}

/// The bot crashes while its handler streams; the replayed handler asks what was delivered
/// and continues from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_handler_continues_from_what_was_delivered() {
    let stream = crash_mid_stream("stream, hang, then continue").await;
    assert_eq!(stream.text, answer(), "whole, once");
}

/// The bot crashes while its handler streams; the replayed handler goes another way and
/// never comes back to the stream: it is stopped at the end of that run, with what it has
/// and a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_the_replayed_handler_does_not_continue_is_stopped_with_a_note() {
    let stream = crash_mid_stream("stream, hang, then go another way").await;
    assert_cut_off(&stream);
}

/// A handler that brings the process down every time (here: three crashes while it streams)
/// is given up, not run again: the stream it left open is stopped with what it has and a note.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_of_an_event_given_up_after_repeated_crashes_is_stopped_with_a_note() {
    use nonstop::journal::{Mark, MAX_INTERRUPTED_STARTS};
    let stream = crash_mid_stream_then("stream, hang", |store| {
        // Two more starts cut off, as two more crashes in the replayed handler leave them.
        let cut_off = store.unfinished(10).unwrap();
        assert_eq!(cut_off.len(), 1);
        let restarts: Vec<Mark> = (1..MAX_INTERRUPTED_STARTS)
            .map(|_| Mark::Dispatched {
                key: cut_off[0].key.clone(),
            })
            .collect();
        store.commit(&[], &restarts).unwrap();
    })
    .await;
    assert_cut_off(&stream);
}

/// `stream` holds the start of the answer and ends with the note of an answer cut off.
fn assert_cut_off(stream: &StreamedMessage) {
    let written = stream.text.strip_suffix("\n\n_(this answer was cut off)_");
    let written = written.unwrap_or_else(|| panic!("no note: {}", stream.text));
    assert!(
        written.len() >= 10 && answer().starts_with(written),
        "{}",
        stream.text
    );
}

/// Crashes the bot mid-stream of `question` and starts it again: the stream once stopped.
async fn crash_mid_stream(question: &str) -> StreamedMessage {
    crash_mid_stream_then(question, |_| {}).await
}

/// [`crash_mid_stream`], with `meanwhile` done to the journal between the crash and the
/// restart.
async fn crash_mid_stream_then(
    question: &str,
    meanwhile: impl FnOnce(&dyn nonstop::Store),
) -> StreamedMessage {
    let store: std::sync::Arc<dyn nonstop::Store> =
        std::sync::Arc::new(nonstop::MemoryStore::new());
    let app = {
        let store = std::sync::Arc::clone(&store);
        move |config| {
            App::new(config)
                .with_store(std::sync::Arc::clone(&store))
                .hears("^stream", streams)
        }
    };
    let bot = TestBot::start(app.clone()).await;
    bot.sim().inject(Fault::SlowWebApi { millis: 700 });
    bot.send(ask(question));
    // The start and a first append are in the message; the next piece is on its way.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while bot.sim().streams().first().is_none_or(|s| s.pieces < 2) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream did not begin"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let sim = bot.crash().await;
    sim.inject(Fault::Heal);
    meanwhile(store.as_ref());
    let config = TestBot::config_for(&sim);
    let bot = TestBot::launch(sim, app(config));
    let stream = streamed(&bot).await;
    assert!(!stream.open);
    bot.stop().await.unwrap();
    stream
}

/// Slack refuses to start the stream (a surface that cannot show one): the answer becomes a
/// plain message in the thread, its text replaced piece by piece, and ends whole, once, with
/// the blocks under it.
#[tokio::test]
async fn a_stream_slack_refuses_becomes_one_message_updated_to_the_whole_answer() {
    let bot = bot().await;
    bot.sim().inject(Fault::FailMethod {
        method: "chat.startStream".into(),
        count: 1,
        status: 200,
        code: Some("not_allowed".into()),
    });
    bot.send(ask("stream please"));
    bot.settled().await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while bot.sim().calls("chat.update").len() < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not all pieces went"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(bot.sim().streams().is_empty());
    let posted = bot.sim().posted();
    assert_eq!(posted.len(), 1, "one message: {posted:?}");
    assert_eq!(posted[0].text, answer(), "whole");
    assert_eq!(posted[0].thread_ts.as_deref(), Some(THREAD));
    let last = bot.sim().calls("chat.update").pop().unwrap();
    let blocks = last.args["blocks"].as_str().unwrap();
    assert!(blocks.contains("feedback_buttons"), "{blocks}");
    bot.stop().await.unwrap();
}

/// A handler is timed from its last piece while it streams: an answer longer than the
/// handler timeout is not cut off; a handler silent longer than it is, and its stream is
/// stopped with what it has and a note.
#[tokio::test]
async fn a_long_stream_outlives_the_handler_timeout_and_a_silent_one_does_not() {
    async fn slow(ctx: Context, message: Message) -> HandlerResult {
        let mut stream = ctx.stream()?;
        for i in 0..24 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stream.append(&format!("piece{i:02} ")).await?;
            // Past the first pieces the stream goes quiet for longer than the timeout.
            if i == 3 && message.text.contains("silent") {
                stream.flush().await?;
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            }
        }
        stream.finish(None).await?;
        Ok(())
    }
    let bot = TestBot::start(|mut config| {
        config.handler_timeout = std::time::Duration::from_secs(1);
        App::new(config).hears("^stream", slow)
    })
    .await;
    let whole: String = (0..24).map(|i| format!("piece{i:02} ")).collect();
    bot.send(ask("stream slowly"));
    bot.expect_streamed(&whole).await;
    // 192 characters in 2.4 s: the first at once, then pieces by time, not by size.
    assert!(bot.sim().calls("chat.appendStream").len() >= 2);

    bot.send(
        inbound::message("stream, then fall silent")
            .channel("D2")
            .in_thread(THREAD),
    );
    let cut = "piece00 piece01 piece02 piece03 \n\n_(this answer was cut off)_";
    bot.expect_streamed(cut).await;
    assert_eq!(bot.status().snapshot().timed_out, 1);
    bot.stop().await.unwrap();
}

/// Slack ends a stream about five minutes after its start, whatever is still coming: the
/// rest of the answer goes into the message as updates, and the message ends with all of
/// it and the blocks (here the simulator ends streams after one second).
#[tokio::test]
async fn the_rest_of_an_answer_outliving_slacks_stream_goes_into_the_message() {
    async fn slow(ctx: Context, _message: Message) -> HandlerResult {
        let mut stream = ctx.stream()?;
        for i in 0..24 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            stream.append(&format!("piece{i:02} ")).await?;
        }
        let feedback = Block::context_actions([FeedbackButtons::new("feedback")]);
        stream.finish(Some(vec![feedback.into()])).await?;
        Ok(())
    }
    let sim = nonstop_sim::SimConfig {
        stream_lifetime: std::time::Duration::from_secs(1),
        ..nonstop_sim::SimConfig::default()
    };
    let bot = TestBot::start_with(sim, |config| App::new(config).hears("^stream", slow)).await;
    bot.send(ask("stream slowly"));
    let whole: String = (0..24).map(|i| format!("piece{i:02} ")).collect();
    let update = bot
        .expect_call("chat.update", |call| {
            call.args
                .get("blocks")
                .is_some_and(|b| b.to_string().contains("feedback_buttons"))
        })
        .await;
    assert_eq!(update.text(), Some(whole.as_str()));
    let posted = bot.sim().posted();
    assert_eq!(posted.len(), 1, "one message: {posted:?}");
    assert_eq!(posted[0].text, whole);
    bot.stop().await.unwrap();
}
