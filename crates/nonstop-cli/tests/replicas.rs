//! Three `nonstop run` processes on one Redis (`REDIS_URL`, the machine's at 127.0.0.1:6379
//! unless `NONSTOP_TEST_REDIS` names another, under a fresh key prefix) against one
//! simulator, while events stream into 20 channels: replicas SIGKILLed at random and
//! restarted, and a rolling restart. Every event answered, none twice, and through the rolling
//! restart the app never without a live socket.
//!
//! Not the defaults: `NONSTOP_TAKEOVER_SECS=3` (30 by default), so that a killed replica's
//! work is taken over within the test's patience. The kill test runs 12 kills at 40 events/s;
//! `NONSTOP_REPLICAS_FULL=1` runs it at the scale (20 kills over about two minutes at
//! 200 events/s), a few minutes, by hand.
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
    let full = std::env::var("NONSTOP_REPLICAS_FULL").is_ok_and(|v| v == "1");
    let (kills, per_second, pause_ms) = if full {
        (20, 200.0, 3_000..9_000)
    } else {
        (12, 40.0, 300..1_500)
    };
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
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, per_second, None);
    let mut rng = StdRng::seed_from_u64(0x7265_706c_6963_6173);
    for _ in 0..kills {
        tokio::time::sleep(Duration::from_millis(rng.random_range(pause_ms.clone()))).await;
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
    println!(
        "{kills} kills of 3 replicas at {per_second}/s, {sent} events, all answered, none twice"
    );
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

/// A `redis-server` of the test's own (AOF, fsync always) on a free port, stopped with
/// SIGTERM and started again on the same port and data.
struct OwnRedis {
    port: u16,
    dir: std::path::PathBuf,
    process: Option<Child>,
}

impl OwnRedis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = std::env::temp_dir().join(format!("nonstop-cli-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut redis = OwnRedis {
            port,
            dir,
            process: None,
        };
        redis.up();
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn up(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "yes", "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server (.ci/run installs it)");
        self.process = Some(child);
        let deadline = std::time::Instant::now() + WAIT;
        while std::time::Instant::now() < deadline {
            let ping = redis::Client::open(self.url())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_secs(1)))
                .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c));
            if ping.is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on port {} never answered", self.port);
    }

    fn down(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = std::process::Command::new("kill")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_under_load_costs_nothing_and_no_replica_exits() {
    let mut redis = tokio::task::spawn_blocking(OwnRedis::start).await.unwrap();
    let sim = redelivering_sim().await;
    let db = TempJournal::new("replicas-redis-down");
    let spawn = |sim: &Sim| {
        as_bot(nonstop().arg("run"), sim, &db.0, "error")
            .env("REDIS_URL", redis.url())
            .env("NONSTOP_TAKEOVER_SECS", "3")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut replicas: Vec<Child> = (0..3).map(|_| spawn(&sim)).collect();
    assert!(sim.wait_for_stats(WAIT, |s| s.live_sockets == 6).await);
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, 40.0, None);
    tokio::time::sleep(Duration::from_secs(2)).await;
    redis = tokio::task::spawn_blocking(move || {
        redis.down();
        redis
    })
    .await
    .unwrap();
    let acks_when_down = sim.stats().acks;
    tokio::time::sleep(Duration::from_secs(5)).await;
    // Nothing acked while Redis was away (a batch in flight at the stop may have made it).
    let acked_while_down = sim.stats().acks - acks_when_down;
    redis = tokio::task::spawn_blocking(move || {
        redis.up();
        redis
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    generator.abort();
    let _ = generator.await;
    let sent = sim.stats().envelopes_sent;
    let doubled = answered_once(&sim, sent).await;
    let exited: Vec<_> = replicas
        .iter_mut()
        .filter_map(|r| r.try_wait().ok().flatten())
        .collect();
    for mut replica in replicas {
        let _ = replica.kill();
        let _ = replica.wait();
    }
    drop(redis);
    assert!(exited.is_empty(), "replicas exited: {exited:?}");
    assert!(
        acked_while_down <= 10,
        "acked {acked_while_down} while Redis was down"
    );
    assert!(doubled.is_empty(), "answered twice: {doubled:?}");
    println!("Redis stopped 5 s under 40 events/s with 3 replicas: {sent} events, all answered once, {acked_while_down} acked meanwhile");
}
