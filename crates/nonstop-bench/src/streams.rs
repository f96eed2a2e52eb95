//! `--only streams`: answers streamed through the outbox ([`nonstop::Context::stream`]), a
//! bot in this process against the simulator, on default settings (a durable SQLite journal,
//! the default flush: the first text at once, then every 256 characters or 500 ms). A
//! handler plays a model: 1,000 tokens of 4 characters at a steady pace. Measured: time
//! from the model's first token to the stream's start reaching Slack (the first visible
//! text), and Web API calls per 1,000 tokens.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nonstop::{App, Config, Context, HandlerResult, Message, State};
use nonstop_sim::{inbound, Sim};
use tokio::time::Instant;

use crate::measure::{ms, percentile, sim_config, Result};

/// Tokens in each answer.
const TOKENS: usize = 1_000;
const STREAM_METHODS: [&str; 3] = ["chat.startStream", "chat.appendStream", "chat.stopStream"];

/// What the playing model shares with the bench.
struct Model {
    per_token: Duration,
    /// When each channel's answer had its first token.
    first_token: Mutex<HashMap<String, Instant>>,
}

async fn answer(ctx: Context, _question: Message, model: State<Arc<Model>>) -> HandlerResult {
    let mut stream = ctx.stream()?;
    for i in 0..TOKENS {
        tokio::time::sleep(model.per_token).await;
        if i == 0 {
            let channel = ctx.channel().unwrap_or_default().to_owned();
            let mut first = model
                .first_token
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            first.insert(channel, Instant::now());
        }
        stream.append(&format!("{:03} ", i % 1000)).await?;
    }
    stream.finish(None).await?;
    Ok(())
}

pub(crate) async fn stream_group(quick: bool) -> Result<()> {
    let paces = [
        (
            "a fast model, 200 tokens/s",
            Duration::from_millis(5),
            50,
            10,
        ),
        (
            "a slow model, 25 tokens/s",
            Duration::from_millis(40),
            20,
            20,
        ),
    ];
    for (name, per_token, answers, at_once) in paces {
        let answers = if quick { answers / 5 } else { answers };
        run(name, per_token, answers, at_once.min(answers)).await?;
    }
    Ok(())
}

/// `answers` answers at `per_token`, `at_once` streaming at a time.
async fn run(name: &str, per_token: Duration, answers: usize, at_once: usize) -> Result<()> {
    let sim = Sim::start(sim_config()).await?;
    let tokens = sim.config();
    let mut config = Config::new(&tokens.app_token, &tokens.bot_token)?;
    config.api_url = sim.api_url();
    let journal =
        std::env::temp_dir().join(format!("nonstop-bench-streams-{}.db", std::process::id()));
    config.journal_path = Some(journal.clone());
    let model = Arc::new(Model {
        per_token,
        first_token: Mutex::new(HashMap::new()),
    });
    let app = App::new(config)
        .with_state(Arc::clone(&model))
        .hears("^question", answer);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let bot = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    if !sim
        .wait_for_stats(Duration::from_secs(30), |s| s.live_sockets >= 1)
        .await
    {
        return Err("the bot did not connect".into());
    }
    let done = |sim: &Sim, n: usize| {
        let streams = sim.streams();
        streams.len() >= n && streams.iter().all(|s| !s.open)
    };
    let mut asked = 0;
    while asked < answers {
        let batch = at_once.min(answers - asked);
        for n in asked..asked + batch {
            sim.send(inbound::message("question").channel(format!("C{n:04}")));
        }
        asked += batch;
        let wait = per_token * TOKENS as u32 * 4 + Duration::from_secs(30);
        if !sim.wait_for_stats(wait, |_| done(&sim, asked)).await {
            return Err(format!("{asked} answers did not all end").into());
        }
    }
    let _ = stop.send(());
    let _ = bot.await;
    for suffix in ["", "-wal", "-shm", "-lock"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", journal.display()));
    }
    report(name, &sim, &model, answers);
    sim.shutdown().await;
    Ok(())
}

fn report(name: &str, sim: &Sim, model: &Model, answers: usize) {
    let first_token = model
        .first_token
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut visible: Vec<Duration> = sim
        .calls("chat.startStream")
        .iter()
        .filter_map(|call| {
            let channel = call.args.get("channel")?.as_str()?;
            Some(
                call.at
                    .saturating_duration_since(*first_token.get(channel)?),
            )
        })
        .collect();
    visible.sort();
    let calls: usize = STREAM_METHODS.iter().map(|m| sim.calls(m).len()).sum();
    let per_thousand = calls as f64 * 1000.0 / (answers * TOKENS) as f64;
    let whole = sim
        .streams()
        .iter()
        .filter(|s| s.text.len() == TOKENS * 4)
        .count();
    println!("streamed answers, {name}, {answers} answers of {TOKENS} tokens:");
    println!(
        "  model's first token -> first visible text (the start at Slack): p50 {}, p99 {} ({} answers)",
        ms(percentile(&visible, 50.0)),
        ms(percentile(&visible, 99.0)),
        visible.len()
    );
    println!("  Web API calls per 1,000 tokens (start, appends, stop): {per_thousand:.1}");
    println!("  answers whole: {whole} of {answers}");
}
