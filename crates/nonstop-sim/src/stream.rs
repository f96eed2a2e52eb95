//! Streamed answers and agent threads, as Slack serves them to AI apps.
//!
//! `chat.startStream` posts a message in a thread and opens its stream; `chat.appendStream`
//! adds text to the open stream; `chat.stopStream` adds the last of it (and blocks, such as
//! feedback buttons) and closes it. A stream belongs to one message: an append or a stop once
//! it is closed, by a stop or by its lifetime running out ([`crate::SimConfig::stream_lifetime`],
//! about five minutes at Slack), is refused `message_not_in_streaming_state`. The text is
//! assembled per message, as a person sees it, so a test reads the final message whole
//! ([`crate::Sim::streams`]); the message is in the channel's history like any other.
//!
//! `assistant.threads.setStatus`, `setSuggestedPrompts` and `setTitle` keep each agent
//! thread's state as the last call left it ([`crate::Sim::agent_thread`]); the app's reply
//! in the thread (a message or a stream) clears its status, as at Slack.

use axum::response::Response;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::args::{arg, json_arg, Args};
use crate::reply::{ok, slack_error};
use crate::state::{Inner, PostedMessage};
use crate::streamed::{AgentThread, StreamedMessage};
use crate::AppState;

/// Suggested prompts Slack shows at most.
const MAX_PROMPTS: usize = 4;

/// Answers a stream or agent-thread method, or `None` for another method.
pub(crate) fn answer(app: &AppState, method: &str, args: &Args, team: &str) -> Option<Response> {
    Some(match method {
        "chat.startStream" => start(app, args, team),
        "chat.appendStream" | "chat.stopStream" => {
            let (Some(channel), Some(ts)) = (arg(args, "channel"), arg(args, "ts")) else {
                return Some(slack_error("invalid_arguments"));
            };
            add(app, (channel, ts), args, method == "chat.stopStream")
        }
        "assistant.threads.setStatus"
        | "assistant.threads.setSuggestedPrompts"
        | "assistant.threads.setTitle" => agent_thread(app, method, args),
        _ => return None,
    })
}

/// The text a call adds: its `markdown_text`, or its `chunks`' markdown text, in order.
fn text_of(args: &Args) -> String {
    if let Some(text) = arg(args, "markdown_text") {
        return text.to_owned();
    }
    json_arg(args, "chunks")
        .and_then(|chunks| chunks.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter(|chunk| chunk["type"] == "markdown_text")
        .filter_map(|chunk| chunk["text"].as_str())
        .collect()
}

fn start(app: &AppState, args: &Args, team: &str) -> Response {
    let Some(channel) = arg(args, "channel") else {
        return slack_error("channel_not_found");
    };
    // Streams live in threads.
    let Some(thread_ts) = arg(args, "thread_ts") else {
        return slack_error("invalid_arguments");
    };
    let text = text_of(args);
    let ts = app.shared.next_ts();
    let now = crate::state::unix_ms();
    let mut inner = app.shared.lock();
    inner.posted.push(PostedMessage {
        team: Some(team.to_owned()),
        channel: channel.to_owned(),
        text: text.clone(),
        thread_ts: Some(thread_ts.to_owned()),
        ts: ts.clone(),
        requested_at_ms: now,
        recorded_at_ms: now,
        metadata: None,
        over_rtm: false,
    });
    replied(&mut inner, channel, Some(thread_ts));
    inner.streams.push(StreamedMessage {
        team: Some(team.to_owned()),
        channel: channel.to_owned(),
        thread_ts: thread_ts.to_owned(),
        ts: ts.clone(),
        pieces: u32::from(!text.is_empty()),
        text,
        open: true,
        blocks: None,
        started: Instant::now(),
    });
    drop(inner);
    app.shared.notify();
    ok(json!({"channel": channel, "ts": ts}))
}

/// The app replied in `thread_ts` of `channel`: the thread's status is cleared.
pub(crate) fn replied(inner: &mut Inner, channel: &str, thread_ts: Option<&str>) {
    let Some(thread_ts) = thread_ts else {
        return;
    };
    if let Some(thread) = inner
        .agent_threads
        .iter_mut()
        .find(|t| t.channel == channel && t.thread_ts == thread_ts)
    {
        thread.status.clear();
    }
}

/// An append, or the stop (`stop`), to the stream of the message `ts` in `channel`.
fn add(app: &AppState, (channel, ts): (&str, &str), args: &Args, stop: bool) -> Response {
    let lifetime = app.shared.config.stream_lifetime;
    let text = text_of(args);
    let mut inner = app.shared.lock();
    let Some(stream) = inner
        .streams
        .iter_mut()
        .rev()
        .find(|s| s.channel == channel && s.ts == ts)
    else {
        return slack_error("message_not_found");
    };
    if stream.open && stream.started.elapsed() >= lifetime {
        // Slack ends a stream left open past its lifetime as it stands.
        stream.open = false;
    }
    if !stream.open {
        return slack_error("message_not_in_streaming_state");
    }
    if !stop && text.is_empty() {
        return slack_error("invalid_arguments");
    }
    stream.text.push_str(&text);
    stream.pieces += u32::from(!text.is_empty());
    if stop {
        stream.open = false;
        stream.blocks = json_arg(args, "blocks");
    }
    let whole = stream.text.clone();
    if let Some(message) = inner
        .posted
        .iter_mut()
        .rev()
        .find(|p| p.channel == channel && p.ts == ts)
    {
        message.text = whole;
    }
    drop(inner);
    app.shared.notify();
    ok(json!({"channel": channel, "ts": ts}))
}

fn agent_thread(app: &AppState, method: &str, args: &Args) -> Response {
    let (Some(channel), Some(thread_ts)) = (arg(args, "channel_id"), arg(args, "thread_ts")) else {
        return slack_error("invalid_arguments");
    };
    let prompts = json_arg(args, "prompts");
    if method == "assistant.threads.setSuggestedPrompts"
        && !prompts
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty() && p.len() <= MAX_PROMPTS)
    {
        return slack_error("invalid_arguments");
    }
    let mut inner = app.shared.lock();
    let index = match inner
        .agent_threads
        .iter()
        .position(|t| t.channel == channel && t.thread_ts == thread_ts)
    {
        Some(index) => index,
        None => {
            inner.agent_threads.push(AgentThread {
                channel: channel.to_owned(),
                thread_ts: thread_ts.to_owned(),
                ..AgentThread::default()
            });
            inner.agent_threads.len() - 1
        }
    };
    let thread = &mut inner.agent_threads[index];
    match method {
        "assistant.threads.setStatus" => {
            let status = args
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            thread.statuses.push(status.clone());
            thread.status = status;
        }
        "assistant.threads.setSuggestedPrompts" => {
            thread.prompts = prompts
                .and_then(|p| p.as_array().cloned())
                .unwrap_or_default();
            thread.prompts_title = arg(args, "title").map(str::to_owned);
        }
        _ => thread.title = arg(args, "title").map(str::to_owned),
    }
    drop(inner);
    app.shared.notify();
    ok(json!({}))
}
