//! A real disk that fills up under a running bot: the bot says so, acks nothing it could not
//! journal (so Slack keeps redelivering), and handles everything once when space is back. And
//! a journal on a read-only filesystem: refused at start, naming the setting.
//!
//! The bot runs in a mount namespace of its own (`unshare -m`) with its journal on a small
//! tmpfs; the test fills that tmpfs through `/proc/<pid>/root`. This needs root, as CI has.
//! (A filesystem cannot be remounted read-only under a process that holds files open for
//! writing, so a journal turning read-only at run time only happens when the kernel forces
//! it; SQLite reports it through the same write-failure path as a full disk.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

mod common;

use common::{as_bot, bot_settled, free_port, redelivering_sim, Running};
use nonstop_sim::{MessageSpec, Sim, SimConfig};

const WAIT: Duration = Duration::from_secs(30);

fn namespaces_available() -> bool {
    Command::new("unshare")
        .args(["-m", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The bot, in its own mount namespace, with a 4 MiB tmpfs mounted on `dir` for its journal
/// (`options` such as `ro` added to the mount's). Killed when dropped, also when the test
/// fails: a bot left running in its own mount namespace would hold the tmpfs and keep
/// connecting. Its `/metrics` answers on `port`.
fn spawn_bot(sim: &Sim, dir: &Path, log: &Path, options: &str, port: u16) -> Running {
    let script = format!(r#"mount -t tmpfs -o size=4m{options} tmpfs "$1" && exec "$2" run"#);
    let mut command = Command::new("unshare");
    command
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(dir)
        .arg(env!("CARGO_BIN_EXE_nonstop"));
    Running::spawn(
        as_bot(&mut command, sim, &dir.join("nonstop.db"), "warn")
            .env("NONSTOP_HTTP", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap()),
    )
}

/// Fills the bot's tmpfs (seen through its namespace) until the disk says no.
fn fill(inside: &Path) -> PathBuf {
    let filler = inside.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while file.write_all(&chunk).is_ok() {}
    // Small writes for the last bytes.
    while file.write_all(&[0u8; 512]).is_ok() {}
    let _ = file.flush();
    filler
}

/// With the disk full, SQLite still writes into the part of its write-ahead log that was
/// already copied back into the file (the log restarts from its beginning), so the first
/// envelopes may still be journaled, durably, and acked. Sends `ping spill-N` one at a time,
/// each once the last was acked, until the bot logs that the journal could not write: from
/// then on it cannot. (Waiting a fixed time for an ack instead mistook a slow ack on a busy
/// machine for a refusal.)
async fn use_up_the_log(sim: &Sim, log: &Path) {
    let refused = || {
        std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("journal write failed")
    };
    for n in 0..200 {
        let acks = sim.stats().acks;
        sim.send_message(MessageSpec::new("C1", "U1", &format!("ping spill-{n}")));
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if refused() {
                return;
            }
            if sim.stats().acks > acks {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "spill-{n} neither acked nor refused: {:?}",
                sim.stats()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    panic!("200 envelopes journaled on a full disk: {:?}", sim.stats());
}

/// Sends `ping <tag>` for each tag; checks that each is refused (not acked: Slack redelivers
/// it) while the journal cannot write. Whether a redelivery is refused too depends on whether
/// SQLite got log space back in between (a checkpoint into pages the file already has): an
/// event is acked, and answered, only once it is journaled, which `each_answered_once`
/// checks from the other side.
async fn refused_while_unwritable(sim: &Sim, tags: &[String]) {
    let redeliveries = sim.stats().redeliveries;
    for tag in tags {
        sim.send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert!(
        sim.wait_for_stats(WAIT, |s| s.redeliveries >= redeliveries + tags.len() as u64)
            .await,
        "envelopes were acked although the journal could not hold them: {:?}",
        sim.stats()
    );
}

/// Each tag answered, and once: checked after the simulator holds nothing unacked (no
/// redelivery can come) and the bot on `port` has settled (nothing handled or sent later).
async fn each_answered_once(sim: &Sim, port: u16, tags: &[String]) {
    for tag in tags {
        let text = format!("pong {tag}");
        assert!(
            sim.wait_for_post(WAIT, |p| p.text == text).await.is_some(),
            "{text} never came: {:?}",
            sim.stats()
        );
    }
    assert!(
        sim.wait_for_stats(WAIT, |s| s.pending == 0).await,
        "envelopes left unacked: {:?}",
        sim.stats()
    );
    assert!(bot_settled(port, WAIT).await, "the bot never settled");
    for tag in tags {
        let text = format!("pong {tag}");
        let n = sim.posted().iter().filter(|p| p.text == text).count();
        assert_eq!(n, 1, "{text} answered {n} times");
    }
}

/// What a disk test needs and this machine may lack.
const NAMESPACES: &str = "mount namespaces (unshare -m, as root) are not available here";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_or_read_only_disk_acks_nothing_and_recovers() {
    let test = "disk::a_full_or_read_only_disk_acks_nothing_and_recovers";
    if !nonstop_test_support::unless_missing(namespaces_available(), test, NAMESPACES) {
        return;
    }
    let sim = redelivering_sim().await;
    let scratch =
        Scratch(std::env::temp_dir().join(format!("nonstop-disk-{}", std::process::id())));
    let dir = scratch.0.join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let log = scratch.0.join("bot.log");
    let port = free_port();
    let bot = spawn_bot(&sim, &dir, &log, "", port);
    let pid = bot.id();
    // The bot's view of its journal directory: the tmpfs, not the directory out here.
    let inside = PathBuf::from(format!("/proc/{pid}/root{}", dir.display()));
    assert!(
        sim.wait_for_stats(WAIT, |s| s.live_sockets == 2).await,
        "bot did not connect: {:?}; log: {}",
        sim.stats(),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    sim.send_message(MessageSpec::new("C1", "U1", "ping before"));
    each_answered_once(&sim, port, &["before".to_owned()]).await;
    assert!(
        inside.join("nonstop.db").exists(),
        "journal not on the tmpfs"
    );

    // Disk full.
    let filler = fill(&inside);
    use_up_the_log(&sim, &log).await;
    let full: Vec<String> = (1..=5).map(|i| format!("full-{i}")).collect();
    refused_while_unwritable(&sim, &full).await;
    std::fs::remove_file(&filler).unwrap();
    each_answered_once(&sim, port, &full).await;

    drop(bot);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("journal write failed"), "{log}");
    assert!(
        log.contains("disk is full"),
        "the full disk is named: {log}"
    );
    assert!(log.contains("journal writes work again"), "{log}");
}

#[tokio::test]
async fn a_journal_on_a_read_only_filesystem_is_refused_at_start() {
    let test = "disk::a_journal_on_a_read_only_filesystem_is_refused_at_start";
    if !nonstop_test_support::unless_missing(namespaces_available(), test, NAMESPACES) {
        return;
    }
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let scratch = Scratch(std::env::temp_dir().join(format!("nonstop-ro-{}", std::process::id())));
    let dir = scratch.0.join("journal");
    std::fs::create_dir_all(&dir).unwrap();
    let log = scratch.0.join("bot.log");
    let mut bot = spawn_bot(&sim, &dir, &log, ",ro", free_port());
    let status = tokio::task::spawn_blocking(move || bot.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(!status.success());
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("could not open the journal"), "{log}");
    assert!(log.contains("NONSTOP_DB"), "{log}");
    assert_eq!(
        sim.stats().connect_calls,
        0,
        "no socket before the journal is open"
    );
}
