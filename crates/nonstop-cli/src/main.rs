//! The `nonstop` binary: run a bot, read its journal; with the `simulator` feature (on by
//! default, off in the deployed build) also run the Slack simulator or watch the demo.

#[cfg(feature = "simulator")]
mod demo;
#[cfg(feature = "simulator")]
mod sim_control;
#[cfg(feature = "simulator")]
mod simulator;

use std::io::IsTerminal;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[derive(Parser, Debug)]
#[command(
    name = "nonstop",
    version,
    about = "A Slack bot runtime that stays online"
)]
struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "NONSTOP_LOG_FORMAT"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the bot with SLACK_APP_TOKEN, SLACK_BOT_TOKEN and optional SLACK_API_URL.
    Run,
    /// Run the Slack simulator; or, with a subcommand, drive a running one (send any inbound
    /// kind, read the bot's calls, acks and responses).
    #[cfg(feature = "simulator")]
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 3030)]
        port: u16,
        /// Also send `ping N` messages into channel C0DEMO at this rate (per second).
        #[arg(long)]
        rate: Option<f64>,
        #[command(subcommand)]
        action: Option<sim_control::SimAction>,
    },
    /// Walk from the settings to a live socket step by step (DNS, TCP, TLS, auth.test, the
    /// socket URL, the upgrade, hello, a ping), then the journal; a verdict per step and the
    /// fix when one fails. Exits 0 only when none failed.
    Doctor {
        /// Also post a test message to this channel (its id, e.g. C0123ABCD).
        #[arg(long, value_name = "CHANNEL")]
        post_to: Option<String>,
    },
    /// Ask a running bot's /healthz (its operator endpoint, NONSTOP_HTTP) and exit 0 when it
    /// answers 200: a container's health check, in an image with no shell or curl.
    Health {
        /// The endpoint's health URL (plain http, as the endpoint serves).
        #[arg(default_value = "http://127.0.0.1:9090/healthz")]
        url: String,
    },
    /// Show the journal (NONSTOP_DB): counts by state, recent events, and failures with errors.
    Journal {
        /// How many recent events and failures to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Start the simulator and a bot, play every fault, and report what the bot lost.
    #[cfg(feature = "simulator")]
    Demo {
        /// Length of the fault schedule in seconds.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Messages per second the simulated users send.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// `socket` (Socket Mode) or `rtm`: the classic bot of nonstop's story, kept online,
        /// with what was said while it could not hear caught up from history.
        #[arg(long, default_value = "socket", value_parser = ["socket", "rtm"])]
        transport: String,
    },
    /// `sim` or `demo` asked of a build without them: said in words, not "unrecognized".
    #[cfg(not(feature = "simulator"))]
    #[command(name = "sim", hide = true, aliases = ["demo"], disable_help_flag = true)]
    LeftOut {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run => run().await,
            #[cfg(feature = "simulator")]
            Command::Sim {
                port,
                rate,
                action,
            } => match action {
                None => simulator::run(port, rate).await,
                Some(action) => sim_control::run(action).await,
            },
            #[cfg(feature = "simulator")]
            Command::Demo {
                secs,
                rate,
                transport,
            } => demo::run(secs, rate, transport == "rtm").await,
            Command::Journal { limit } => journal(limit),
            Command::Doctor { post_to } => doctor(post_to).await,
            Command::Health { url } => health(&url).await,
            #[cfg(not(feature = "simulator"))]
            Command::LeftOut { .. } => Err(anyhow::anyhow!(
                "this nonstop is the deployed build, which leaves out the simulator and the demo; \
                 run them from a build with default features: cargo run --release -p nonstop-cli -- sim"
            )),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", nonstop_web::redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
    }
}

/// `nonstop health URL`: one GET over plain HTTP, within 5 s; Ok on a 200, the status line
/// (and the body's `why`) otherwise.
async fn health(url: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| anyhow::anyhow!("{url}: the operator endpoint serves plain http://"))?;
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/healthz".to_owned()),
    };
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        // A health answer is small; more than this is not one.
        stream.take(64 * 1024).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
        .await
        .map_err(|_| anyhow::anyhow!("{url}: no answer within 5 s"))?
        .with_context(|| format!("{url}: no connection"))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let why = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["why"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        println!("healthy: {why}");
        Ok(())
    } else {
        anyhow::bail!("unhealthy: {status_line}: {why}")
    }
}

/// `nonstop doctor`: each step's verdict as it comes, and the exit status.
async fn doctor(post_to: Option<String>) -> anyhow::Result<()> {
    use nonstop::doctor::{DoctorOptions, Verdict};
    let config = match nonstop::Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            println!("FAIL settings: {e}");
            anyhow::bail!("the settings are incomplete; nothing else was checked");
        }
    };
    let mut options = DoctorOptions::default();
    if let Some(channel) = post_to {
        options = options.post_to(channel);
    }
    // The bot `nonstop run` runs: its listeners' scopes are checked too.
    let app = nonstop::App::new(config).with_builtin_commands();
    let findings = app
        .doctor(&options, |finding| {
            let step = finding.step.name();
            let line = match &finding.verdict {
                Verdict::Pass(seen) => format!("ok   {step}: {seen}"),
                Verdict::Fail { problem, fix } => {
                    format!("FAIL {step}: {problem}\n     fix: {fix}")
                }
                Verdict::Skipped(why) => format!("skip {step}: {why}"),
            };
            println!("{}", nonstop_web::redact(&line));
        })
        .await;
    let failed = findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Fail { .. }))
        .count();
    if failed > 0 {
        anyhow::bail!("{failed} step(s) failed; see the fixes above");
    }
    println!("all steps passed: the bot can connect");
    Ok(())
}

/// The WebSocket library traces each handshake's request line, whose URL carries Slack's
/// single-use `ticket`: that target is held at `debug` whatever `NONSTOP_LOG` asks.
const HANDSHAKE_TARGET: &str = "tungstenite::handshake::client";

/// `NONSTOP_LOG` as `tracing` targets and levels (`info`, `warn,nonstop=debug`); `default`
/// when unset, and when unreadable, with a line saying so. Never below `debug` for
/// [`HANDSHAKE_TARGET`].
fn log_filter(default: &str) -> Targets {
    let fallback = || default.parse().unwrap_or_default();
    let filter: Targets = match std::env::var("NONSTOP_LOG") {
        Ok(value) => value.parse().unwrap_or_else(|e| {
            eprintln!("NONSTOP_LOG={value:?} is not a log filter ({e}); using {default:?}");
            fallback()
        }),
        Err(_) => fallback(),
    };
    if filter.would_enable(HANDSHAKE_TARGET, &tracing::Level::TRACE) {
        filter.with_target(HANDSHAKE_TARGET, tracing::Level::DEBUG)
    } else {
        filter
    }
}

fn init_logging(cli: &Cli) {
    let default = match cli.command {
        #[cfg(feature = "simulator")]
        Command::Demo { .. } => "warn,nonstop_cli=info",
        _ => "info",
    };
    let filter = log_filter(default);
    // Colour only for a person at a terminal: a log file or journald gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let registry = tracing_subscriber::registry().with(filter);
    if cli.log_format == "json" {
        registry.with(layer.json().with_current_span(false)).init();
    } else {
        registry.with(layer).init();
    }
    // A panic message may quote user data; never let it print a token.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {}", nonstop_web::redact(&info.to_string()));
    }));
}

async fn run() -> anyhow::Result<()> {
    let config = nonstop::Config::from_env()?;
    let app = nonstop::App::new(config).with_builtin_commands();
    // The first signal drains (handlers finish, the journal is flushed, sockets close); a
    // second one exits at once: what was journaled is handled after the next start.
    let shutdown = async {
        nonstop::shutdown_signal().await;
        tokio::spawn(async {
            nonstop::shutdown_signal().await;
            eprintln!(
                "second signal: exiting now without draining; what was journaled is handled after the next start"
            );
            std::process::exit(130);
        });
    };
    app.run(shutdown).await.context("the bot stopped")?;
    Ok(())
}

/// The journal the bot's settings name, opened to read while bots run on it: the Redis of
/// `REDIS_URL` (as no replica), else the SQLite file of `NONSTOP_DB`. Returns it, how to
/// name it, and with Redis, lines on the replicas that share it.
fn journal_to_read() -> anyhow::Result<(Box<dyn nonstop::journal::Store>, String, Vec<String>)> {
    if let Some(url) = std::env::var(nonstop::config::ENV_REDIS_URL)
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        let prefix = std::env::var(nonstop::config::ENV_REDIS_PREFIX)
            .unwrap_or_else(|_| "nonstop".to_owned());
        let ca = std::env::var(nonstop::config::ENV_REDIS_CA)
            .ok()
            .filter(|p| !p.trim().is_empty())
            .map(|p| std::path::PathBuf::from(p.trim()));
        let options = nonstop::journal::RedisOptions {
            prefix: prefix.trim().to_owned(),
            ..nonstop::journal::RedisOptions::default()
        }
        .with_ca_file(ca.as_deref())?;
        let store = nonstop::journal::RedisStore::open_read_only(url.trim(), options)?;
        let name = format!("{} prefix {}", store.url(), prefix.trim());
        let replicas = store
            .replicas()?
            .into_iter()
            .map(|r| {
                let lease = match r.lease_left {
                    Some(left) => format!("lease {:.0} s left", left.as_secs_f64()),
                    None => "gone (lease ran out or given up)".to_owned(),
                };
                format!(
                    "  {} {lease}, {} sockets, {} events unfinished, {} answers waiting",
                    r.id, r.sockets, r.unfinished, r.answers_waiting
                )
            })
            .collect();
        return Ok((Box::new(store), name, replicas));
    }
    let path = std::env::var(nonstop::config::ENV_DB)
        .unwrap_or_else(|_| nonstop::config::DEFAULT_DB.to_owned());
    if !std::path::Path::new(&path).exists() {
        anyhow::bail!("no journal at {path}; set NONSTOP_DB to the bot's journal file (or REDIS_URL for a journal in Redis)");
    }
    // Read only: a bot may be running on it, and looking must never create or change a file.
    Ok((
        Box::new(nonstop::SqliteStore::open_read_only(&path)?),
        path,
        Vec::new(),
    ))
}

fn journal(limit: usize) -> anyhow::Result<()> {
    use nonstop::journal::EntryState;
    let (store, path, replicas) = journal_to_read()?;
    let store = store.as_ref();
    let mut out = std::io::stdout().lock();
    let counts = store.counts()?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    let serving = match store.bot()? {
        Some(bot) => format!(", serving bot {bot}"),
        None => String::new(),
    };
    writeln!(out, "journal {path}: {total} events{serving}")?;
    for (state, n) in &counts {
        writeln!(out, "  {:<10} {n}", state.as_str())?;
    }
    if !replicas.is_empty() {
        writeln!(out, "\nreplicas (longest lease first):")?;
        for line in replicas {
            writeln!(out, "{line}")?;
        }
    }
    let when = |e: &nonstop::journal::Entry| {
        e.received_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    writeln!(
        out,
        "\nrecent (newest first): seq, received (unix s), state, attempts, key, type"
    )?;
    for e in store.recent(limit, None)? {
        writeln!(
            out,
            "  {:>8} {} {:<10} {} {} {}",
            e.seq,
            when(&e),
            e.state.as_str(),
            e.attempts,
            e.key,
            e.kind
        )?;
    }
    let failed = store.recent(limit, Some(EntryState::Failed))?;
    if !failed.is_empty() {
        writeln!(out, "\nfailures (newest first):")?;
        for e in failed {
            writeln!(
                out,
                "  {:>8} {} {}: {}",
                e.seq,
                when(&e),
                e.key,
                nonstop_web::redact(e.error.as_deref().unwrap_or("?"))
            )?;
        }
    }
    // A journal from before the outbox (schema 1, opened read only) has none.
    if let Err(e) = outbox(&mut out, store, limit) {
        writeln!(out, "\noutbox: not readable ({e})")?;
    }
    Ok(())
}

/// The outbox part of `nonstop journal`: answers by state, those not delivered yet, and
/// those Slack refused.
fn outbox(
    out: &mut impl std::io::Write,
    store: &dyn nonstop::journal::Store,
    limit: usize,
) -> anyhow::Result<()> {
    use nonstop::journal::OutputState;
    let counts = store.outbox_counts()?;
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    writeln!(out, "\noutbox: {total} answers")?;
    for (state, n) in &counts {
        writeln!(out, "  {:<10} {n}", state.as_str())?;
    }
    let written = |o: &nonstop::journal::Output| {
        o.created_at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    };
    // Every process's, newest first (`outbox_unfinished` would be this process's own: with
    // Redis, none).
    let waiting = store.outbox_recent(limit, Some(OutputState::Pending))?;
    if !waiting.is_empty() {
        writeln!(
            out,
            "\nnot delivered yet (newest first): id, written (unix s), calls made, key, method, lane"
        )?;
        for o in waiting {
            writeln!(
                out,
                "  {:>8} {} {} {} {} {}",
                o.id,
                written(&o),
                o.attempts,
                o.key,
                o.method,
                o.lane
            )?;
        }
    }
    let refused = store.outbox_recent(limit, Some(OutputState::Failed))?;
    if !refused.is_empty() {
        writeln!(out, "\nanswers Slack refused (newest first):")?;
        for o in refused {
            writeln!(
                out,
                "  {:>8} {} {}: {}: {}",
                o.id,
                written(&o),
                o.key,
                o.method,
                nonstop_web::redact(o.error.as_deref().unwrap_or("?"))
            )?;
        }
    }
    Ok(())
}
