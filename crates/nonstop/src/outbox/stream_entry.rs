//! Streamed answers in the outbox. A stream is a start (`chat.startStream`), appends and a
//! stop, written in order in the channel's lane; the appends and the stop name their start by
//! its outbox id ([`STREAM`]) and say where their text begins in the stream ([`OFFSET`]), in
//! characters. When one goes out, its start has gone out before it (lanes go in order), and
//! the start's recorded answer gives the message's `ts`.
//!
//! Exactly once: a start whose call may have reached Slack without an answer is looked for
//! in the thread (the bot's message since the start was written, beginning with its text)
//! before it is sent again; an append is not sent again when the message already holds its
//! text (its length is at least the piece's end); a stop sent again after its answer was
//! lost finds the stream stopped, which counts as done.
//!
//! A stream Slack refuses to start (a surface or client that cannot show one) becomes a plain
//! message: the start is posted with `chat.postMessage`, and each append and the stop
//! replace its text with what the stream holds up to the piece and the piece
//! (`chat.update`: the same text again if it is sent twice).

use std::sync::Arc;
use std::time::Duration;

use nonstop_web::{WebClient, WebError};
use serde_json::{Map, Value};

use super::attempt::{Finished, SenderSetup};
use crate::journal::{Output, OutputState, Store};

/// The method that starts a stream.
pub(crate) const START: &str = "chat.startStream";
/// The argument naming an append's or a stop's stream: its start's outbox id.
pub(crate) const STREAM: &str = "nonstop_stream";
/// The argument saying where an append's or a stop's text begins in the stream.
pub(crate) const OFFSET: &str = "nonstop_offset";
/// How long an append waits for its start to be recorded (it went out before it).
const START_WAIT: Duration = Duration::from_secs(30);

/// A stored answer's arguments (an unreadable record reads as none).
pub(crate) fn args_of(output: &Output) -> Map<String, Value> {
    serde_json::from_str(&output.args).unwrap_or_default()
}

/// The text argument `key` of `args`, empty when it has none.
pub(crate) fn text_arg<'a>(args: &'a Map<String, Value>, key: &str) -> &'a str {
    args.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Where an append or a stop goes, and the text it adds.
#[derive(Debug, Clone)]
pub(super) struct Place {
    channel: String,
    thread_ts: String,
    ts: String,
    /// The stream's length before this piece, and the piece's, in characters.
    offset: usize,
    piece: usize,
    /// Slack refused the stream: its start is a plain message, updated instead.
    pub(super) fallback: bool,
}

/// The markdown block's limit: a fallback message shows at most this.
const SHOWN: usize = 12_000;

/// The place of `output` when it continues a stream; `Err` ends it (its start failed).
pub(super) async fn place(setup: &SenderSetup, output: &Output) -> Result<Option<Place>, Finished> {
    if output.method != "chat.appendStream" && output.method != "chat.stopStream" {
        return Ok(None);
    }
    let args = args_of(output);
    let Some(start_id) = args.get(STREAM).and_then(Value::as_i64) else {
        return Ok(None);
    };
    let offset = args.get(OFFSET).and_then(Value::as_u64).unwrap_or(0) as usize;
    let piece = text_arg(&args, "markdown_text").chars().count();
    let start = started(&setup.store, start_id).await?;
    let start_args = args_of(&start);
    let result: Value = start
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let ts = result.get("ts").and_then(Value::as_str).unwrap_or_default();
    if ts.is_empty() {
        return Err(Finished::Failed(
            "the stream's start has no message ts".to_owned(),
        ));
    }
    Ok(Some(Place {
        channel: text_arg(&start_args, "channel").to_owned(),
        thread_ts: text_arg(&start_args, "thread_ts").to_owned(),
        ts: ts.to_owned(),
        offset,
        piece,
        fallback: result.get("fallback").and_then(Value::as_bool) == Some(true),
    }))
}

/// The stream's start once it is recorded as sent.
async fn started(store: &Arc<dyn Store>, id: i64) -> Result<Output, Finished> {
    let deadline = tokio::time::Instant::now() + START_WAIT;
    loop {
        let reader = Arc::clone(store);
        let read = tokio::task::spawn_blocking(move || reader.outbox_get(id)).await;
        match read {
            Ok(Ok(Some(start))) if start.state == OutputState::Sent => return Ok(start),
            Ok(Ok(Some(start))) if start.state == OutputState::Failed => {
                let why = start.error.unwrap_or_default();
                return Err(Finished::Failed(format!(
                    "the stream's start failed: {why}"
                )));
            }
            Ok(Ok(None)) => return Err(Finished::Failed("the stream's start is gone".to_owned())),
            // Pending (or unreadable for now): it goes out first; wait for its record.
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Finished::Failed(
                "the stream's start was not delivered".to_owned(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The call's arguments: the message's `ts` in, the outbox's own fields out.
pub(super) fn fill(args: &mut Map<String, Value>, place: &Place) {
    args.remove(STREAM);
    args.remove(OFFSET);
    args.insert("channel".to_owned(), place.channel.clone().into());
    args.insert("ts".to_owned(), place.ts.clone().into());
}

/// A start or piece (`place`) whose call may have gone out already, found in the thread:
/// how it ends, then; `None` when it is not there (or could not be looked for: sent again,
/// at least once).
pub(super) async fn already_there(
    setup: &SenderSetup,
    output: &Output,
    place: Option<&Place>,
) -> Option<Finished> {
    let found = match place {
        Some(place) => applied(&setup.web, place).await.then(|| "{}".to_owned()),
        None if output.method == START => started_before(setup, output).await,
        None => None,
    };
    if found.is_some() {
        tracing::info!(lane = %output.lane, key = %output.key, method = %output.method, "found in the thread already; not sent again");
    }
    found.map(Finished::Sent)
}

/// Whether the message holds this piece already (a call whose answer was lost took effect).
async fn applied(web: &WebClient, place: &Place) -> bool {
    if place.piece == 0 {
        return false;
    }
    let length = message_text(web, place)
        .await
        .map_or(0, |t| t.chars().count());
    length >= place.offset + place.piece
}

/// The stream a start whose answer was lost began: the bot's message in the thread since
/// the start was written, beginning with the start's text; its record, as the call's would
/// have been.
async fn started_before(setup: &SenderSetup, output: &Output) -> Option<String> {
    let args: Map<String, Value> = serde_json::from_str(&output.args).ok()?;
    let text = |key: &str| text_arg(&args, key);
    let (channel, thread, first) = (text("channel"), text("thread_ts"), text("markdown_text"));
    let written = output
        .created_at
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs_f64();
    let query = serde_json::json!({"channel": channel, "ts": thread, "limit": 1000});
    let answer = setup.web.call("conversations.replies", &query).await.ok()?;
    let me = &setup.me;
    let mine = |m: &Value| {
        let by = |key: &str, id: &Option<String>| {
            id.as_deref()
                .is_some_and(|id| m.get(key).and_then(Value::as_str) == Some(id))
        };
        by("user", &me.user_id) || by("bot_id", &me.bot_id)
    };
    let found = answer.get("messages")?.as_array()?.iter().find(|m| {
        let ts = m.get("ts").and_then(Value::as_str).unwrap_or_default();
        let after = ts.parse::<f64>().is_ok_and(|at| at >= written.floor());
        let text = m.get("text").and_then(Value::as_str).unwrap_or_default();
        ts != thread && after && mine(m) && text.starts_with(first)
    })?;
    let ts = found.get("ts")?.as_str()?;
    Some(serde_json::json!({"channel": channel, "ts": ts}).to_string())
}

/// Whether Slack refused an append or the stop because the stream had ended (Slack ends a
/// stream about five minutes after its start): the piece then goes into the message as an
/// update. A stop sent again after its answer was lost (`called_before`) finds the stream
/// stopped by itself instead, which is done.
pub(super) fn ended_by_slack(output: &Output, error: &WebError, called_before: bool) -> bool {
    error.code() == Some("message_not_in_streaming_state")
        && match output.method.as_str() {
            "chat.appendStream" => true,
            "chat.stopStream" => !called_before,
            _ => false,
        }
}

/// Whether Slack's refusal of a stream's start asks for the plain message instead: a refusal
/// of the stream itself, not of the token, a limit or a passing failure.
fn refuses_streams(error: &WebError) -> bool {
    error.code().is_some()
        && error.rate_limit_wait().is_none()
        && !error.is_transient()
        && !error.is_token_refused()
        && !matches!(
            error.code(),
            Some("not_authed" | "account_inactive" | "token_revoked" | "channel_not_found")
        )
}

/// After Slack refused to start a stream (`args`: the start's): the answer as a plain
/// message in the same thread; `None` when the refusal is not of that kind.
pub(super) async fn fall_back(
    web: &WebClient,
    args: &Map<String, Value>,
    error: &WebError,
) -> Option<Finished> {
    if !refuses_streams(error) {
        return None;
    }
    let text = args
        .get("markdown_text")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .unwrap_or("…");
    let mut post = Map::new();
    for key in ["channel", "thread_ts"] {
        if let Some(value) = args.get(key) {
            post.insert(key.to_owned(), value.clone());
        }
    }
    post.insert("text".to_owned(), text.into());
    post.insert("blocks".to_owned(), markdown_blocks(text, None));
    tracing::info!(refusal = ?error.code(), "Slack refused the stream; the answer goes as a plain message");
    match web.attempt::<Value>("chat.postMessage", post).await {
        Ok(answer) => {
            let recorded = serde_json::json!({
                "channel": answer.get("channel"), "ts": answer.get("ts"), "fallback": true,
            });
            Some(Finished::Sent(recorded.to_string()))
        }
        Err(e) => Some(Finished::Failed(format!(
            "Slack refused the stream ({}) and the plain message ({e})",
            error.code().unwrap_or("?")
        ))),
    }
}

/// For a stream that became a plain message: the `chat.update` that sets its text to what
/// the stream holds up to this piece, and the piece (with a stop's blocks under it).
pub(super) async fn as_update(
    web: &WebClient,
    place: &Place,
    args: Map<String, Value>,
) -> Map<String, Value> {
    let before = message_text(web, place).await.unwrap_or_default();
    let piece = text_arg(&args, "markdown_text");
    let mut text: String = before.chars().take(place.offset).collect();
    text.push_str(piece);
    let text: String = text.chars().take(SHOWN).collect();
    let mut update = Map::new();
    update.insert("channel".to_owned(), place.channel.clone().into());
    update.insert("ts".to_owned(), place.ts.clone().into());
    update.insert("text".to_owned(), text.as_str().into());
    update.insert(
        "blocks".to_owned(),
        markdown_blocks(&text, args.get("blocks")),
    );
    update
}

/// A markdown block of `text`, and `more` blocks under it.
fn markdown_blocks(text: &str, more: Option<&Value>) -> Value {
    let mut blocks = vec![serde_json::json!({"type": "markdown", "text": text})];
    if let Some(Value::Array(more)) = more {
        blocks.extend(more.iter().cloned());
    }
    Value::Array(blocks)
}

/// The message's text as Slack holds it now.
async fn message_text(web: &WebClient, place: &Place) -> Option<String> {
    let args = serde_json::json!({"channel": place.channel, "ts": place.thread_ts, "limit": 1000});
    let answer = web.call("conversations.replies", &args).await.ok()?;
    let messages = answer.get("messages")?.as_array()?;
    let message = messages.iter().find(|m| m["ts"] == place.ts.as_str())?;
    Some(message.get("text")?.as_str()?.to_owned())
}
