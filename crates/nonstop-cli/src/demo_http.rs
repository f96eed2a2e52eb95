//! `nonstop demo --transport http`: the simulator posting to a bot's request URL, the app
//! installed in two more workspaces through the OAuth flow (their tokens rotating every few
//! seconds), a minute of HTTP faults (forged, aged, replayed and late requests, a failing and
//! a slow Web API, the bot SIGKILLed mid-stream and started again on its journal), and the
//! same report as the Socket Mode demo: every `ping N` answered once, in its own workspace.
//! The bot is a process of its own (this binary's hidden `demo-bot`), so that it can be
//! killed as an operator's `kill -9` or an out-of-memory killer would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use nonstop::App;
use nonstop_sim::{inbound, Fault, Sim, SimConfig};
use tokio::time::Instant;

/// The workspaces installed through the flow, besides the bot's own.
const INSTALLED: [(&str, &str); 2] = [("T0ACME", "Acme"), ("T0GLOBEX", "Globex")];

/// The fault schedule (second of a 60 s run, fault, what a viewer should see).
fn schedule() -> Vec<(f64, Option<Fault>, &'static str)> {
    vec![
        (
            5.0,
            Some(Fault::BadSignature { count: 3 }),
            "3 forged requests (bad signature)",
        ),
        (
            9.0,
            Some(Fault::StaleTimestamp { count: 3 }),
            "3 captured requests replayed 10 min later",
        ),
        (
            13.0,
            Some(Fault::ReplayRequest { count: 5 }),
            "5 requests sent twice, byte for byte",
        ),
        (
            17.0,
            Some(Fault::LateAnswer { count: 5 }),
            "5 answers taken as late: Slack retries them",
        ),
        (
            22.0,
            None,
            "the bot SIGKILLed mid-stream, started again on its journal",
        ),
        (
            32.0,
            Some(Fault::FailMethod {
                method: "chat.postMessage".into(),
                count: 8,
                status: 503,
                code: None,
            }),
            "chat.postMessage answers 503 eight times",
        ),
        (
            40.0,
            Some(Fault::SlowWebApi { millis: 400 }),
            "slow Web API",
        ),
        (50.0, Some(Fault::Heal), "faults cleared"),
    ]
}

/// The bot's process; killed (SIGKILL on Unix) when dropped.
struct Bot {
    child: std::process::Child,
}

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the bot (`demo-bot`) receiving at `addr`, on the journal at `journal`, its log
/// appended to `log`; returns once it is ready.
async fn start_bot(sim: &Sim, addr: SocketAddr, journal: &Path, log: &Path) -> anyhow::Result<Bot> {
    let settings = sim.config();
    let mut command = std::process::Command::new(std::env::current_exe()?);
    command.arg("demo-bot");
    // Only the demo's settings: none of the shell's Slack or nonstop settings but the log's.
    for (name, _) in std::env::vars() {
        let ours =
            name.starts_with("SLACK_") || name.starts_with("NONSTOP_") || name == "REDIS_URL";
        if ours && !name.starts_with("NONSTOP_LOG") {
            command.env_remove(name);
        }
    }
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let child = command
        .env("NONSTOP_TRANSPORT", "http")
        .env("SLACK_BOT_TOKEN", &settings.bot_token)
        .env("SLACK_SIGNING_SECRET", &settings.signing_secret)
        .env("SLACK_API_URL", sim.api_url())
        .env("SLACK_CLIENT_ID", &settings.client_id)
        .env("SLACK_CLIENT_SECRET", &settings.client_secret)
        .env("NONSTOP_DB", journal)
        .env("NONSTOP_HTTP_LISTEN", addr.to_string())
        .env("NONSTOP_HTTP", addr.to_string())
        .env("NONSTOP_PUBLIC_URL", format!("http://{addr}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(log_file)
        .spawn()
        .context("could not start the bot's process")?;
    let mut bot = Bot { child };
    let ready = format!("http://{addr}/readyz");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if reqwest::get(&ready)
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return Ok(bot);
        }
        if let Some(exit) = bot.child.try_wait()? {
            anyhow::bail!(
                "the bot's process ended ({exit}); its log: {}",
                log.display()
            );
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the bot was not ready within 30 s; its log: {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `nonstop demo-bot`: the demo's bot, started by the demo with its settings in the
/// environment: the built-in bot at a request URL, with OAuth, renewing tokens that live 12 s
/// (Slack's: 12 hours) 6 s ahead and looking every second.
pub(crate) async fn bot_process() -> anyhow::Result<()> {
    let mut config = nonstop::Config::from_env()?;
    if let Some(oauth) = config.oauth.as_mut() {
        oauth.rotation_margin = Duration::from_secs(6);
        oauth.rotation_check = Duration::from_secs(1);
    }
    App::new(config)
        .with_builtin_commands()
        .run(nonstop::shutdown_signal())
        .await?;
    Ok(())
}

/// Installs the app in `team` as a person would: the install page, Slack's authorize page,
/// the redirect back.
async fn install(addr: SocketAddr, team: &str, name: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = http
        .get(format!("http://{addr}/slack/install"))
        .send()
        .await?;
    let cookie = page
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .context("the install page set no cookie")?;
    let body = page.text().await?;
    let link = body
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("the install page has no link")?
        .replace("&amp;", "&");
    let approved = http
        .get(format!("{link}&team={team}&team_name={name}"))
        .send()
        .await?;
    let back = approved
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .context("Slack's page sent no redirect")?
        .to_owned();
    let done = http.get(back).header("cookie", cookie).send().await?;
    anyhow::ensure!(
        done.status().is_success(),
        "the install of {team} failed: {}",
        done.text().await?
    );
    Ok(())
}

pub(crate) async fn run(secs: u64, rate: f64) -> anyhow::Result<()> {
    let secs = secs.max(10);
    let scale = secs as f64 / 60.0;
    let sim = Sim::start(SimConfig {
        token_rotation: Some(Duration::from_secs(12)),
        ..SimConfig::default()
    })
    .await
    .context("could not start the simulator")?;
    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let journal = std::env::temp_dir().join(format!("nonstop-demo-http-{}.db", std::process::id()));
    let log = std::env::temp_dir().join(format!("nonstop-demo-http-{}.log", std::process::id()));
    sim.set_request_url(Some(&format!("http://{addr}/slack/events")));
    let mut bot = start_bot(&sim, addr, &journal, &log).await?;
    println!("nonstop demo: a Slack simulator on {} posting to a bot's request URL http://{addr}/slack/events (the bot a process of its own, its log in {})", sim.addr(), log.display());
    for (team, name) in INSTALLED {
        install(addr, team, name).await?;
        println!("installed in {name} ({team}) through the OAuth flow: its own token, rotating every 12 s");
    }
    let total = (rate * secs as f64) as u64;
    let home = nonstop_sim::spawn_generator(&sim, "C0DEMO", rate, Some(total));
    let start = Instant::now();
    let mut plan = schedule().into_iter().peekable();
    let mut sent_installed = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    while start.elapsed() < Duration::from_secs(secs) {
        tick.tick().await;
        // The installed workspaces talk too: a ping from each, four times a second.
        for (team, _) in INSTALLED {
            sent_installed += 1;
            let text = format!("ping {}-{sent_installed}", team.to_lowercase());
            sim.send_in(team, inbound::message(text).channel(format!("C-{team}")));
        }
        while let Some((at, _, _)) = plan.peek() {
            if start.elapsed().as_secs_f64() < at * scale {
                break;
            }
            let Some((_, fault, what)) = plan.next() else {
                break;
            };
            eprintln!("t={:>4.1}s {what}", start.elapsed().as_secs_f64());
            match fault {
                Some(fault) => sim.inject(fault),
                None => {
                    drop(bot); // SIGKILL, and reaped
                    bot = start_bot(&sim, addr, &journal, &log).await?;
                }
            }
        }
    }
    let sent = home.await.unwrap_or(0) + sent_installed;
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline && count(&sim).0 < sent as usize {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    report(&sim, sent, &log);
    let (handled, doubled, wrong_team) = count(&sim);
    drop(bot);
    sim.shutdown().await;
    for suffix in ["", "-wal", "-shm", "-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    let lost = (sent as usize).saturating_sub(handled);
    if lost > 0 || doubled > 0 || wrong_team > 0 {
        anyhow::bail!("{lost} events lost, {doubled} handled twice, {wrong_team} answered with another workspace's token");
    }
    Ok(())
}

/// Pings answered, answered twice, and answered in a workspace other than the ping's.
fn count(sim: &Sim) -> (usize, usize, usize) {
    let mut answers: HashMap<String, u32> = HashMap::new();
    let mut wrong_team = 0;
    for call in sim.calls("chat.postMessage") {
        let text = call
            .args
            .get("text")
            .and_then(|t| t.as_str())
            .unwrap_or_default();
        let Some(n) = text.strip_prefix("pong ") else {
            continue;
        };
        if call.status != 200 {
            continue;
        }
        *answers.entry(n.to_owned()).or_default() += 1;
        let channel = call
            .args
            .get("channel")
            .and_then(|c| c.as_str())
            .unwrap_or_default();
        let expected = channel.strip_prefix("C-").unwrap_or("T0SIM");
        if call.team.as_deref() != Some(expected) {
            wrong_team += 1;
        }
    }
    let doubled = answers.values().filter(|c| **c > 1).count();
    (answers.len(), doubled, wrong_team)
}

fn report(sim: &Sim, sent: u64, log: &Path) {
    let (handled, doubled, wrong_team) = count(sim);
    let stats = sim.stats();
    println!("\n== report");
    println!("events sent:            {sent} (from 3 workspaces)");
    println!("handled:                {handled}");
    println!(
        "lost:                   {}",
        (sent as usize).saturating_sub(handled)
    );
    println!("handled twice:          {doubled}");
    println!("answered with another workspace's token: {wrong_team}");
    println!(
        "simulator:              {} requests posted, {} answered in time, {} turned away as not Slack's, {} failed and sent again",
        stats.http_posts, stats.http_answered, stats.http_turned_away, stats.http_failed
    );
    println!(
        "tokens:                 {} renewed ahead of expiry, {} calls with an expired token",
        stats.token_refreshes, stats.expired_token_calls
    );
    println!(
        "bot's log:              {} (each refusal and renewal named)",
        log.display()
    );
}
