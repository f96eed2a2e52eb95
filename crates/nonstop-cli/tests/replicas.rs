//! Three `nonstop run` processes on one Redis (`REDIS_URL`, the machine's at 127.0.0.1:6379
//! unless `NONSTOP_TEST_REDIS` names another, under a fresh key prefix) against one
//! simulator, while events stream into 20 channels: replicas SIGKILLed at random and
//! restarted, and a rolling restart. Every event answered, none twice, and through the rolling
//! restart the app never without a live socket.
//!
//! Not the defaults: `NONSTOP_TAKEOVER_SECS=3` (30 by default), so that a killed replica's
//! work is taken over within the test's patience.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::process::{Child, Stdio};
use std::time::Duration;

mod common;

use common::{as_bot, nonstop, redelivering_sim};
use nonstop_sim::{Sim, TempJournal};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const WAIT: Duration = Duration::from_secs(60);
/// For the last answers: those in flight at a kill are looked for only once a call of the
/// killed process can no longer land (`outbox_settle`, 15 s), after the takeover (3 s).
const WAIT_ALL: Duration = Duration::from_secs(180);
const CHANNELS: [&str; 20] = [
    "C1", "C2", "C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C12", "C13", "C14", "C15",
    "C16", "C17", "C18", "C19", "C20",
];

fn redis_url() -> String {
    std::env::var("NONSTOP_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// A key prefix of this test's own; its keys are deleted when it is dropped.
struct Prefix(String);

impl Prefix {
    fn new(name: &str) -> Self {
        Prefix(format!("nonstop-test:{name}:{:08x}", rand::random::<u32>()))
    }
}

impl Drop for Prefix {
    fn drop(&mut self) {
        let Ok(mut conn) = redis::Client::open(redis_url()).and_then(|c| c.get_connection()) else {
            return;
        };
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}:*", self.0))
            .query(&mut conn)
            .unwrap_or_default();
        if !keys.is_empty() {
            let _: redis::RedisResult<()> = redis::cmd("DEL").arg(&keys).query(&mut conn);
        }
    }
}

fn spawn_replica(sim: &Sim, prefix: &Prefix, db: &TempJournal) -> Child {
    as_bot(nonstop().arg("run"), sim, &db.0, "error")
        .env("REDIS_URL", redis_url())
        .env("NONSTOP_REDIS_PREFIX", &prefix.0)
        .env("NONSTOP_TAKEOVER_SECS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Waits until every `pong 1..=sent` was posted; then what was posted more than once.
async fn answered_once(sim: &Sim, sent: u64) -> Vec<String> {
    let answered_all = sim
        .wait_for_stats(WAIT_ALL, |_| {
            let seen: std::collections::HashSet<String> =
                sim.posted().into_iter().map(|p| p.text).collect();
            (1..=sent).all(|n| seen.contains(&format!("pong {n}")))
        })
        .await;
    let mut by_text: HashMap<String, usize> = HashMap::new();
    for post in sim.posted() {
        *by_text.entry(post.text).or_default() += 1;
    }
    let lost: Vec<u64> = (1..=sent)
        .filter(|n| !by_text.contains_key(&format!("pong {n}")))
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
    let mut doubled: Vec<String> = by_text
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(text, n)| format!("{text} x{n}"))
        .collect();
    doubled.sort();
    doubled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sigkilled_at_random_lose_nothing_and_answer_nothing_twice() {
    const KILLS: usize = 12;
    let sim = redelivering_sim().await;
    sim.inject(nonstop_sim::Fault::SlowWebApi { millis: 300 });
    let prefix = Prefix::new("cli-kill");
    let db = TempJournal::new("replicas-kill");
    let mut replicas: Vec<Child> = (0..3).map(|_| spawn_replica(&sim, &prefix, &db)).collect();
    assert!(
        sim.wait_for_stats(WAIT, |s| s.live_sockets == 6).await,
        "{:?}",
        sim.stats()
    );
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, 40.0, None);
    let mut rng = StdRng::seed_from_u64(0x7265_706c_6963_6173);
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.random_range(300..1500))).await;
        let victim = rng.random_range(0..replicas.len());
        replicas[victim].kill().unwrap(); // SIGKILL
        replicas[victim].wait().unwrap();
        // Sometimes it stays dead for longer than the lease: the others take its work.
        if rng.random_bool(0.3) {
            tokio::time::sleep(Duration::from_secs(4)).await;
        }
        replicas[victim] = spawn_replica(&sim, &prefix, &db);
    }
    generator.abort();
    let _ = generator.await;
    let sent = sim.stats().envelopes_sent;
    let doubled = answered_once(&sim, sent).await;
    for mut replica in replicas {
        let _ = replica.kill();
        let _ = replica.wait();
    }
    assert!(doubled.is_empty(), "answered twice: {doubled:?}");
    assert!(sent > 200, "too few events to mean anything: {sent}");
    println!("{KILLS} kills of 3 replicas, {sent} events, all answered, none twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_never_leaves_the_app_without_a_socket() {
    let sim = redelivering_sim().await;
    let prefix = Prefix::new("cli-rolling");
    let db = TempJournal::new("replicas-rolling");
    let mut replicas: Vec<Child> = (0..3).map(|_| spawn_replica(&sim, &prefix, &db)).collect();
    assert!(sim.wait_for_stats(WAIT, |s| s.live_sockets == 6).await);
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, 40.0, None);
    for (i, replica) in replicas.iter_mut().enumerate() {
        tokio::time::sleep(Duration::from_millis(700)).await;
        // SIGTERM: it drains (no new envelopes, handlers finished, sockets closed) and exits 0.
        std::process::Command::new("kill")
            .args(["-TERM", &replica.id().to_string()])
            .status()
            .unwrap();
        let status = common::exited_within(replica, WAIT).await;
        assert!(status.success(), "replica {i} exited with {status}");
        *replica = spawn_replica(&sim, &prefix, &db);
        assert!(
            sim.wait_for_stats(WAIT, |s| s.live_sockets == 6).await,
            "{:?}",
            sim.stats()
        );
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    generator.abort();
    let _ = generator.await;
    let sent = sim.stats().envelopes_sent;
    let doubled = answered_once(&sim, sent).await;
    let deaf = sim.stats().deaf_spells;
    for mut replica in replicas {
        let _ = replica.kill();
        let _ = replica.wait();
    }
    assert_eq!(deaf, 0, "the app was left without a live socket");
    // The count can count: all three gone at once is one spell.
    assert!(
        sim.wait_for_stats(WAIT, |s| s.deaf_spells == 1).await,
        "{:?}",
        sim.stats()
    );
    assert!(doubled.is_empty(), "answered twice: {doubled:?}");
    println!("rolling restart of 3 replicas: {sent} events, all answered, none twice, never deaf");
}
