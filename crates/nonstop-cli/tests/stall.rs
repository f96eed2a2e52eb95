//! The bot process stopped (SIGSTOP) for 10 s while events stream in, then continued
//! (SIGCONT), as a laptop lid, a VM pause or a debugger would do it. Slack keeps sending, and
//! redelivering, into the sockets while the process sleeps; those frames wait in the sockets'
//! buffers. The bot must read them rather than call its sockets dead for the silence it slept
//! through: with Slack's schedule (three redeliveries, 3 s apart) an envelope not acked soon
//! after the stall is gone for good.
#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

mod common;

use common::{as_bot, nonstop, signal, Running};
use nonstop_sim::{Sim, SimConfig, TempJournal};

const CHANNELS: [&str; 4] = ["C1", "C2", "C3", "C4"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_second_stall_of_the_process_loses_no_event() {
    // Slack's own redelivery schedule, and the bot's posts not echoed back.
    let sim = Sim::start(SimConfig {
        echo_bot_messages: false,
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let db = TempJournal::new("stall");
    let log = db.0.with_extension("log");
    let mut bot = Running::spawn(
        as_bot(nonstop().arg("run"), &sim, &db.0, "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap()),
    );
    assert!(
        sim.wait_for_stats(Duration::from_secs(30), |s| s.live_sockets >= 2)
            .await,
        "bot did not connect: {:?}",
        sim.stats()
    );
    let generator = nonstop_sim::spawn_generator_across(&sim, &CHANNELS, 30.0, None);
    tokio::time::sleep(Duration::from_secs(3)).await;
    signal(&bot, "STOP");
    tokio::time::sleep(Duration::from_secs(10)).await;
    signal(&bot, "CONT");
    tokio::time::sleep(Duration::from_secs(5)).await;
    generator.abort();
    let _ = generator.await;
    let sent = sim.stats().envelopes_sent;

    let answered_all = sim
        .wait_for_stats(Duration::from_secs(60), |_| {
            let seen: HashSet<String> = sim.posted().into_iter().map(|p| p.text).collect();
            (1..=sent).all(|n| seen.contains(&format!("pong {n}")))
        })
        .await;
    let _ = bot.kill();
    let _ = bot.wait();
    let seen: HashSet<String> = sim.posted().into_iter().map(|p| p.text).collect();
    let lost: Vec<u64> = (1..=sent)
        .filter(|n| !seen.contains(&format!("pong {n}")))
        .collect();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    let closes: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("socket closed"))
        .collect();
    assert!(
        answered_all && lost.is_empty() && sim.stats().expired == 0,
        "lost {} of {sent}: {lost:?}; {:?}; closes: {closes:#?}",
        lost.len(),
        sim.stats()
    );
    assert!(sent > 400, "too few events to mean anything: {sent}");
    // Written to a file, the log carries no terminal colour codes.
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "colour codes in a log file");
    println!("{sent} events over a 10 s stall, all answered; closes: {closes:#?}");
}
