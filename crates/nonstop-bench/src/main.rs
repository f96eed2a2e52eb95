//! Benchmarks for BENCHMARKS.md. The bot runs as its own process (`nonstop run`, release
//! build, default settings, the default log level with its lines sent to /dev/null) against
//! the simulator in this process, so its memory and CPU are its own.
//!
//! Run with:
//! `bash scripts/build-release.sh && target/x86_64-unknown-linux-gnu/release/nonstop-bench`
//! (`--quick` for fewer repetitions; `--only GROUP` for one group; `--bot PATH` to measure
//! another bot binary, e.g. `target/release/greeter`, run with no arguments). `--only
//! streams` runs its bot in this process (its handler plays a language model).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nonstop_sim::{Fault, MessageSpec, Sim, SimConfig};
use tokio::time::Instant;

const WAIT: Duration = Duration::from_secs(60);

mod measure;
mod streams;

use measure::{ms, percentile, sim_config, Result};

struct Bot {
    child: Child,
}

/// `--bot PATH`: measure this bot binary instead of the `nonstop` beside the bench.
static OTHER_BOT: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();

impl Bot {
    fn start(sim: &Sim) -> Result<Self> {
        Self::start_with(sim, &[])
    }

    /// A bot with extra environment settings (e.g. `NONSTOP_TRANSPORT=rtm`).
    fn start_with(sim: &Sim, env: &[(&str, &str)]) -> Result<Self> {
        let mut command = match OTHER_BOT.get().and_then(Option::as_ref) {
            // A bot a user built on the crate (`--bot PATH`), run with no arguments.
            Some(path) => Command::new(path),
            None => {
                let mut command = Command::new(sibling("nonstop")?);
                command.arg("run");
                command
            }
        };
        let child = command
            .env("SLACK_APP_TOKEN", &sim.config().app_token)
            .env("SLACK_BOT_TOKEN", &sim.config().bot_token)
            .env("SLACK_API_URL", sim.api_url())
            .env("NONSTOP_DB", journal_path())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        Ok(Self { child })
    }

    /// CPU time (user + system) the bot has used so far.
    fn cpu(&self) -> Duration {
        process_cpu(self.child.id())
    }

    fn memory(&self) -> String {
        memory_of(self.child.id())
    }
}

/// Resident memory of process `pid` in KiB from /proc: (current, peak, anonymous part of
/// current).
fn rss_kib(pid: u32) -> (u64, u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"), field("RssAnon:"))
}

fn memory_of(pid: u32) -> String {
    let (rss, peak, anon) = rss_kib(pid);
    let mib = |kib: u64| kib as f64 / 1024.0;
    format!(
        "{:.1} MiB (heap and stacks {:.1} MiB, the rest code and libraries; peak {:.1} MiB)",
        mib(rss),
        mib(anon),
        mib(peak)
    )
}

/// Stops process `pid` for `pause` (SIGSTOP, then SIGCONT), as a host short of CPU would.
async fn stall(pid: u32, pause: Duration) {
    let signal = |name: &str| {
        let _ = Command::new("kill").args([name, &pid.to_string()]).status();
    };
    signal("-STOP");
    tokio::time::sleep(pause).await;
    signal("-CONT");
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", journal_path().display()));
        }
    }
}

/// The bot's journal: a real SQLite file, fsynced on every commit (the default).
fn journal_path() -> PathBuf {
    std::env::temp_dir().join(format!("nonstop-bench-{}.db", std::process::id()))
}

fn sibling(name: &str) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        return Err(format!(
            "{} not found: build both with bash scripts/build-release.sh",
            path.display()
        )
        .into());
    }
    Ok(path)
}

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    format!(
        "n={} p50={} p99={} max={}",
        samples.len(),
        ms(percentile(&samples, 50.0)),
        ms(percentile(&samples, 99.0)),
        ms(samples.last().copied().unwrap_or_default())
    )
}

async fn wait_live(sim: &Sim, n: usize) -> Result<()> {
    if sim.wait_for_stats(WAIT, |s| s.live_sockets == n).await {
        Ok(())
    } else {
        Err(format!("bot did not reach {n} live sockets: {:?}", sim.stats()).into())
    }
}

/// Runs `during` while `seen` is shown the simulator's stats on every change.
async fn watching<F: std::future::Future>(
    sim: &Sim,
    mut seen: impl FnMut(&nonstop_sim::SimStats),
    during: F,
) -> F::Output {
    let watch = sim.wait_for_stats(Duration::from_secs(3600), |s| {
        seen(s);
        false
    });
    tokio::pin!(watch);
    tokio::pin!(during);
    loop {
        tokio::select! {
            out = &mut during => break out,
            _ = &mut watch => {}
        }
    }
}

/// The fewest live sockets seen while `during` runs, sampled on every simulator change.
async fn min_live_during<F: std::future::Future>(sim: &Sim, during: F) -> (usize, F::Output) {
    let mut min = usize::MAX;
    let out = watching(sim, |s| min = min.min(s.live_sockets), during).await;
    (min, out)
}

async fn drops(sim: &Sim, reps: usize) -> Result<()> {
    let mut recover = Vec::new();
    let mut min_live = usize::MAX;
    for i in 0..reps {
        let opened = sim.stats().sockets_opened;
        let t0 = Instant::now();
        let (min, ok) = min_live_during(sim, async {
            sim.inject(Fault::Drop {
                target: Some(i % 2),
            });
            sim.wait_for_stats(WAIT, |s| s.sockets_opened > opened && s.live_sockets == 2)
                .await
        })
        .await;
        if !ok {
            return Err("no recovery after a drop".into());
        }
        recover.push(t0.elapsed());
        min_live = min_live.min(min);
        // Let the slot's backoff see a healthy socket between drops, as in real life.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "abrupt drops every ~0.2 s on one bot (backoff grows) -> replacement live: {}",
        summary(recover)
    );
    println!("  fewest live sockets during any drop: {min_live}");
    Ok(())
}

async fn refreshes(sim: &Sim, reps: usize) -> Result<()> {
    let mut min_live = usize::MAX;
    for i in 0..reps {
        let opened = sim.stats().sockets_opened;
        let (min, ok) = min_live_during(sim, async {
            sim.inject(Fault::Refresh {
                target: Some(i % 2),
                close_after_secs: 1.0,
            });
            sim.wait_for_stats(WAIT, |s| s.sockets_opened > opened)
                .await
                && sim.wait_for_stats(WAIT, |s| s.live_sockets == 2).await
        })
        .await;
        if !ok {
            return Err("no replacement after refresh_requested".into());
        }
        // The old socket closes after its replacement: wait past that before the next one.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        min_live = min_live.min(min);
    }
    println!("refresh_requested x{reps}: fewest live sockets during refresh: {min_live} (of 2)");
    Ok(())
}

async fn ack_latency(sim: &Sim, prefix: &str, per_second: f64, secs: u64) -> Result<()> {
    let _ = sim.take_ack_latencies();
    let posted = sim.posted_count();
    let count = (per_second * secs as f64) as u64;
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for n in 0..count {
        tick.tick().await;
        sim.send_message(MessageSpec::new(
            "C0BENCH",
            "U0HUMAN",
            &format!("{prefix} l{n}"),
        ));
    }
    if !sim.wait_for_stats(WAIT, |s| s.pending == 0).await {
        return Err("envelopes left unacked".into());
    }
    let expected = if prefix == "ping" { count as usize } else { 0 };
    let deadline = Instant::now() + WAIT;
    while sim.posted_count() < posted + expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let latencies = sim.take_ack_latencies();
    // Acks are recorded as they arrive, so the slowest one's place says when in the run the
    // bot stalled.
    let slowest_at = latencies
        .iter()
        .enumerate()
        .max_by_key(|(_, latency)| **latency)
        .map_or(0.0, |(i, _)| i as f64 / per_second);
    println!(
        "ack latency at {per_second}/s for {secs} s, {prefix:?} messages (simulator send -> ack received): {} (slowest {slowest_at:.1} s into the run)",
        summary(latencies)
    );
    if expected > 0 {
        println!(
            "  replies posted: {} of {count}",
            sim.posted_count() - posted
        );
    }
    Ok(())
}

/// Sends `total` messages `<prefix> tN` in batches of 500, each batch once `ready(stats, sent)`.
/// Checks `ready` every millisecond until it holds or `timeout` passes. The load generator
/// polls rather than waking on every change of the simulator's state: woken 20,000 times a
/// second, it took CPU the bot and the simulator need.
async fn poll_until(timeout: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Channels the replied-throughput run spreads its events over. Answers to one channel go
/// out one at a time, in order (Slack takes about one message a second per channel); a bot
/// answering thousands a second answers in many channels.
const THROUGHPUT_CHANNELS: usize = 64;

async fn push(
    sim: &Sim,
    total: usize,
    prefix: &str,
    channels: usize,
    mut ready: impl FnMut(&nonstop_sim::SimStats, usize) -> bool,
) -> Result<()> {
    let mut sent = 0;
    while sent < total {
        if !poll_until(WAIT, || ready(&sim.stats(), sent)).await {
            return Err(format!(
                "bot stopped keeping up after {sent} events: {:?}",
                sim.stats()
            )
            .into());
        }
        for _ in 0..500.min(total - sent) {
            sent += 1;
            let channel = format!("C0BENCH{}", sent % channels.max(1));
            sim.send_message(MessageSpec::new(
                &channel,
                "U0HUMAN",
                &format!("{prefix} t{sent}"),
            ));
        }
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// chat.postMessage alone: `concurrency` callers in this process against the simulator.
async fn web_rate(sim: &Sim, concurrency: usize, per_caller: usize) -> Result<()> {
    // The simulator has no per-channel limit: measure the client, not Slack's pace.
    let web = nonstop_web::WebClient::with_options(
        &sim.api_url(),
        Some(nonstop_web::Secret::new(sim.config().bot_token.clone())),
        nonstop_web::ClientOptions {
            post_pace: None,
            ..nonstop_web::ClientOptions::default()
        },
    )?;
    let start = Instant::now();
    let mut callers = tokio::task::JoinSet::new();
    for c in 0..concurrency {
        let web = web.clone();
        callers.spawn(async move {
            for i in 0..per_caller {
                let request =
                    nonstop_model::web::PostMessageRequest::text("C0WEB", format!("web {c}-{i}"));
                web.chat_post_message(&request).await?;
            }
            Ok::<(), nonstop_web::WebError>(())
        });
    }
    while let Some(done) = callers.join_next().await {
        done??;
    }
    let total = concurrency * per_caller;
    let elapsed = start.elapsed();
    println!(
        "chat.postMessage alone, {concurrency} callers in one process with the simulator: {total} calls in {:.2} s = {:.0}/s",
        elapsed.as_secs_f64(),
        total as f64 / elapsed.as_secs_f64()
    );
    Ok(())
}

/// Events the built-in handler reads and ignores: receive -> ack -> dispatch, no Web API call.
async fn ack_throughput(sim: &Sim, bot: &Bot, total: usize) -> Result<()> {
    let cpu = bot.cpu();
    let acks = sim.stats().acks;
    let start = Instant::now();
    // Keep at most 2,000 envelopes unacked, as Slack bounds what it sends unacked.
    push(sim, total, "hello", 1, |s, _| s.pending < 2_000).await?;
    if !sim.wait_for_stats(WAIT, |s| s.pending == 0).await {
        return Err("envelopes left unacked".into());
    }
    let done = sim.stats().acks - acks;
    report_rate(
        "receive -> ack -> dispatch (handler reads and ignores)",
        done,
        start.elapsed(),
        bot.cpu().saturating_sub(cpu),
    );
    Ok(())
}

/// Reply latency as a person in the channel sees it: `per_second` messages into one channel
/// for `secs`, each answered; from sending the message to the simulator recording the answer.
/// Checks every answer came once and in order, and that no call came before a Retry-After.
async fn reply_latency(sim: &Sim, tag: &str, per_second: f64, secs: u64) -> Result<()> {
    let channel = format!("C0REPLY{tag}");
    let count = (per_second * secs as f64) as usize;
    let early = sim.early_calls();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / per_second));
    let mut sent = Vec::with_capacity(count);
    for n in 1..=count {
        tick.tick().await;
        sent.push(nonstop_sim::unix_ms());
        sim.send_message(MessageSpec::new(
            &channel,
            "U0HUMAN",
            &format!("ping {tag}{n}"),
        ));
    }
    let prefix = format!("pong {tag}");
    let answers = |sim: &Sim| -> Vec<nonstop_sim::PostedMessage> {
        sim.posted()
            .into_iter()
            .filter(|p| p.channel == channel && p.text.starts_with(&prefix))
            .collect()
    };
    // Polled every 50 ms: the simulator's record of posts is copied for each look.
    let deadline = Instant::now() + Duration::from_secs(600);
    while answers(sim).len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posts = answers(sim);
    let expected: Vec<String> = (1..=count).map(|n| format!("pong {tag}{n}")).collect();
    let texts: Vec<String> = posts.iter().map(|p| p.text.clone()).collect();
    let in_order = texts == expected;
    let latencies: Vec<Duration> = posts
        .iter()
        .zip(&sent)
        .map(|(post, at)| Duration::from_millis(post.recorded_at_ms.saturating_sub(*at)))
        .collect();
    println!(
        "reply latency, {per_second}/s into one channel for {secs} s ({tag}): answered {} of {count}, {}, early calls {}: {}",
        posts.len(),
        if in_order { "each once and in order" } else { "NOT each once in order" },
        sim.early_calls() - early,
        summary(latencies)
    );
    Ok(())
}

/// Prints a run's rate and the bot's CPU per event; returns the rate.
fn report_rate(what: &str, done: u64, elapsed: Duration, cpu: Duration) -> f64 {
    println!(
        "throughput {what}: {done} events in {:.2} s = {:.0} events/s",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  bot CPU: {:.2} s for {done} events = {:.1} µs per event (the simulator shares the 2 cores)",
        cpu.as_secs_f64(),
        cpu.as_secs_f64() * 1e6 / done.max(1) as f64
    );
    done as f64 / elapsed.as_secs_f64()
}

/// Events pushed as fast as the bot takes them, each answered with chat.postMessage.
/// Returns events per second.
async fn throughput(sim: &Sim, bot: &Bot, total: usize) -> Result<f64> {
    let cpu = bot.cpu();
    let posted = sim.posted_count();
    let start = Instant::now();
    // Keep at most 2,000 events unanswered, so the bot's dispatch queue never overflows (an
    // overflow is refused, unacked, and redelivered 3 s later, which would measure Slack's
    // redelivery timer instead of the bot).
    push(sim, total, "ping", THROUGHPUT_CHANNELS, |s, sent| {
        s.posted + 2_000 >= posted + sent
    })
    .await?;
    sim.wait_for_stats(WAIT, |s| s.posted >= posted + total)
        .await;
    let elapsed = start.elapsed();
    let done = (sim.posted_count() - posted) as u64;
    println!(
        "  simulator redelivered {} envelopes so far (unacked for 3 s)",
        sim.stats().redeliveries
    );
    Ok(report_rate(
        "receive -> ack -> dispatch -> chat.postMessage (64 channels)",
        done,
        elapsed,
        bot.cpu().saturating_sub(cpu),
    ))
}

/// The Redis at `NONSTOP_BENCH_REDIS`, else the machine's.
fn bench_redis_url() -> String {
    std::env::var("NONSTOP_BENCH_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".to_owned())
}

/// Deletes every key under `prefix` (with redis-cli, when the machine has it).
fn clear_redis_prefix(url: &str, prefix: &str) {
    let keys = Command::new("redis-cli")
        .args(["-u", url, "--scan", "--pattern", &format!("{prefix}:*")])
        .output();
    if let Ok(keys) = keys {
        let keys = String::from_utf8_lossy(&keys.stdout);
        for chunk in keys.lines().collect::<Vec<_>>().chunks(500) {
            let _ = Command::new("redis-cli")
                .args(["-u", url, "DEL"])
                .args(chunk)
                .stdout(Stdio::null())
                .status();
        }
    }
}

/// `--only redis`: first the journal alone in Redis (rate, memory per event), then the journal
/// in Redis (default settings but `REDIS_URL`), with one and with
/// three replicas against one simulator: ack latency at 1,000 answered events/s, answered
/// throughput (all replicas' CPU summed), and with three, how long after a replica's SIGKILL
/// the answers it left are delivered by the others (the default lease, 30 s, included).
async fn redis_group(quick: bool) -> Result<()> {
    let url = bench_redis_url();
    redis_journal_bench(&url, if quick { 20_000 } else { 100_000 }, 512)?;
    let secs = if quick { 5 } else { 10 };
    let total = if quick { 10_000 } else { 30_000 };
    for replicas in [1usize, 3] {
        let sim = Sim::start(sim_config()).await?;
        let prefix = format!("nonstop-bench:{}:{replicas}", std::process::id());
        let env = [
            ("REDIS_URL", url.as_str()),
            ("NONSTOP_REDIS_PREFIX", prefix.as_str()),
        ];
        let mut bots = (0..replicas)
            .map(|_| Bot::start_with(&sim, &env))
            .collect::<Result<Vec<_>>>()?;
        wait_live(&sim, 2 * replicas).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        println!("redis, {replicas} replica(s) of 2 sockets each:");
        ack_latency(&sim, "ping", 1000.0, secs).await?;
        let cpu: Duration = bots.iter().map(Bot::cpu).sum();
        let posted = sim.posted_count();
        let start = Instant::now();
        push(&sim, total, "ping", THROUGHPUT_CHANNELS, |s, sent| {
            s.posted + 2_000 >= posted + sent
        })
        .await?;
        sim.wait_for_stats(WAIT, |s| s.posted >= posted + total)
            .await;
        let elapsed = start.elapsed();
        let spent = bots
            .iter()
            .map(Bot::cpu)
            .sum::<Duration>()
            .saturating_sub(cpu);
        report_rate(
            &format!(
                "receive -> ack -> dispatch -> chat.postMessage, {replicas} replica(s) on Redis"
            ),
            (sim.posted_count() - posted) as u64,
            elapsed,
            spent,
        );
        for bot in &bots {
            println!("  replica resident memory: {}", bot.memory());
        }
        if replicas == 3 {
            // Answers waiting on a slow Web API when one replica dies: the others deliver
            // them once its lease (30 s by default) runs out.
            sim.inject(Fault::SlowWebApi { millis: 2_000 });
            let before = sim.posted_count();
            for n in 0..60 {
                sim.send_message(MessageSpec::new(
                    &format!("C0KILL{}", n % 30),
                    "U0HUMAN",
                    &format!("ping k{n}"),
                ));
            }
            if !sim.wait_for_stats(WAIT, |s| s.pending == 0).await {
                return Err("takeover: envelopes left unacked".into());
            }
            let victim = bots.remove(0);
            let killed = Instant::now();
            drop(victim); // SIGKILL
            sim.inject(Fault::Heal);
            let all = sim
                .wait_for_stats(Duration::from_secs(120), |s| s.posted >= before + 60)
                .await;
            println!(
                "  a replica SIGKILLed with answers waiting: all 60 answers posted {:.1} s after the kill{}",
                killed.elapsed().as_secs_f64(),
                if all { "" } else { " (NOT all: gave up after 120 s)" }
            );
        }
        drop(bots);
        sim.shutdown().await;
        clear_redis_prefix(&url, &prefix);
    }
    Ok(())
}

/// Requests Slack has in flight to the bot at once in the HTTP throughput runs (the bot serves
/// 512 connections at once; a load balancer in front holds more back).
const HTTP_IN_FLIGHT: usize = 200;

/// A bot receiving over HTTP (`NONSTOP_TRANSPORT=http`) on a loopback port of its own, with
/// `env` besides; and its request URL, once it listens.
async fn http_bot(sim: &Sim, env: &[(&str, &str)]) -> Result<(Bot, String)> {
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let listen = addr.to_string();
    let secret = sim.config().signing_secret.clone();
    let mut settings = vec![
        ("NONSTOP_TRANSPORT", "http"),
        ("SLACK_SIGNING_SECRET", secret.as_str()),
        ("NONSTOP_HTTP_LISTEN", listen.as_str()),
    ];
    settings.extend_from_slice(env);
    let bot = Bot::start_with(sim, &settings)?;
    let deadline = Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        if Instant::now() >= deadline {
            return Err(format!("the bot never listened on {addr}").into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok((bot, format!("http://{addr}/slack/events")))
}

/// Events over HTTP as fast as `bots` answer them with a 200 (no reply), at most
/// [`HTTP_IN_FLIGHT`] requests in flight.
async fn http_throughput(sim: &Sim, bots: &[Bot], total: usize, what: &str) -> Result<()> {
    let cpu: Duration = bots.iter().map(Bot::cpu).sum();
    let before = sim.stats();
    let start = Instant::now();
    push(sim, total, "hello", 1, |s, _| s.pending < HTTP_IN_FLIGHT).await?;
    if !sim.wait_for_stats(WAIT, |s| s.pending == 0).await {
        return Err("requests left unanswered".into());
    }
    let spent = bots
        .iter()
        .map(Bot::cpu)
        .sum::<Duration>()
        .saturating_sub(cpu);
    let after = sim.stats();
    report_rate(what, after.acks - before.acks, start.elapsed(), spent);
    println!(
        "  requests failed and sent again: {} (of {} posted)",
        after.http_failed - before.http_failed,
        after.http_posts - before.http_posts
    );
    Ok(())
}

/// `--only http`: the Events API over HTTP. One bot, then three replicas on Redis behind a
/// round-robin balancer (the simulator's `set_request_urls`): time from Slack's send to the
/// bot's 200 at 1,000 requests/s, requests/s, memory; then memory per installation.
async fn http_group(quick: bool) -> Result<()> {
    let secs = if quick { 5 } else { 10 };
    let total = if quick { 10_000 } else { 50_000 };
    let url = bench_redis_url();
    for replicas in [1usize, 3] {
        let sim = Sim::start(sim_config()).await?;
        let prefix = format!("nonstop-bench-http:{}:{replicas}", std::process::id());
        let redis = [
            ("REDIS_URL", url.as_str()),
            ("NONSTOP_REDIS_PREFIX", prefix.as_str()),
        ];
        let env: &[(&str, &str)] = if replicas == 1 { &[] } else { &redis };
        let (mut bots, mut urls) = (Vec::new(), Vec::new());
        for _ in 0..replicas {
            let (bot, request_url) = http_bot(&sim, env).await?;
            bots.push(bot);
            urls.push(request_url);
        }
        sim.set_request_urls(&urls);
        let store = if replicas == 1 { "SQLite" } else { "Redis" };
        println!("HTTP, {replicas} replica(s) on {store}, time from the simulator's send to the bot's 200:");
        ack_latency(&sim, "hello", 1000.0, secs).await?;
        ack_latency(&sim, "ping", 1000.0, secs).await?;
        http_throughput(
            &sim,
            &bots,
            total,
            &format!("over HTTP, receive -> journal -> 200 -> dispatch, {replicas} replica(s)"),
        )
        .await?;
        for bot in &bots {
            println!("  bot resident memory: {}", bot.memory());
        }
        drop(bots);
        sim.shutdown().await;
        if replicas > 1 {
            clear_redis_prefix(&url, &prefix);
        }
    }
    installation_memory(if quick { 200 } else { 1_000 }).await
}

/// Memory per installation: `n` workspaces installed (kept in the journal before the bot
/// starts, each with a token the simulator issued), then a message from each answered with
/// its own token (each workspace's client and lookup cached): the bot's resident memory
/// before and after, per workspace.
async fn installation_memory(n: usize) -> Result<()> {
    use nonstop::journal::{Installation, InstallationStore};
    let sim = Sim::start(sim_config()).await?;
    let settings = sim.config().clone();
    let client_secret = nonstop_web::Secret::new(settings.client_secret.clone());
    let web = nonstop_web::WebClient::new(&sim.api_url(), None, Duration::from_secs(10))?;
    let store = nonstop::SqliteStore::open(journal_path(), nonstop::config::Durability::Full)?;
    let teams: Vec<String> = (0..n).map(|i| format!("T{i:06}")).collect();
    for team in &teams {
        let code = sim.approve_install(team);
        let grant = nonstop_web::OAuthGrant::Code {
            code: &code,
            redirect_uri: None,
        };
        let answer = web
            .oauth_v2_access(&settings.client_id, &client_secret, grant)
            .await?;
        let token = answer["access_token"].as_str().unwrap_or_default();
        let mut installation =
            Installation::for_team(team.as_str(), nonstop_web::Secret::new(token));
        installation.bot_user_id = answer["bot_user_id"].as_str().map(str::to_owned);
        store.installation_save(&installation)?;
    }
    drop(store);
    let oauth = [
        ("SLACK_CLIENT_ID", settings.client_id.as_str()),
        ("SLACK_CLIENT_SECRET", settings.client_secret.as_str()),
    ];
    let (bot, request_url) = http_bot(&sim, &oauth).await?;
    sim.set_request_url(Some(&request_url));
    ack_latency(&sim, "ping", 100.0, 2).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (before, _, _) = rss_kib(bot.child.id());
    let posted = sim.posted_count();
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    for (i, team) in teams.iter().enumerate() {
        tick.tick().await;
        let message = nonstop_model::inbound::message(format!("ping w{i}")).channel("C0WORK");
        sim.send_in(team, message);
    }
    let all = sim.wait_for_stats(WAIT, |s| s.posted >= posted + n).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (after, _, _) = rss_kib(bot.child.id());
    println!(
        "memory per installation: {n} workspaces each answered with its own token{}: resident {:.1} MiB before, {:.1} MiB after = {:.1} KiB per workspace",
        if all { "" } else { " (NOT all answered within 60 s)" },
        before as f64 / 1024.0,
        after as f64 / 1024.0,
        after.saturating_sub(before) as f64 / n as f64
    );
    drop(bot);
    sim.shutdown().await;
    Ok(())
}

/// CPU time (user + system) process `pid` has used so far, from /proc.
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let after = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// A message event envelope as the simulator sends it: about 700 bytes.
const BENCH_ENVELOPE: &str = r#"{"envelope_id":"00000001-sim-env","type":"events_api","accepts_response_payload":false,"retry_attempt":0,"retry_reason":"","payload":{"type":"event_callback","token":"deprecated-verification-token","team_id":"T0SIM","api_app_id":"A0SIM","event":{"type":"message","channel":"C0BENCH","channel_type":"channel","user":"U0HUMAN","text":"ping 1","ts":"1700000000.000001","event_ts":"1700000000.000001","team":"T0SIM"},"event_id":"Ev0000000001","event_time":1700000000,"event_context":"EC1","authorizations":[{"enterprise_id":null,"team_id":"T0SIM","user_id":"U0BOT","is_bot":true,"is_enterprise_install":false}],"is_ext_shared_channel":false}}"#;

/// Journals `events` envelopes in commits of `batch`, each written as dispatched and marked
/// done by the next commit, as the runtime does; the last are marked done at the end. When
/// `answered`, each event's commit of outcomes also writes one answer (a `chat.postMessage`
/// of about 150 bytes), which the commit after marks sent. Prints the rate and the CPU the
/// process spent per envelope.
fn feed_journal(
    store: &dyn nonstop::Store,
    what: &str,
    events: usize,
    batch: usize,
    answered: bool,
) -> Result<()> {
    use nonstop::journal::{Batch, Mark, NewEntry, NewOutput, OutputAppended, OutputMark};
    let raw: std::sync::Arc<str> = std::sync::Arc::from(BENCH_ENVELOPE);
    let done = |range: std::ops::Range<usize>| -> Vec<Mark> {
        range
            .map(|i| Mark::Done {
                key: format!("Ev{i:010}"),
            })
            .collect()
    };
    let answers = |range: std::ops::Range<usize>| -> Vec<NewOutput> {
        range
            .map(|i| NewOutput {
                key: format!("Ev{i:010}#0"),
                lane: "C0BENCH".into(),
                method: "chat.postMessage".into(),
                args: format!(
                    r#"{{"channel":"C0BENCH","text":"pong {i}","metadata":{{"event_type":"nonstop_answer","event_payload":{{"key":"Ev{i:010}#0"}}}}}}"#
                ),
                created_at: std::time::SystemTime::now(),
                attempt_covered_until: None,
                workspace: None,
            })
            .collect()
    };
    // Each answer written is marked sent by the next commit, as if Slack had taken it.
    let sent_marks = |written: &nonstop::journal::Written| -> Vec<OutputMark> {
        written
            .outputs
            .iter()
            .filter_map(|o| match o {
                OutputAppended::Fresh { id } => Some(OutputMark::Sent {
                    id: *id,
                    result: r#"{"channel":"C0BENCH","ts":"1700000000.000002"}"#.into(),
                }),
                OutputAppended::Existing(_) => None,
            })
            .collect()
    };
    let mut sent: Vec<OutputMark> = Vec::new();
    let cpu = process_cpu(std::process::id());
    let start = std::time::Instant::now();
    let mut n = 0;
    while n < events {
        let entries: Vec<NewEntry> = (n..(n + batch).min(events))
            .map(|i| NewEntry {
                key: format!("Ev{i:010}"),
                envelope_id: format!("{i:08x}-sim-env"),
                kind: "events_api".into(),
                raw: raw.clone(),
                received_at: std::time::SystemTime::now(),
                dispatched: true,
            })
            .collect();
        let finished = n.saturating_sub(batch)..n;
        let marks = done(finished.clone());
        let outputs = if answered {
            answers(finished)
        } else {
            Vec::new()
        };
        n += entries.len();
        let written = store.write(&Batch {
            entries: &entries,
            marks: &marks,
            outputs: &outputs,
            output_marks: &sent,
        })?;
        sent = sent_marks(&written);
    }
    let elapsed = start.elapsed();
    println!(
        "journal alone, {what}: {events} envelopes journaled (commits of {batch}, with their outcome marks) in {:.2} s = {:.0} envelopes/s",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  journal CPU in this process: {:.1} µs per envelope",
        process_cpu(std::process::id())
            .saturating_sub(cpu)
            .as_secs_f64()
            * 1e6
            / events.max(1) as f64
    );
    let last = events.saturating_sub(batch)..events;
    let outputs = if answered {
        answers(last.clone())
    } else {
        Vec::new()
    };
    let written = store.write(&Batch {
        marks: &done(last),
        outputs: &outputs,
        output_marks: &sent,
        ..Batch::default()
    })?;
    store.write(&Batch {
        output_marks: &sent_marks(&written),
        ..Batch::default()
    })?;
    Ok(())
}

/// Prunes every finished entry, in steps as the writer does; how many went.
fn prune_all(store: &dyn nonstop::Store) -> Result<u64> {
    let mut pruned = 0;
    loop {
        let step = store.prune(
            std::time::SystemTime::now() + Duration::from_secs(1),
            2_000_000,
            10_000,
        )?;
        pruned += step;
        if step < 10_000 {
            return Ok(pruned);
        }
    }
}

/// The journal alone in SQLite: durable group commits, and the file's growth per event.
fn journal_bench(events: usize, batch: usize) -> Result<()> {
    let path =
        std::env::temp_dir().join(format!("nonstop-bench-journal-{}.db", std::process::id()));
    let clean = || {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    };
    clean();
    let store = nonstop::SqliteStore::open(&path, nonstop::config::Durability::Full)?;
    feed_journal(&store, "SQLite, fsync per commit", events, batch, false)?;
    let size = |p: &PathBuf| {
        ["", "-wal"]
            .iter()
            .map(|s| {
                std::fs::metadata(format!("{}{s}", p.display()))
                    .map(|m| m.len())
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    let grown = size(&path);
    println!(
        "journal size after {events} events: {:.1} MiB ({} bytes per event)",
        grown as f64 / 1048576.0,
        grown / events.max(1) as u64
    );
    let pruned = prune_all(&store)?;
    drop(store);
    let store = nonstop::SqliteStore::open(&path, nonstop::config::Durability::Full)?;
    drop(store);
    println!(
        "after pruning {pruned} finished events: file {:.1} MiB (freed pages go back: incremental auto-vacuum)",
        size(&path) as f64 / 1048576.0
    );
    clean();
    Ok(())
}

/// The journal alone in Redis (one replica's store, no bot): the rate, and what each
/// finished event kept for dedup costs Redis in memory (its `used_memory`), which is what
/// `maxmemory` has to allow for a day's events.
fn redis_journal_bench(url: &str, events: usize, batch: usize) -> Result<()> {
    let prefix = format!("nonstop-bench:{}:journal", std::process::id());
    let store = nonstop::journal::RedisStore::open(
        url,
        nonstop::journal::RedisOptions {
            prefix: prefix.clone(),
            ..nonstop::journal::RedisOptions::default()
        },
    )?;
    for answered in [false, true] {
        let before = redis_used_memory(url)?;
        let what = if answered {
            "Redis, each event with one answer"
        } else {
            "Redis, events alone"
        };
        feed_journal(&store, what, events, batch, answered)?;
        let grown = redis_used_memory(url)?.saturating_sub(before);
        println!(
            "  Redis memory after {events} finished events: {:.1} MiB more ({} bytes per event)",
            grown as f64 / 1048576.0,
            grown / events.max(1) as u64
        );
        let pruned = prune_all(&store)?;
        println!(
            "  after pruning {pruned} finished events and answers: {:.1} MiB more than before",
            redis_used_memory(url)?.saturating_sub(before) as f64 / 1048576.0
        );
    }
    drop(store);
    clear_redis_prefix(url, &prefix);
    Ok(())
}

/// Redis's `used_memory` (bytes), read with redis-cli.
fn redis_used_memory(url: &str) -> Result<u64> {
    let info = Command::new("redis-cli")
        .args(["-u", url, "INFO", "memory"])
        .output()?;
    String::from_utf8_lossy(&info.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| "redis-cli INFO memory gave no used_memory".into())
}

/// Where a recovery time is measured from.
#[derive(Clone, Copy)]
enum From {
    /// The moment the fault was injected.
    Inject,
    /// The end of a connect outage this long.
    OutageEnd(f64),
    /// The last moment a `Retry-After` header allowed a new call.
    RetryAfter,
}

/// One fault against a fresh bot that has been up for two seconds: what a single incident
/// costs, without the backoff that earlier faults in the same minute would add.
async fn isolated(fault: Fault, what: &str, from: From, reps: usize) -> Result<()> {
    let mut recover = Vec::new();
    for _ in 0..reps {
        let sim = Sim::start(sim_config()).await?;
        let bot = Bot::start(&sim)?;
        wait_live(&sim, 2).await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let opened = sim.stats().sockets_opened;
        let t0 = Instant::now();
        sim.inject(fault.clone());
        if !matches!(from, From::Inject) && !sim.wait_for_stats(WAIT, |s| s.live_sockets == 0).await
        {
            return Err(format!("{what} did not drop the sockets").into());
        }
        if !sim
            .wait_for_stats(WAIT, |s| s.sockets_opened > opened && s.live_sockets >= 2)
            .await
        {
            return Err(format!("no recovery after {what}").into());
        }
        let reference = match from {
            From::Inject => t0,
            From::OutageEnd(secs) => t0 + Duration::from_secs_f64(secs),
            From::RetryAfter => sim.retry_after_deadline().ok_or("no 429 was sent")?,
        };
        recover.push(Instant::now().saturating_duration_since(reference));
        drop(bot);
        sim.shutdown().await;
    }
    println!(
        "{what}, fresh bot -> both sockets live: {}",
        summary(recover)
    );
    Ok(())
}

/// The longest stretch with no live socket while `during` runs, from the simulator's changes.
async fn longest_deaf_during<F: std::future::Future>(
    sim: &Sim,
    during: F,
) -> (Duration, F::Output) {
    let (mut since, mut longest) = (None::<Instant>, Duration::ZERO);
    let out = watching(
        sim,
        |s| match (s.live_sockets, since) {
            (0, None) => since = Some(Instant::now()),
            (0, Some(_)) | (_, None) => {}
            (_, Some(at)) => {
                longest = longest.max(at.elapsed());
                since = None;
            }
        },
        during,
    )
    .await;
    (
        longest.max(since.map_or(Duration::ZERO, |s| s.elapsed())),
        out,
    )
}

/// RTM under each fault, with one and with two sockets, each run on a fresh bot (default
/// settings, `NONSTOP_TRANSPORT=rtm`) while users say 20 messages a second: the longest time
/// with no live socket, and for the connect outage, the time from the API's recovery to the
/// first answer (a message said during the outage, caught up from history, or a new one).
async fn rtm_faults(reps: usize) -> Result<()> {
    let outage = 5.0;
    let faults: Vec<(Fault, &str)> = vec![
        (Fault::Drop { target: None }, "abrupt drop (no close frame)"),
        (Fault::HalfOpen { target: None }, "half-open socket"),
        (
            Fault::Goodbye {
                target: None,
                close_after_secs: 2.0,
            },
            "goodbye",
        ),
        (Fault::ErrorFrame { target: None }, "error frame"),
        (
            Fault::RateLimit {
                secs: 3,
                drop_all: true,
            },
            "all dropped, rtm.connect 429 Retry-After 3 s",
        ),
        (
            Fault::Outage {
                secs: outage,
                drop_all: true,
            },
            "all dropped, 5 s rtm.connect outage",
        ),
    ];
    for connections in ["1", "2"] {
        let n: usize = connections.parse()?;
        for (fault, what) in &faults {
            let mut deaf = Vec::new();
            let mut first_answer = Vec::new();
            for _ in 0..reps {
                let sim = Sim::start(SimConfig {
                    echo_bot_messages: true,
                    ..sim_config()
                })
                .await?;
                let bot = Bot::start_with(
                    &sim,
                    &[
                        ("NONSTOP_TRANSPORT", "rtm"),
                        ("NONSTOP_CONNECTIONS", connections),
                    ],
                )?;
                wait_live(&sim, n).await?;
                tokio::time::sleep(Duration::from_secs(2)).await;
                let generator = nonstop_sim::spawn_generator(&sim, "C0RTM", 20.0, None);
                tokio::time::sleep(Duration::from_millis(500)).await;
                let opened = sim.stats().sockets_opened;
                let t0 = Instant::now();
                let replaced_at = std::cell::Cell::new(None::<Instant>);
                let (longest, ()) = longest_deaf_during(&sim, async {
                    sim.inject(fault.clone());
                    if let Fault::HalfOpen { .. } = fault {
                        let _ = sim
                            .wait_for_stats(WAIT, |s| {
                                s.sockets_opened > opened && s.live_sockets > n
                            })
                            .await;
                        replaced_at.set(Some(Instant::now()));
                    }
                    let settle = match fault {
                        Fault::Outage { .. } | Fault::RateLimit { .. } => {
                            let _ = sim.wait_for_stats(WAIT, |s| s.live_sockets == 0).await;
                            let _ = sim
                                .wait_for_stats(WAIT, |s| {
                                    s.sockets_opened > opened && s.live_sockets >= n
                                })
                                .await;
                            Duration::from_secs(1)
                        }
                        // Long enough for a dead socket to be found and replaced.
                        _ => Duration::from_secs(9),
                    };
                    tokio::time::sleep(settle).await;
                })
                .await;
                if let Fault::Outage { .. } = fault {
                    let recovered = unix_ms_at(t0) + (outage * 1000.0) as u64;
                    let deadline = Instant::now() + WAIT;
                    loop {
                        let first = sim
                            .posted()
                            .iter()
                            .map(|p| p.recorded_at_ms)
                            .filter(|at| *at >= recovered)
                            .min();
                        if let Some(at) = first {
                            first_answer.push(Duration::from_millis(at - recovered));
                            break;
                        }
                        if Instant::now() > deadline {
                            return Err("no answer after the outage".into());
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
                generator.abort();
                // The simulator counts a half-open socket as live (Slack cannot tell either),
                // but it hears nothing: with one socket, the bot is deaf until its replacement.
                let longest = match (fault, n) {
                    (Fault::HalfOpen { .. }, 1) => sim
                        .stats()
                        .sockets_opened
                        .gt(&opened)
                        .then(|| replaced_at.get().map(|at| at.duration_since(t0)))
                        .flatten()
                        .ok_or("the half-open socket was not replaced")?,
                    _ => longest,
                };
                deaf.push(longest);
                drop(bot);
                sim.shutdown().await;
            }
            println!(
                "RTM, {connections} socket(s), {what}: longest with no live socket {}",
                summary(deaf)
            );
            if !first_answer.is_empty() {
                println!(
                    "  from the API's recovery to the first answer: {}",
                    summary(first_answer)
                );
            }
        }
    }
    Ok(())
}

/// `at` as milliseconds since the Unix epoch, as the simulator records posts.
fn unix_ms_at(at: Instant) -> u64 {
    nonstop_sim::unix_ms().saturating_sub(at.elapsed().as_millis() as u64)
}

/// `nonstop-bench sim --port P [--rate R]`: the simulator alone, until SIGTERM or Ctrl-C, for
/// scripts that run the deployed `nonstop` (which leaves the simulator out) against it
/// (scripts/profile-code-layout.sh).
async fn serve_sim(args: &[String]) -> Result<()> {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
    };
    let port: u16 = value("--port").map_or(Ok(3030), |p| p.parse())?;
    let rate: Option<f64> = value("--rate").map(|r| r.parse()).transpose()?;
    let sim = Sim::bind(([127, 0, 0, 1], port).into(), SimConfig::default()).await?;
    println!("Slack simulator on http://{}", sim.addr());
    nonstop_sim::serve_until(sim, rate, nonstop::shutdown_signal()).await;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "sim") {
        return serve_sim(&args).await;
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let other_bot = args
        .iter()
        .position(|a| a == "--bot")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let _ = OTHER_BOT.set(other_bot);
    // --only faults|latency|replies|steady|throughput|journal|rtm|redis|http|streams runs one group
    // (redis and http only when named: they need a Redis).
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let reps = if quick { 3 } else { 20 };
    if only.as_deref().is_none_or(|o| o == "rtm") {
        rtm_faults(if quick { 2 } else { 5 }).await?;
        if only.is_some() {
            return Ok(());
        }
    }
    if only.as_deref() == Some("redis") {
        return redis_group(quick).await;
    }
    if only.as_deref() == Some("http") {
        return http_group(quick).await;
    }
    if only.as_deref() == Some("streams") {
        return streams::stream_group(quick).await;
    }
    if only.as_deref().is_none_or(|o| o == "journal") {
        // `--batch N`: envelopes per commit (512 unless given), to see what a commit costs.
        let batch = args
            .iter()
            .position(|a| a == "--batch")
            .and_then(|i| args.get(i + 1))
            .and_then(|n| n.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or(512);
        journal_bench(if quick { 100_000 } else { 1_000_000 }, batch)?;
        if only.is_some() {
            return Ok(());
        }
    }
    let sim = Sim::start(sim_config()).await?;
    let mut bot = Bot::start(&sim)?;
    wait_live(&sim, 2).await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!(
        "bot resident memory, idle with 2 live sockets: {}",
        bot.memory()
    );

    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("faults") {
        let n = reps.min(5);
        isolated(
            Fault::Drop { target: None },
            "abrupt drop of 1 of 2 sockets, from the drop",
            From::Inject,
            n,
        )
        .await?;
        isolated(
            Fault::HalfOpen { target: None },
            "half-open socket, from the fault (detection + reconnect)",
            From::Inject,
            n,
        )
        .await?;
        isolated(
            Fault::Outage {
                secs: 5.0,
                drop_all: true,
            },
            "5 s connect outage, from its end",
            From::OutageEnd(5.0),
            n,
        )
        .await?;
        isolated(
            Fault::RateLimit {
                secs: 3,
                drop_all: true,
            },
            "429 with Retry-After, from the last Retry-After expiry",
            From::RetryAfter,
            n,
        )
        .await?;
        drops(&sim, reps).await?;
        refreshes(&sim, n).await?;
    }
    let secs = if quick { 5 } else { 10 };
    if run("latency") {
        ack_latency(&sim, "hello", 1000.0, secs).await?;
        ack_latency(&sim, "ping", 1000.0, secs).await?;
        ack_latency(&sim, "hello", 10_000.0, secs).await?;
        println!("bot resident memory after 1,000 events/s: {}", bot.memory());
    }
    if run("replies") {
        // The issue-11 proofs: ten a second into one channel for a minute, answered in order;
        // then the same rate for 5 s into a channel that Slack limits (a burst of 10, then 1
        // a second, 429 with Retry-After beyond).
        reply_latency(&sim, "free", 10.0, if quick { 10 } else { 60 }).await?;
        sim.inject(Fault::ChannelLimit {
            burst: 10,
            per_sec: 1.0,
        });
        reply_latency(&sim, "limited", 10.0, 5).await?;
        sim.inject(Fault::Heal);
    }
    if run("steady") && !quick {
        // Steady running, on a fresh bot so that its peak is this run's alone: two minutes at
        // 1,000 events/s, each answered. Does memory stay flat as the journal grows?
        drop(bot);
        wait_live(&sim, 0).await?;
        bot = Bot::start(&sim)?;
        wait_live(&sim, 2).await?;
        // Halfway through, the bot is stopped for 0.2 s: the 200 events of that pause then
        // reach it at once, the burst any stall makes. Memory is read before and after.
        let pid = bot.child.id();
        let before_stall = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            let before = memory_of(pid);
            stall(pid, Duration::from_millis(200)).await;
            before
        });
        ack_latency(&sim, "ping", 1000.0, 120).await?;
        println!(
            "bot resident memory after 60 s at 1,000 events/s, each answered (fresh bot): {}",
            before_stall.await?
        );
        println!(
            "bot resident memory after 120 s, with a 0.2 s stall (SIGSTOP) at 60 s: {}",
            bot.memory()
        );
    }
    if run("throughput") {
        let total = if quick { 20_000 } else { 100_000 };
        web_rate(&sim, 64, total / 64).await?;
        ack_throughput(&sim, &bot, total).await?;
        // This machine's speed varies by ±15% from minute to minute: three runs, and their
        // median is the figure.
        let mut rates = Vec::new();
        for _ in 0..3 {
            rates.push(throughput(&sim, &bot, total).await?);
        }
        rates.sort_by(f64::total_cmp);
        println!(
            "throughput receive -> ack -> dispatch -> chat.postMessage (64 channels), median of 3 runs: {:.0} events/s (runs: {})",
            rates[1],
            rates.iter().map(|r| format!("{r:.0}")).collect::<Vec<_>>().join(", ")
        );
    }
    println!("bot resident memory at the end: {}", bot.memory());
    drop(bot);
    sim.shutdown().await;
    Ok(())
}
