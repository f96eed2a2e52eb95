//! An agent in Slack threads, answering from a language model.
//!
//! - A person opens a thread with the app: it offers two suggested prompts.
//! - A question in the thread (or a direct message): the status "is thinking…" until the
//!   model (any OpenAI-compatible chat-completions endpoint) begins, then its answer streamed
//!   into the thread as it comes ([`Context::stream`]), with 👍/👎 under it at the end. The
//!   conversation is kept per thread in the bot's storage and sent to the model with each
//!   question.
//! - A click on 👍 or 👎 is thanked for, in the thread.
//!
//! Each question is answered once, in one message: every piece of the stream is in the
//! outbox before it goes out. A run replayed after a crash mid-answer asks the model again
//! and goes on from where the message stands (what went out already is not sent again); once
//! the model has answered, the answer is kept (by the question's `ts`), and a run replayed
//! after that sends the rest of it without asking the model again.

mod model;

pub use model::{Model, ModelError, ModelSettings, Turn};

use nonstop::blocks::{Block, FeedbackButtons};
use nonstop::{
    AnswerStream, App, AppInfo, AssistantThreadStarted, BlockAction, Config, Context, ContextError,
    HandlerResult, Hears, Message, State, SuggestedPrompt,
};
use serde::{Deserialize, Serialize};

/// The feedback buttons' action id.
pub const FEEDBACK: &str = "feedback";
/// Turns of a thread kept and sent to the model, at most.
const KEPT_TURNS: usize = 40;

/// What the listeners share: the model, when one is set up.
#[derive(Debug)]
pub struct Agent {
    pub model: Option<Model>,
}

/// The app with the model of the environment (`AGENT_API_URL`, `AGENT_MODEL`,
/// `AGENT_API_KEY`).
pub fn app(config: Config) -> App {
    app_with(config, ModelSettings::from_env())
}

/// The app with a model of your choosing (`None`: it says it has none).
pub fn app_with(config: Config, model: Option<ModelSettings>) -> App {
    App::new(config)
        .with_info(
            AppInfo::new("Agent")
                .description("Answers your questions in a thread, from a language model"),
        )
        .with_state(Agent {
            model: model.map(Model::new),
        })
        .on(thread_started)
        .hears_with(Hears::new("").direct(), asked)
        .action(FEEDBACK, rated)
}

async fn thread_started(ctx: Context, _thread: AssistantThreadStarted) -> HandlerResult {
    let prompts = [
        SuggestedPrompt::new("Explain", "Explain what nonstop does, in two sentences"),
        SuggestedPrompt::new("Write", "Write a haiku about uptime"),
    ];
    ctx.set_suggested_prompts(Some("Try one of these"), &prompts)
        .await?;
    Ok(())
}

/// One question and its answer, as the thread keeps them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Exchange {
    /// The question's `ts`: the same question replayed finds its answer here.
    ts: String,
    question: String,
    answer: String,
}

async fn asked(ctx: Context, message: Message, agent: State<Agent>) -> HandlerResult {
    if message.text.trim().is_empty() {
        return Ok(());
    }
    let key = format!(
        "agent:{}:{}",
        ctx.channel().unwrap_or("-"),
        ctx.thread_ts().or(ctx.meta().ts.as_deref()).unwrap_or("-")
    );
    let ts = ctx.meta().ts.clone().unwrap_or_default();
    let mut thread: Vec<Exchange> = ctx.storage().get(&key).await?.unwrap_or_default();
    let mut stream = ctx.stream()?;
    match thread.iter().find(|e| e.ts == ts) {
        // Answered before a crash cut the run off: the same answer (what of it went out
        // already is not sent again).
        Some(kept) => stream.append(&kept.answer).await?,
        None => {
            ctx.set_status("is thinking…").await?;
            let answer = stream_answer(&agent, &thread, &message.text, &mut stream).await?;
            thread.push(Exchange {
                ts,
                question: message.text.clone(),
                answer,
            });
            let from = thread.len().saturating_sub(KEPT_TURNS / 2);
            ctx.storage().set(&key, &thread[from..].to_vec()).await?;
        }
    }
    let feedback = Block::context_actions([FeedbackButtons::new(FEEDBACK)]);
    stream.finish(Some(vec![feedback.into()])).await?;
    Ok(())
}

/// Streams the model's answer to `question` after the thread so far into `stream` as it
/// comes (or what went wrong, in words), and returns it whole.
async fn stream_answer(
    agent: &Agent,
    thread: &[Exchange],
    question: &str,
    stream: &mut AnswerStream,
) -> Result<String, ContextError> {
    let Some(model) = &agent.model else {
        let text = "I have no model to ask: set AGENT_API_URL (and AGENT_MODEL, AGENT_API_KEY).";
        stream.append(text).await?;
        return Ok(text.to_owned());
    };
    let mut turns: Vec<Turn> = thread
        .iter()
        .flat_map(|e| [Turn::user(&e.question), Turn::assistant(&e.answer)])
        .collect();
    turns.push(Turn::user(question));
    // Unbounded, but no longer than the model's longest answer (the client stops there).
    let (text, mut arriving) = tokio::sync::mpsc::unbounded_channel::<String>();
    let asking = model.answer_with(&turns, move |piece| {
        let _ = text.send(piece.to_owned());
    });
    tokio::pin!(asking);
    let mut answer = String::new();
    let outcome = loop {
        tokio::select! {
            Some(piece) = arriving.recv() => {
                stream.append(&piece).await?;
                answer.push_str(&piece);
            }
            outcome = &mut asking => break outcome,
            // The model paused: what it said so far shows now.
            () = tokio::time::sleep(nonstop::FLUSH_AFTER) => stream.flush().await?,
        }
    };
    while let Ok(piece) = arriving.try_recv() {
        stream.append(&piece).await?;
        answer.push_str(&piece);
    }
    let last = match outcome {
        Ok(_) if answer.trim().is_empty() => "The model had nothing to say.".to_owned(),
        Ok(_) => String::new(),
        Err(e) if answer.is_empty() => format!("Sorry, I could not answer: {e}."),
        Err(e) => format!("\n\n_(Sorry, the model stopped: {e}.)_"),
    };
    stream.append(&last).await?;
    answer.push_str(&last);
    Ok(answer)
}

async fn rated(ctx: Context, click: BlockAction) -> HandlerResult {
    let thanks = match click.action.selected().first().copied() {
        Some("positive") => "Thanks! Glad it helped.",
        _ => "Thanks for telling me; I'll try to do better.",
    };
    ctx.reply(thanks).await?;
    Ok(())
}
