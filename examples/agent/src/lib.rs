//! An agent in Slack threads, answering from a language model.
//!
//! - A person opens a thread with the app: it offers two suggested prompts.
//! - A question in the thread (or a direct message): the status "is thinking…" while the model
//!   (any OpenAI-compatible chat-completions endpoint, streamed) answers, then the answer in
//!   the thread with 👍/👎 under it. The conversation is kept per thread in the bot's storage
//!   and sent to the model with each question.
//! - A click on 👍 or 👎 is thanked for, in the thread.
//!
//! Each question is answered once: its answer is kept (by the question's `ts`) before it is
//! sent, so a run replayed after a crash sends the same answer (which the outbox then sends
//! at most once) instead of asking the model again.

mod model;

pub use model::{Model, ModelError, ModelSettings, Turn};

use nonstop::blocks::{self, Block, FeedbackButtons, Markdown};
use nonstop::{
    App, AppInfo, AssistantThreadStarted, BlockAction, Config, Context, HandlerResult, Hears,
    Message, State, SuggestedPrompt,
};
use serde::{Deserialize, Serialize};

/// The feedback buttons' action id.
pub const FEEDBACK: &str = "feedback";
/// Turns of a thread kept and sent to the model, at most.
const KEPT_TURNS: usize = 40;
/// The longest answer shown (a markdown block's limit).
const SHOWN: usize = 12_000;

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
    let answer = match thread.iter().find(|e| e.ts == ts) {
        // Answered before a crash cut the run off: the same answer again.
        Some(kept) => kept.answer.clone(),
        None => {
            ctx.set_status("is thinking…").await?;
            let answer = answer(&agent, &thread, &message.text).await;
            thread.push(Exchange {
                ts,
                question: message.text.clone(),
                answer: answer.clone(),
            });
            let from = thread.len().saturating_sub(KEPT_TURNS / 2);
            ctx.storage().set(&key, &thread[from..].to_vec()).await?;
            answer
        }
    };
    let shown: String = answer.chars().take(SHOWN).collect();
    let reply = blocks::Message::new(shown.clone()).blocks([
        Block::Markdown(Markdown {
            text: shown,
            ..Markdown::default()
        }),
        Block::context_actions([FeedbackButtons::new(FEEDBACK)]).into(),
    ]);
    ctx.reply(reply).await?;
    Ok(())
}

/// The model's answer to `question` after the thread so far, or what went wrong, in words.
async fn answer(agent: &Agent, thread: &[Exchange], question: &str) -> String {
    let Some(model) = &agent.model else {
        return "I have no model to ask: set AGENT_API_URL (and AGENT_MODEL, AGENT_API_KEY)."
            .to_owned();
    };
    let mut turns: Vec<Turn> = thread
        .iter()
        .flat_map(|e| [Turn::user(&e.question), Turn::assistant(&e.answer)])
        .collect();
    turns.push(Turn::user(question));
    match model.answer(&turns).await {
        Ok(text) if text.trim().is_empty() => "The model had nothing to say.".to_owned(),
        Ok(text) => text,
        Err(e) => format!("Sorry, I could not answer: {e}."),
    }
}

async fn rated(ctx: Context, click: BlockAction) -> HandlerResult {
    let thanks = match click.action.selected().first().copied() {
        Some("positive") => "Thanks! Glad it helped.",
        _ => "Thanks for telling me; I'll try to do better.",
    };
    ctx.reply(thanks).await?;
    Ok(())
}
