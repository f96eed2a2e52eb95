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

use common::{as_bot, free_port, nonstop, redelivering_sim, Running};
use nonstop_sim::{unix_ms, Fault, Sim, SimConfig, SimStats, TempJournal};
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

/// Starts the bot `kills` times while `sim` streams events into [`CHANNELS`], each time
/// killing it (SIGKILL) at a random moment after it is `up` (given the stats before its start
/// and now); then starts it once more and waits until every event was answered. Returns the
/// events sent, whether all were answered, and when each kill came.
async fn kill_repeatedly(
    sim: &Sim,
    kills: usize,
    seed: u64,
    spawn: impl Fn() -> Running,
    up: impl Fn(&SimStats, &SimStats) -> bool,
) -> (u64, bool, Vec<u64>) {
    let generator = nonstop_sim::spawn_generator_across(sim, &CHANNELS, 40.0, None);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut kills_ms = Vec::new();
    for _ in 0..kills {
        let before = sim.stats();
        let mut bot = spawn();
        assert!(
            sim.wait_for_stats(WAIT, |now| up(&before, now)).await,
            "bot did not come up: {:?}",
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

    let mut bot = spawn();
    let answered_all = sim
        .wait_for_stats(WAIT_ALL, |_| {
            let seen: std::collections::HashSet<String> =
                sim.posted().into_iter().map(|p| p.text).collect();
            (1..=sent).all(|n| seen.contains(&format!("pong {n}")))
        })
        .await;
    bot.kill().unwrap();
    bot.wait().unwrap();
    (sent, answered_all, kills_ms)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_nothing_and_answers_nothing_twice() {
    let sim = redelivering_sim().await;
    sim.inject(Fault::SlowWebApi { millis: 300 });
    let db = TempJournal::new("kill");
    let (sent, answered_all, kills_ms) = kill_repeatedly(
        &sim,
        KILLS,
        0x6e6f6e73746f70,
        || spawn_bot(&sim, &db.0),
        |before, now| now.sockets_opened > before.sockets_opened && now.live_sockets >= 1,
    )
    .await;
    check_each_answered_once(&sim, sent, answered_all, &kills_ms);
    println!("{KILLS} kills, {sent} events, all answered, none twice");
    assert!(sent > 200, "too few events to mean anything: {sent}");
}

/// The bot on the HTTP transport, its receiver on `port`.
fn spawn_http_bot(sim: &Sim, db: &Path, port: u16) -> Running {
    Running::spawn(
        as_bot(nonstop().arg("run"), sim, db, "error")
            .env_remove("SLACK_APP_TOKEN")
            .env("NONSTOP_TRANSPORT", "http")
            .env("SLACK_SIGNING_SECRET", &sim.config().signing_secret)
            .env("NONSTOP_HTTP_LISTEN", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )
}

/// The same over HTTP: while the bot is down, Slack's requests fail and are sent again
/// (here every half second, without Slack's limit of three: the test is about the bot's
/// journal); a request whose answer the kill cut off is sent again and answered once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_http_sigkill_ten_times_loses_nothing_and_answers_nothing_twice() {
    const HTTP_KILLS: usize = 10;
    let sim = Sim::start(SimConfig {
        echo_bot_messages: false,
        http_retry_delays: vec![Duration::from_millis(500); 2_000],
        ..SimConfig::default()
    })
    .await
    .unwrap();
    sim.inject(Fault::SlowWebApi { millis: 300 });
    let port = free_port();
    sim.set_request_url(Some(&format!("http://127.0.0.1:{port}/slack/events")));
    let db = TempJournal::new("kill-http");
    let (sent, answered_all, kills_ms) = kill_repeatedly(
        &sim,
        HTTP_KILLS,
        0x6874_7470,
        || spawn_http_bot(&sim, &db.0, port),
        |before, now| now.http_answered > before.http_answered,
    )
    .await;
    check_each_answered_once(&sim, sent, answered_all, &kills_ms);
    let stats = sim.stats();
    println!(
        "{HTTP_KILLS} kills over HTTP, {sent} events, all answered, none twice ({} requests failed while the bot was down)",
        stats.http_failed
    );
    assert!(
        stats.http_failed > 0,
        "no request ever met a dead bot: {stats:?}"
    );
    assert!(sent > 100, "too few events to mean anything: {sent}");
}

/// Every `ping 1..=sent` was answered (`answered_all`: within the wait) and none twice.
fn check_each_answered_once(sim: &Sim, sent: u64, answered_all: bool, kills_ms: &[u64]) {
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
}
