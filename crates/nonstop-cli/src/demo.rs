//! `nonstop demo`: the simulator and a bot in one process, a minute of faults, and a report of
//! what a user of the bot would have seen: every `ping N` answered once, or not.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use nonstop::{LifecycleChange, Status};
use nonstop_sim::{Fault, Sim, SimConfig};
use tokio::time::Instant;

/// The fault schedule for an RTM bot: the story's faults (a drop with no close frame, a
/// socket gone silent, Slack's `goodbye`, a rate-limited `rtm.connect`, a long connect
/// outage during which people keep talking) and RTM's own frames.
fn rtm_schedule(scale: f64) -> Vec<(f64, Fault, &'static str)> {
    let rate_limit_secs = (3.0 * scale).round().max(1.0) as u64;
    let outage_secs = (15.0 * scale).max(2.0);
    vec![
        (
            3.0,
            Fault::Drop { target: None },
            "abrupt TCP drop, no close frame (the story's 1006)",
        ),
        (
            8.0,
            Fault::HalfOpen { target: None },
            "half-open socket: nothing flows",
        ),
        (
            18.0,
            Fault::Goodbye {
                target: None,
                close_after_secs: 2.0,
            },
            "goodbye (Slack's 8-hour limit)",
        ),
        (21.0, Fault::ErrorFrame { target: None }, "RTM error frame"),
        (
            21.5,
            Fault::Malformed { target: None },
            "malformed JSON frame",
        ),
        (22.0, Fault::Binary { target: None }, "binary frame"),
        (
            24.0,
            Fault::RateLimit {
                secs: rate_limit_secs,
                drop_all: true,
            },
            "all sockets dropped, then rtm.connect answers 429 with Retry-After",
        ),
        (
            32.0,
            Fault::Outage {
                secs: outage_secs,
                drop_all: true,
            },
            "all sockets dropped, rtm.connect outage (5xx, ok:false, refused upgrade); people keep talking",
        ),
        (53.0, Fault::SlowWebApi { millis: 400 }, "slow Web API"),
        (56.0, Fault::Heal, "faults cleared"),
    ]
}

/// The fault schedule, as (second of a 60 s run, fault, what a viewer should see). Times and
/// fault lengths shrink with `scale` for shorter runs.
fn schedule(scale: f64) -> Vec<(f64, Fault, &'static str)> {
    let rate_limit_secs = (3.0 * scale).round().max(1.0) as u64;
    let outage_secs = (8.0 * scale).max(1.0);
    vec![
        (
            3.0,
            Fault::Drop { target: None },
            "abrupt TCP drop, no close frame",
        ),
        (
            8.0,
            Fault::HalfOpen { target: None },
            "half-open socket: nothing flows",
        ),
        (
            18.0,
            Fault::DisconnectWarning {
                target: None,
                close_after_secs: 10.0,
            },
            "disconnect warning",
        ),
        (
            22.0,
            Fault::Refresh {
                target: Some(1),
                close_after_secs: 1.0,
            },
            "refresh_requested, no warning",
        ),
        (
            25.0,
            Fault::Malformed { target: None },
            "malformed JSON frame",
        ),
        (25.5, Fault::Binary { target: None }, "binary frame"),
        (
            26.0,
            Fault::Oversized {
                target: None,
                bytes: 2 * 1024 * 1024,
            },
            "2 MiB frame",
        ),
        (
            26.5,
            Fault::UnknownEnvelope { target: None },
            "envelope of unknown type",
        ),
        (
            29.0,
            Fault::TooManyWebsockets { target: None },
            "too_many_websockets",
        ),
        (
            32.0,
            Fault::CloseFrame {
                target: None,
                code: 1011,
                reason: "server error".into(),
            },
            "close frame 1011",
        ),
        (
            35.0,
            Fault::RateLimit {
                secs: rate_limit_secs,
                drop_all: true,
            },
            "all sockets dropped, then 429 with Retry-After",
        ),
        (
            42.0,
            Fault::Outage {
                secs: outage_secs,
                drop_all: true,
            },
            "all sockets dropped, connect outage (5xx, internal_error, refused upgrade)",
        ),
        (53.0, Fault::SlowWebApi { millis: 400 }, "slow Web API"),
        (56.0, Fault::Heal, "faults cleared"),
    ]
}

pub(crate) async fn run(secs: u64, rate: f64, rtm: bool) -> anyhow::Result<()> {
    let secs = secs.max(10);
    let scale = secs as f64 / 60.0;
    let sim = Sim::start(SimConfig {
        half_open_hold: Duration::from_secs(10),
        ..SimConfig::default()
    })
    .await
    .context("could not start the simulator")?;
    let mut config = if rtm {
        nonstop::Config::rtm(&sim.config().bot_token)?
    } else {
        nonstop::Config::new(&sim.config().app_token, &sim.config().bot_token)?
    };
    config.api_url = sim.api_url();
    // A journal of its own, so a demo never touches a bot's nonstop.db.
    let journal = std::env::temp_dir().join(format!("nonstop-demo-{}.db", std::process::id()));
    config.journal_path = Some(journal.clone());
    let app = nonstop::App::new(config.clone()).with_builtin_commands();
    let status = app.status();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let bot = tokio::spawn(app.run(async {
        let _ = stop_rx.await;
    }));

    println!(
        "nonstop demo: a Slack simulator on {} and a bot with {} {} sockets",
        sim.addr(),
        config.connections,
        if rtm { "RTM" } else { "Socket Mode" }
    );
    println!(
        "bot settings: ping every {:?}, dead after {:?} of silence, backoff {:?}..{:?}",
        config.ping_interval, config.dead_after, config.backoff_base, config.backoff_cap
    );
    if !status
        .wait_for(Duration::from_secs(10), |s| {
            s.live_connections == config.connections
        })
        .await
    {
        anyhow::bail!("the bot did not connect to the simulator");
    }

    let outage = Arc::new(std::sync::Mutex::new(OutageClock::default()));
    let watcher = tokio::spawn(watch_outages(Arc::clone(&status), Arc::clone(&outage)));
    let total = (rate * secs as f64) as u64;
    let generator = nonstop_sim::spawn_generator(&sim, "C0DEMO", rate, Some(total));
    let start = Instant::now();
    let tty = std::io::stderr().is_terminal();
    let faults = if rtm {
        rtm_schedule(scale)
    } else {
        schedule(scale)
    };
    let mut plan = faults.into_iter().peekable();
    let mut last_fault = "none yet";
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut last_print = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        while let Some((at, _, _)) = plan.peek() {
            if start.elapsed().as_secs_f64() < at * scale {
                break;
            }
            if let Some((_, fault, what)) = plan.next() {
                sim.inject(fault);
                last_fault = what;
                if !tty {
                    eprintln!("t={:>4.1}s fault: {what}", start.elapsed().as_secs_f64());
                }
            }
        }
        if tty || last_print.elapsed() >= Duration::from_secs(5) {
            last_print = Instant::now();
            let sent = ((start.elapsed().as_secs_f64() * rate) as u64).min(total);
            let line = status_line(&sim, &status, sent, last_fault, start);
            if tty {
                eprint!("\r\x1b[2K{line}");
            } else {
                eprintln!("{line}");
            }
        }
    }
    let sent = generator.await.unwrap_or(0);
    // Let redeliveries (3 s each, up to 3) and slow replies land.
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline && count_answers(&sim).0.len() < sent as usize {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    if tty {
        eprintln!(
            "\r\x1b[2K{}",
            status_line(&sim, &status, sent, "done", start)
        );
    }
    watcher.abort();

    let (answers, doubled) = count_answers(&sim);
    let handled = answers.len() as u64;
    let lost = sent.saturating_sub(handled);
    let longest_gap = outage.lock().map(|o| o.longest).unwrap_or_default();
    println!("\n== report");
    println!("events sent:            {sent}");
    println!("handled:                {handled}");
    println!("lost:                   {lost}");
    println!("handled twice:          {doubled}");
    println!("longest with no socket: {:.2} s (the sim cut every socket twice on purpose: 429 and outage)", longest_gap.as_secs_f64());
    let sim_stats = sim.stats();
    let snapshot = status.snapshot();
    if rtm {
        println!(
            "simulator:              {} sockets opened, {} events sent to sockets, {} said while no socket was live (RTM never sends those), {} connect calls refused",
            sim_stats.sockets_opened, sim_stats.rtm_events_sent, sim_stats.rtm_events_missed, sim_stats.connect_refusals
        );
        println!(
            "caught up from history: {} (said while the bot could not hear, answered after)",
            snapshot.caught_up
        );
        println!(
            "answers over the socket: {} of {} (plain text at RTM's pace of one a second, each confirmed; the rest by chat.postMessage)",
            snapshot.answers_over_rtm, snapshot.answers_sent
        );
    } else {
        println!(
            "simulator:              {} sockets opened, {} envelopes, {} redelivered, {} acked, {} connect calls refused",
            sim_stats.sockets_opened, sim_stats.envelopes_sent, sim_stats.redeliveries, sim_stats.acks, sim_stats.connect_refusals
        );
    }
    println!(
        "bot:                    {} reconnects, {} duplicates dropped, {} bad frames dropped",
        snapshot.reconnects, snapshot.duplicates, snapshot.bad_frames
    );
    println!("\n== every disconnect, with its cause and how it recovered");
    print_disconnects(&status);

    println!("\n== fatal faults stop the bot with the cause and the fix");
    sim.inject(Fault::RevokeToken {
        code: "token_revoked".into(),
    });
    match tokio::time::timeout(Duration::from_secs(20), bot).await {
        Ok(Ok(Err(e))) => println!("revoked token -> bot exits: {e}"),
        Ok(Ok(Ok(()))) => println!("revoked token -> bot stopped without an error (unexpected)"),
        Ok(Err(e)) => println!("bot task failed: {e}"),
        Err(_) => {
            let _ = stop_tx.send(());
            println!("revoked token -> bot still running after 20 s (unexpected)");
        }
    }
    sim.shutdown().await;
    for suffix in ["", "-wal", "-shm", "-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    if lost > 0 || doubled > 0 {
        anyhow::bail!("{lost} events lost, {doubled} handled twice");
    }
    Ok(())
}

/// One line: sockets, events sent so far, answered, still waiting (late, not lost yet),
/// answered twice, reconnects, and the last fault played.
fn status_line(sim: &Sim, status: &Status, sent: u64, fault: &str, start: Instant) -> String {
    let s = status.snapshot();
    let (answers, doubled) = count_answers(sim);
    let handled = answers.len() as u64;
    format!(
        "t={:>4.1}s live={} sent={sent} handled={handled} waiting={} doubled={doubled} reconnects={} last-fault: {fault}",
        start.elapsed().as_secs_f64(),
        s.live_connections,
        sent.saturating_sub(handled),
        s.reconnects,
    )
}

/// `pong N` replies by N, and how many N were answered more than once.
fn count_answers(sim: &Sim) -> (HashMap<String, u32>, u64) {
    let mut answers: HashMap<String, u32> = HashMap::new();
    for post in sim.posted() {
        if let Some(n) = post.text.strip_prefix("pong ") {
            *answers.entry(n.to_owned()).or_default() += 1;
        }
    }
    let doubled = answers.values().filter(|c| **c > 1).count() as u64;
    (answers, doubled)
}

#[derive(Default)]
struct OutageClock {
    down_since: Option<Instant>,
    longest: Duration,
}

/// Tracks the longest stretch with no live socket.
async fn watch_outages(status: Arc<Status>, clock: Arc<std::sync::Mutex<OutageClock>>) {
    status
        .wait_for(Duration::from_secs(24 * 3600), |s| {
            if let Ok(mut clock) = clock.lock() {
                match (s.live_connections, clock.down_since) {
                    (0, None) => clock.down_since = Some(Instant::now()),
                    (n, Some(since)) if n > 0 => {
                        clock.longest = clock.longest.max(since.elapsed());
                        clock.down_since = None;
                    }
                    _ => {}
                }
            }
            false
        })
        .await;
}

fn print_disconnects(status: &Status) {
    let history = status.history();
    let origin = history.first().map(|r| r.at);
    let at = |r: &nonstop::LifecycleRecord| {
        origin
            .and_then(|o| r.at.duration_since(o).ok())
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0)
    };
    for (i, record) in history.iter().enumerate() {
        let LifecycleChange::Closed {
            cause,
            planned,
            lifetime,
            ..
        } = &record.change
        else {
            continue;
        };
        if *planned {
            continue;
        }
        let recovery = history[i + 1..]
            .iter()
            .find_map(|later| match &later.change {
                LifecycleChange::Live { slot_down_for } if later.slot == record.slot => {
                    Some(format!(
                        "slot {} back with connection {} after {:.2} s",
                        later.slot,
                        later.connection,
                        slot_down_for.unwrap_or_default().as_secs_f64()
                    ))
                }
                _ => None,
            })
            .unwrap_or_else(|| "not recovered".to_owned());
        println!(
            "t={:>5.1}s conn {:>2} (lived {:>5.1} s): {cause} -> {recovery}",
            at(record),
            record.connection,
            lifetime.as_secs_f64()
        );
    }
    let replaced = history
        .iter()
        .filter(|r| matches!(&r.change, LifecycleChange::Closed { planned: true, .. }))
        .count();
    let failed_opens = history
        .iter()
        .filter(|r| matches!(&r.change, LifecycleChange::OpenFailed { .. }))
        .count();
    println!(
        "(plus {replaced} socket(s) replaced make-before-break, and {failed_opens} failed open(s) retried with backoff)"
    );
}
