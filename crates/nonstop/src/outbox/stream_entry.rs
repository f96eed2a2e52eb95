//! Streamed answers in the outbox. A stream is a start (`chat.startStream`), appends and a
//! stop, written in order in the channel's lane; the appends and the stop name their start by
//! its outbox id ([`STREAM`]) and say where their text begins in the stream ([`OFFSET`]), in
//! characters. When one goes out, its start has gone out before it (lanes go in order), and
//! the start's recorded answer gives the message's `ts`.
//!
//! Exactly once: an append whose call may have reached Slack without an answer is not sent
//! again when the message already holds its text (its length is at least the piece's end);
//! a stop sent again after its answer was lost finds the stream stopped, which counts as
//! done.

use std::sync::Arc;
use std::time::Duration;

use nonstop_web::WebClient;
use serde_json::{Map, Value};

use super::attempt::{Finished, SenderSetup};
use crate::journal::{Output, OutputState, Store};

/// The argument naming an append's or a stop's stream: its start's outbox id.
pub(crate) const STREAM: &str = "nonstop_stream";
/// The argument saying where an append's or a stop's text begins in the stream.
pub(crate) const OFFSET: &str = "nonstop_offset";
/// How long an append waits for its start to be recorded (it went out before it).
const START_WAIT: Duration = Duration::from_secs(30);

/// Where an append or a stop goes, and the text it adds.
#[derive(Debug, Clone)]
pub(super) struct Place {
    channel: String,
    thread_ts: String,
    ts: String,
    /// The stream's length before this piece, and the piece's, in characters.
    offset: usize,
    piece: usize,
}

/// The place of `output` when it continues a stream; `Err` ends it (its start failed).
pub(super) async fn place(setup: &SenderSetup, output: &Output) -> Result<Option<Place>, Finished> {
    if output.method != "chat.appendStream" && output.method != "chat.stopStream" {
        return Ok(None);
    }
    let args: Map<String, Value> = serde_json::from_str(&output.args).unwrap_or_default();
    let Some(start_id) = args.get(STREAM).and_then(Value::as_i64) else {
        return Ok(None);
    };
    let offset = args.get(OFFSET).and_then(Value::as_u64).unwrap_or(0) as usize;
    let piece = args
        .get("markdown_text")
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count());
    let start = started(&setup.store, start_id).await?;
    let start_args: Map<String, Value> = serde_json::from_str(&start.args).unwrap_or_default();
    let result: Value = start
        .result
        .as_deref()
        .and_then(|r| serde_json::from_str(r).ok())
        .unwrap_or(Value::Null);
    let text = |map: &Map<String, Value>, key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let ts = result.get("ts").and_then(Value::as_str).unwrap_or_default();
    if ts.is_empty() {
        return Err(Finished::Failed(
            "the stream's start has no message ts".to_owned(),
        ));
    }
    Ok(Some(Place {
        channel: text(&start_args, "channel"),
        thread_ts: text(&start_args, "thread_ts"),
        ts: ts.to_owned(),
        offset,
        piece,
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

/// Whether the message holds this piece already (a call whose answer was lost took effect).
/// Unknown (the message could not be read) counts as not: sent again, at least once.
pub(super) async fn applied(web: &WebClient, place: &Place) -> bool {
    if place.piece == 0 {
        return false;
    }
    let args = serde_json::json!({"channel": place.channel, "ts": place.thread_ts, "limit": 1000});
    let Ok(answer) = web.call("conversations.replies", &args).await else {
        return false;
    };
    let messages = answer.get("messages").and_then(Value::as_array);
    let message = messages.and_then(|m| m.iter().find(|m| m["ts"] == place.ts.as_str()));
    let length = message
        .and_then(|m| m.get("text"))
        .and_then(Value::as_str)
        .map_or(0, |t| t.chars().count());
    length >= place.offset + place.piece
}
