//! The bot process SIGKILLed at random moments, 20 times, while events stream into 20
//! channels and the Web API answers slowly (so replies are in flight at each kill). After the
//! last restart every event has been answered, and none twice: a reply whose call was in
//! flight at a kill is looked for by the key in its metadata before it is sent again.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{as_bot, nonstop, redelivering_sim, Running};
use nonstop_sim::{unix_ms, Fault, Sim, TempJournal};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const KILLS: usize = 20;
const WAIT: Duration = Duration::from_secs(60);
/// For the last run to answer everything: replies in flight at the last kill are looked for
/// only once a call of the killed process can no longer land (`outbox_settle`, 15 s), and each
/// channel's answers go out one at a time, each taking the slow Web API's 300 ms.
const WAIT_ALL: Duration = Duration::from_secs(180);
/// Channels the events are spread over: answers to one channel go out one at a time, in
/// order, so one channel at 300 ms a call takes about 3 a second.
const CHANNELS: [&str; 20] = [
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12", "C13", "C14", "C15",
    "C16", "C17", "C18", "C19", "C20",
];

fn spawn_bot(sim: &Sim, db: &Path) -> Running {
    Running::spawn(
        as_bot(nonstop().arg("run"), sim, db, "error")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_nothing_and_answers_nothing_twice() {
    let sim = redelivering_sim().await;
    sim.inject(Fault::SlowWebApi { millis: 300 });
    let db = TempJournal::new("kill");
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, 40.0, None);
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
        .wait_for_stats(WAIT_ALL, |_| {
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

    let doubled: Vec<String> = by_text
        .iter()
        .filter(|(_, posts)| posts.len() > 1)
        .map(|(text, posts)| {
            let at: Vec<String> = posts
                .iter()
                .map(|p| format!("{}..{}", p.requested_at_ms, p.recorded_at_ms))
                .collect();
            format!("{text} at {at:?}")
        })
        .collect();
    assert!(
        doubled.is_empty(),
        "answered twice: {doubled:?}; kills at {kills_ms:?}"
    );
    println!("{KILLS} kills, {sent} events, all answered, none twice");
    assert!(sent > 200, "too few events to mean anything: {sent}");
}
