//! Answers are never lost: what handlers send goes through the outbox, waits out Slack's limits
//! without being dropped, goes out in order per channel, survives restarts, and is never
//! posted twice, even when a crash cut its call off.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nonstop::journal::{JournalStore, OutboxStore};
use std::time::{Duration, SystemTime};

use common::{bot_config, sim_config, text_of, Harness, WAIT};
use nonstop::journal::{Batch, NewOutput, OutputMark};
use nonstop::{App, Config, Context, DeliveryError, Envelope, SqliteStore};
use nonstop_sim::{unix_ms, Fault, MessageSpec, PostedMessage, Sim, SimConfig, TempJournal};
use serde_json::json;

/// A bot with the default settings against `sim`, its journal at `db`.
fn default_config(sim: &Sim, db: &TempJournal) -> Config {
    let mut config = Config::new(&sim.config().app_token, &sim.config().bot_token).unwrap();
    config.api_url = sim.api_url();
    config.journal_path = Some(db.0.clone());
    config
}

/// The bot's posts in `channel` whose text starts with `prefix`, in the order Slack took them.
fn posts_in(sim: &Sim, channel: &str, prefix: &str) -> Vec<PostedMessage> {
    sim.posted()
        .into_iter()
        .filter(|p| p.channel == channel && p.text.starts_with(prefix))
        .collect()
}

fn texts(posts: &[PostedMessage]) -> Vec<String> {
    posts.iter().map(|p| p.text.clone()).collect()
}

/// Each of `expected` posted exactly once, and in the order the outbox wrote the answers (the
/// promise: one channel's answers go out in written order; handlers of different events run
/// side by side, so on a busy machine two close events' answers may be written either way).
fn assert_each_once_in_written_order(
    posts: &[PostedMessage],
    expected: &[String],
    db: &TempJournal,
) {
    let mut posted = texts(posts);
    posted.sort();
    let mut wanted = expected.to_vec();
    wanted.sort();
    assert_eq!(posted, wanted, "every answer once");
    let store = SqliteStore::open_read_only(&db.0).unwrap();
    let written: std::collections::HashMap<String, i64> = store
        .outbox_recent(100_000, None)
        .unwrap()
        .into_iter()
        .filter_map(|output| {
            let args: serde_json::Value = serde_json::from_str(&output.args).ok()?;
            Some((args["text"].as_str()?.to_owned(), output.id))
        })
        .collect();
    let ids: Vec<i64> = posts.iter().map(|p| written[&p.text]).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] < pair[1]),
        "posted out of written order: {:?}",
        posts.iter().zip(&ids).collect::<Vec<_>>()
    );
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Sends `ping <prefix><n>` for n in 1..=count into `channel`, `per_second`; returns when
/// each was sent (ms since the epoch).
async fn send_pings(
    sim: &Sim,
    channel: &str,
    prefix: &str,
    count: usize,
    per_second: f64,
) -> Vec<u64> {
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    let mut sent = Vec::with_capacity(count);
    for n in 1..=count {
        tick.tick().await;
        sent.push(unix_ms());
        sim.send_message(MessageSpec::new(
            channel,
            "U1",
            &format!("ping {prefix}{n}"),
        ));
    }
    sent
}

/// The first proof, with the default settings: ten messages a second into one
/// channel for a minute, every one answered once, in the order the answers were written. (With the old default pace of one
/// message a second per channel, 36 of 300 were answered in 30 s.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_a_second_into_one_channel_for_a_minute_all_answered_in_order() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let db = TempJournal::new("outbox-minute");
    let config = default_config(&sim, &db);
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    let sent = send_pings(h.sim(), "C1", "m", 600, 10.0).await;
    let all = h
        .sim()
        .wait_for_stats(WAIT, |_| posts_in(h.sim(), "C1", "pong m").len() >= 600)
        .await;
    let posts = posts_in(h.sim(), "C1", "pong m");
    assert!(all, "answered {} of 600", posts.len());
    let expected: Vec<String> = (1..=600).map(|n| format!("pong m{n}")).collect();
    assert_each_once_in_written_order(&posts, &expected, &db);
    let mut latency: Vec<u64> = posts
        .iter()
        .zip(&sent)
        .map(|(post, sent)| post.recorded_at_ms.saturating_sub(*sent))
        .collect();
    latency.sort_unstable();
    let (p50, p99) = (percentile(&latency, 0.5), percentile(&latency, 0.99));
    println!(
        "reply latency over 600 at 10/s: p50 {p50} ms, p99 {p99} ms, max {} ms",
        latency[latency.len() - 1]
    );
    // The 1 s target is measured on the release build (BENCHMARKS.md); here a debug build on a
    // busy machine. A pace of our own (1/s) would put the last answers a minute late.
    assert!(p99 < 5_000, "p99 {p99} ms");
    assert_eq!(h.status().snapshot().answers_failed, 0);
    h.stop().await.unwrap();
}

/// The second proof: Slack's per-channel limit (a burst, then 429 with Retry-After)
/// delays answers; none is dropped, none goes out of written order, no call comes before Slack's
/// Retry-After ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_limit_delays_answers_in_order_and_no_call_comes_early() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.inject(Fault::ChannelLimit {
        burst: 5,
        per_sec: 2.0,
    });
    let db = TempJournal::new("outbox-limit");
    let config = default_config(&sim, &db);
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    send_pings(h.sim(), "C1", "l", 40, 10.0).await;
    let all = h
        .sim()
        .wait_for_stats(Duration::from_secs(60), |_| {
            posts_in(h.sim(), "C1", "pong l").len() >= 40
        })
        .await;
    let posts = posts_in(h.sim(), "C1", "pong l");
    assert!(all, "answered {} of 40", posts.len());
    let expected: Vec<String> = (1..=40).map(|n| format!("pong l{n}")).collect();
    assert_each_once_in_written_order(&posts, &expected, &db);
    let limited = h
        .sim()
        .calls("chat.postMessage")
        .iter()
        .filter(|c| c.status == 429)
        .count();
    assert!(limited > 0, "the limit never applied");
    assert_eq!(
        h.sim().early_calls(),
        0,
        "a call came before Retry-After ran out"
    );
    assert!(h.status().wait_for(WAIT, |s| s.answers_sent == 40).await);
    let status = h.status().snapshot();
    assert_eq!((status.answers_failed, status.timed_out), (0, 0));
    h.stop().await.unwrap();
}

/// The fourth proof: a thousand answers queued in one channel (Slack refuses them
/// all for now) survive a restart and then go out, in order, each once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_queued_answers_survive_a_restart_and_go_out_in_order() {
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::RateLimitMethod {
        method: "chat.postMessage".into(),
        secs: 3600,
    });
    let db = TempJournal::new("outbox-restart");
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let first = Harness::launch(sim, App::new(config.clone()).with_builtin_commands());
    first.wait_live(2).await;
    for n in 1..=1000 {
        first
            .sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping q{n}")));
    }
    assert!(
        first
            .status()
            .wait_for(Duration::from_secs(60), |s| s.handled == 1000
                && s.answers_waiting == 1000)
            .await,
        "handlers done and answers queued: {:?}",
        first.status().snapshot()
    );
    assert!(posts_in(first.sim(), "C1", "pong q").is_empty());
    let (stopped, sim) = first.stop_keeping_sim().await;
    stopped.unwrap();
    sim.inject(Fault::Heal);
    // Handlers run side by side, so the answers were written in the order the handlers got
    // to them; that order is the one they must go out in.
    let written: Vec<String> = {
        let store = SqliteStore::open_read_only(&db.0).unwrap();
        store
            .outbox_unfinished(2000)
            .unwrap()
            .iter()
            .map(|o| {
                let args: serde_json::Value = serde_json::from_str(&o.args).unwrap();
                args["text"].as_str().unwrap().to_owned()
            })
            .collect()
    };
    assert_eq!(written.len(), 1000);
    let unsure: Vec<i64> = {
        let store = SqliteStore::open_read_only(&db.0).unwrap();
        let unfinished = store.outbox_unfinished(2000).unwrap();
        unfinished
            .iter()
            .filter(|o| o.attempted_at.is_some())
            .map(|o| o.id)
            .collect()
    };
    // Each was written with an attempt cover; those that waited in the lane had it cleared,
    // and the refused calls cleared theirs: none needs looking for after the restart.
    assert!(unsure.is_empty(), "answers left unsure: {unsure:?}");

    // Second life on the same journal: the outbox goes out before anything new.
    let second = Harness::launch(sim, App::new(config).with_builtin_commands());
    let all = second
        .sim()
        .wait_for_stats(Duration::from_secs(60), |_| {
            posts_in(second.sim(), "C1", "pong q").len() >= 1000
        })
        .await;
    let posts = posts_in(second.sim(), "C1", "pong q");
    assert!(all, "delivered {} of 1000", posts.len());
    assert_eq!(texts(&posts), written, "each once, in the order written");
    let status = second.status().snapshot();
    assert_eq!(status.replayed, 0, "the events were done before the stop");
    assert!(
        second
            .status()
            .wait_for(WAIT, |s| s.answers_sent == 1000)
            .await
    );
    second.stop().await.unwrap();
}

/// A handler cut off by a crash after its first answer runs again; its first answer, which
/// went out already, is not sent again; its second, which never went out, is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_handler_sends_only_what_never_went_out() {
    async fn handler(ctx: Context, envelope: Envelope) -> nonstop::HandlerResult {
        if text_of(&envelope) != "deploy" {
            return Ok(());
        }
        ctx.say("deploying").await?.delivered().await?;
        if ctx.attempt() == 0 {
            // The process dies here, the first time.
            std::future::pending::<()>().await;
        }
        ctx.say(&format!("deployed (attempt {})", ctx.attempt()))
            .await?;
        Ok(())
    }
    let db = TempJournal::new("outbox-replay");
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    config.handler_timeout = Duration::from_secs(3600);
    let first = Harness::launch(sim, App::with_handler(config.clone(), handler));
    first.wait_live(2).await;
    first
        .sim()
        .send_message(MessageSpec::new("C1", "U1", "deploy"));
    first.expect_post("deploying").await;
    // Its outcome reaches the journal in a later commit: crash only once it is there.
    let journal = SqliteStore::open_read_only(&db.0).unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    while !journal
        .outbox_counts()
        .unwrap()
        .contains(&(nonstop::journal::OutputState::Sent, 1))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never recorded as sent"
        );
        // Polled: the writer is a thread of its own, with no event to await across it.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(journal);
    let sim = first.crash().await;
    common::journal_released(&db.0).await;

    let second = Harness::launch(sim, App::with_handler(config, handler));
    second.expect_post("deployed (attempt 1)").await;
    assert_eq!(second.status().snapshot().replayed, 1);
    assert_eq!(
        second.count_posts("deploying"),
        1,
        "{:?}",
        second.sim().posted()
    );
    second.stop().await.unwrap();
}

/// Writes answers to the outbox of the journal at `path` as a crashed process would have
/// left them: each with a call made a minute ago whose outcome is unknown.
fn left_by_a_crash(path: &std::path::Path, answers: &[(&str, serde_json::Value)]) -> Vec<i64> {
    let store = SqliteStore::open(path, nonstop::config::Durability::Normal).unwrap();
    let a_minute_ago = SystemTime::now() - Duration::from_secs(60);
    let outputs: Vec<NewOutput> = answers
        .iter()
        .map(|(key, args)| NewOutput {
            key: (*key).to_owned(),
            lane: "C1".to_owned(),
            method: "chat.postMessage".to_owned(),
            args: args.to_string(),
            created_at: a_minute_ago,
            attempt_covered_until: None,
            workspace: None,
        })
        .collect();
    let written = store
        .write(&Batch {
            outputs: &outputs,
            ..Batch::default()
        })
        .unwrap();
    let ids: Vec<i64> = written
        .outputs
        .iter()
        .map(|o| match o {
            nonstop::journal::OutputAppended::Fresh { id } => *id,
            other => panic!("{other:?}"),
        })
        .collect();
    let marks: Vec<OutputMark> = ids
        .iter()
        .map(|id| OutputMark::Attempt {
            id: *id,
            at: a_minute_ago,
        })
        .collect();
    store
        .write(&Batch {
            output_marks: &marks,
            ..Batch::default()
        })
        .unwrap();
    ids
}

/// The third proof, made deterministic: a crash left three answers whose calls were
/// in flight. Two reached Slack (one in a thread); they are found by the key in their
/// metadata and not sent again. The third never arrived, so it is sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_a_crash_cut_off_are_looked_for_before_they_are_sent_again() {
    let db = TempJournal::new("outbox-lookup");
    let sim = Sim::start(sim_config()).await.unwrap();
    let web = nonstop::WebClient::new(
        &sim.api_url(),
        Some(nonstop::Secret::new(sim.config().bot_token.clone())),
        Duration::from_secs(5),
    )
    .unwrap();
    // What reached Slack before the crash: posted with the outbox's metadata.
    let metadata = |key: &str| json!({"event_type": "nonstop_outbox", "event_payload": {"nonstop_outbox": key}});
    let parent = web
        .call(
            "chat.postMessage",
            &json!({"channel": "C1", "text": "top", "metadata": metadata("EvA#0")}),
        )
        .await
        .unwrap();
    let parent_ts = parent["ts"].as_str().unwrap().to_owned();
    web.call(
        "chat.postMessage",
        &json!({"channel": "C1", "text": "in thread", "thread_ts": parent_ts, "metadata": metadata("EvA#1")}),
    )
    .await
    .unwrap();
    left_by_a_crash(
        &db.0,
        &[
            ("EvA#0", json!({"channel": "C1", "text": "top"})),
            (
                "EvA#1",
                json!({"channel": "C1", "text": "in thread", "thread_ts": parent_ts}),
            ),
            ("EvA#2", json!({"channel": "C1", "text": "never arrived"})),
        ],
    );

    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let h = Harness::launch(sim, App::new(config));
    assert!(
        h.status()
            .wait_for(WAIT, |s| s.answers_sent == 3 && s.answers_waiting == 0)
            .await,
        "{:?}",
        h.status().snapshot()
    );
    h.expect_post("never arrived").await;
    assert_eq!(h.count_posts("top"), 1, "found, not sent again");
    assert_eq!(
        h.count_posts("in thread"),
        1,
        "found in the thread, not sent again"
    );
    assert!(!h.sim().calls("conversations.history").is_empty());
    assert!(!h.sim().calls("conversations.replies").is_empty());
    // The one sent now carries its key, so a crash during its call would find it too.
    let sent = h
        .sim()
        .posted()
        .into_iter()
        .find(|p| p.text == "never arrived")
        .unwrap();
    assert_eq!(
        sent.metadata.unwrap()["event_payload"]["nonstop_outbox"],
        "EvA#2"
    );
    h.stop().await.unwrap();
}

/// Waiting for a delivery held up by a rate limit does not count against the handler's
/// timeout; a refusal comes back to the handler as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_delivery_is_not_the_handlers_time_and_refusals_come_back() {
    async fn handler(ctx: Context, envelope: Envelope) -> nonstop::HandlerResult {
        match text_of(&envelope).as_str() {
            "slow" => {
                let delivered = ctx.say("through the limit").await?.delivered().await?;
                let ts = delivered.ts().unwrap_or("none").to_owned();
                ctx.say(&format!("posted at {ts}")).await?;
            }
            "refused" => match ctx.say("nowhere").await?.delivered().await {
                Err(DeliveryError::Refused { error, .. }) => {
                    ctx.say(&format!("refused: {error}")).await?;
                }
                other => ctx.say(&format!("unexpected: {other:?}")).await.map(drop)?,
            },
            _ => {}
        }
        Ok(())
    }
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.handler_timeout = Duration::from_secs(1);
    let h = Harness::launch(sim, App::with_handler(config, handler));
    h.wait_live(2).await;
    h.sim().inject(Fault::RateLimitMethod {
        method: "chat.postMessage".into(),
        secs: 3,
    });
    h.sim().send_message(MessageSpec::new("C1", "U1", "slow"));
    let first = h.expect_post("through the limit").await;
    h.expect_post(&format!("posted at {}", first.ts)).await;
    assert!(h.status().wait_for(WAIT, |s| s.handled == 1).await);
    assert_eq!(h.status().snapshot().timed_out, 0);

    h.sim().inject(Fault::FailMethod {
        method: "chat.postMessage".into(),
        count: 1,
        status: 200,
        code: Some("channel_not_found".into()),
    });
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "refused"));
    h.expect_post("refused: channel_not_found").await;
    assert!(h.status().wait_for(WAIT, |s| s.handled == 2).await);
    assert_eq!(h.status().snapshot().answers_failed, 1);
    h.stop().await.unwrap();
}

/// At its bound, the outbox holds intake back: new envelopes stay unacked with Slack, which
/// delivers them again; once Slack takes answers again, every event is answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_leaves_new_events_with_slack_and_loses_none() {
    let sim = Sim::start(SimConfig {
        max_redeliveries: 1_000,
        ..sim_config()
    })
    .await
    .unwrap();
    let mut config = bot_config(&sim);
    config.outbox_bound = 5;
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    h.sim().inject(Fault::RateLimitMethod {
        method: "chat.postMessage".into(),
        secs: 5,
    });
    let send = |range: std::ops::RangeInclusive<u32>| {
        for n in range {
            h.sim()
                .send_message(MessageSpec::new("C1", "U1", &format!("ping b{n}")));
        }
    };
    // The bound is checked as envelopes arrive: those that came before the answers were
    // written get in.
    send(1..=10);
    assert!(h.status().wait_for(WAIT, |s| s.answers_waiting >= 5).await);
    send(11..=20);
    assert!(
        h.status().wait_for(WAIT, |s| s.held_back > 0).await,
        "{:?}",
        h.status().snapshot()
    );
    let taken = h.status().snapshot().envelopes;
    assert!(taken <= 10, "{taken} taken: some past the bound");
    let all = h
        .sim()
        .wait_for_stats(Duration::from_secs(60), |_| {
            posts_in(h.sim(), "C1", "pong b").len() >= 20
        })
        .await;
    assert!(all, "{:?}", texts(&posts_in(h.sim(), "C1", "pong b")));
    for n in 1..=20 {
        assert_eq!(h.count_posts(&format!("pong b{n}")), 1, "pong b{n}");
    }
    assert_eq!(h.sim().stats().expired, 0);
    h.stop().await.unwrap();
}

/// A `Context` that user code keeps after its handler returned (in a task of its own) holds
/// the way into the journal; it must not keep the bot from stopping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_context_kept_by_user_code_does_not_hold_the_stop() {
    let h = Harness::start_with_handler(|ctx: Context, _envelope: Envelope| async move {
        tokio::spawn(async move {
            let _kept = ctx;
            std::future::pending::<()>().await;
        });
        Ok(())
    })
    .await;
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "keep me"));
    assert!(h.status().wait_for(WAIT, |s| s.handled == 1).await);
    h.stop().await.unwrap();
}

/// Issue 25: a `chat.postMessage` whose reply was lost held its channel about 15 s (the
/// outbox waits until a late call can no longer land before it looks). The message is looked
/// for a first time soon after: found, the channel goes on at once. With a settle far longer
/// than the test waits, the next answer must still come within it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_holds_its_channel_only_until_the_message_is_found() {
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::LoseReply {
        method: "chat.postMessage".into(),
        count: 1,
    });
    let mut config = bot_config(&sim);
    config.outbox_settle = Duration::from_secs(300);
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "ping lost-reply"));
    h.expect_post("pong lost-reply").await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "ping after-it"));
    h.expect_post("pong after-it").await;
    assert_eq!(h.count_posts("pong lost-reply"), 1);
    assert_eq!(h.count_posts("pong after-it"), 1);
    h.stop().await.unwrap();
}

/// Issue 26: an answer's first call makes no attempt mark of its own; the mark written with
/// the answer covers it. A crash while that call's answer is under way (the message posted,
/// its reply lost, the history unreadable so the first process cannot find it) leaves the
/// answer looking attempted: the next process looks for it and does not post it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_made_under_the_cover_written_with_its_answer_is_found_after_a_crash() {
    let db = TempJournal::new("outbox-cover");
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::LoseReply {
        method: "chat.postMessage".into(),
        count: 1,
    });
    sim.inject(Fault::FailMethod {
        method: "conversations.history".into(),
        count: 10_000,
        status: 500,
        code: None,
    });
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    config.outbox_settle = Duration::from_millis(500);
    let first = Harness::launch(sim, App::new(config.clone()).with_builtin_commands());
    first.wait_live(2).await;
    first
        .sim()
        .send_message(MessageSpec::new("C1", "U1", "ping covered"));
    first.expect_post("pong covered").await;
    let sim = first.crash().await;
    common::journal_released(&db.0).await;
    let left = SqliteStore::open_read_only(&db.0)
        .unwrap()
        .outbox_unfinished(10)
        .unwrap();
    let [answer] = &left[..] else {
        panic!("one answer left by the crash: {left:?}")
    };
    assert_eq!(answer.attempts, 0, "no attempt mark of its own: {answer:?}");
    assert!(answer.attempted_at.is_some(), "the cover: {answer:?}");

    sim.inject(Fault::Heal);
    let second = Harness::launch(sim, App::new(config).with_builtin_commands());
    assert!(
        second
            .status()
            .wait_for(WAIT, |s| s.answers_sent == 1 && s.answers_waiting == 0)
            .await,
        "{:?}",
        second.status().snapshot()
    );
    assert_eq!(
        second.count_posts("pong covered"),
        1,
        "found, not sent again: {:?}",
        second.sim().posted()
    );
    second.stop().await.unwrap();
}
