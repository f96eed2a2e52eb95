//! The bot process SIGKILLed at random moments, 20 times, while events stream in and the Web
//! API answers slowly (so replies are in flight at each kill). After the last restart every
//! event has been answered, and an event was answered twice only where its first reply was in
//! flight at a kill: chat.postMessage has no idempotency key, so that is the floor for
//! at-least-once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

mod common;

use common::{as_bot, nonstop, redelivering_sim};
use nonstop_sim::{unix_ms, Fault, Sim, TempJournal};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KILLS: usize = 20;
const WAIT: Duration = Duration::from_secs(60);
/// Time a bot may take, after its reply was recorded, to journal that it is done.
const DONE_WINDOW_MS: u64 = 250;

fn spawn_bot(sim: &Sim, db: &Path) -> Child {
    as_bot(nonstop().arg("run"), sim, db, "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_nothing_and_doubles_only_replies_in_flight() {
    let sim = redelivering_sim().await;
    sim.inject(Fault::SlowWebApi { millis: 300 });
    let db = TempJournal::new("kill");
    let generator = nonstop_sim::spawn_generator(&sim, "C1", 40.0, None);
    let mut rng = StdRng::seed_from_u64(0x6e6f6e73746f70);
    let mut kills_ms = Vec::new();
    for _ in 0..KILLS {
        let opened = sim.stats().sockets_opened;
        let mut bot = spawn_bot(&sim, &db.0);
        assert!(
            sim.wait_for_stats(WAIT, |s| s.sockets_opened > opened && s.live_sockets >= 1)
                .await,
            "bot did not connect: {:?}",
            sim.stats()
        );
        tokio::time::sleep(Duration::from_millis(rng.random_range(200..1500))).await;
        kills_ms.push(unix_ms());
        bot.kill().unwrap(); // SIGKILL
        bot.wait().unwrap();
    }
    generator.abort();
    let _ = generator.await;
    let sent = sim.stats().envelopes_sent;

    let mut bot = spawn_bot(&sim, &db.0);
    let answered_all = sim
        .wait_for_stats(WAIT, |_| {
            let mut seen = std::collections::HashSet::new();
            for post in sim.posted() {
                seen.insert(post.text);
            }
            (1..=sent).all(|n| seen.contains(&format!("pong {n}")))
        })
        .await;
    bot.kill().unwrap();
    bot.wait().unwrap();

    let posted = sim.posted();
    let mut by_text: HashMap<&str, Vec<&nonstop_sim::PostedMessage>> = HashMap::new();
    for post in &posted {
        by_text.entry(post.text.as_str()).or_default().push(post);
    }
    let lost: Vec<u64> = (1..=sent)
        .filter(|n| !by_text.contains_key(format!("pong {n}").as_str()))
        .collect();
    assert!(
        answered_all && lost.is_empty(),
        "lost {} of {sent}: {lost:?}",
        lost.len()
    );
    assert_eq!(
        sim.stats().expired,
        0,
        "the simulator gave up on an envelope"
    );

    let mut doubled = 0;
    for (text, posts) in &by_text {
        if posts.len() < 2 {
            continue;
        }
        doubled += posts.len() - 1;
        let mut posts = posts.clone();
        posts.sort_by_key(|p| p.requested_at_ms);
        // Every reply but the last must have been in flight at some kill.
        for early in &posts[..posts.len() - 1] {
            let in_flight = kills_ms.iter().any(|kill| {
                early.requested_at_ms <= *kill && *kill <= early.recorded_at_ms + DONE_WINDOW_MS
            });
            assert!(
                in_flight,
                "{text} answered {} times, but its reply at {}..{} ms was not in flight at any kill {kills_ms:?}",
                posts.len(),
                early.requested_at_ms,
                early.recorded_at_ms
            );
        }
    }
    println!(
        "{KILLS} kills, {sent} events, all answered; {doubled} answered twice, each in flight at a kill"
    );
    assert!(sent > 200, "too few events to mean anything: {sent}");
}
