//! Answers streamed into a thread as they are made (an agent's, token by token): a writer
//! that buffers what it is given and sends it in pieces through the outbox, so that each
//! piece is durable before it goes out, goes out in order and once, and Slack's limits delay
//! it without dropping it. A stream the handler does not finish (an error, a panic) is
//! stopped with what it has and a short note.

use nonstop_model::blocks::Block;
use serde_json::{json, Map, Value};

use crate::context::{Context, ContextError};
use crate::outbox::stream_entry::{OFFSET, START, STREAM};
use crate::outbox::Outgoing;

/// Characters buffered before a piece goes out (as Slack's SDK helper does).
pub const FLUSH_AT: usize = 256;
/// What a stream the handler left unfinished ends with.
const CUT_OFF: &str = "\n\n_(this answer was cut off)_";

/// An answer being streamed into a thread: [`AnswerStream::append`] as it is made,
/// [`AnswerStream::finish`] at the end (with blocks, such as feedback buttons).
#[derive(Debug)]
pub struct AnswerStream {
    ctx: Context,
    channel: String,
    thread_ts: String,
    buffer: String,
    /// The start's outbox id, once it is written.
    start: Option<i64>,
    /// Characters written to the outbox so far (the start's text and the appends').
    written: usize,
    finished: bool,
}

impl Context {
    /// A stream into the thread of the event's message (a message at the top level starts
    /// one), as [`Context::reply`] posts. Nothing is sent until the first piece.
    pub fn stream(&self) -> Result<AnswerStream, ContextError> {
        let meta = self.meta();
        let channel = self.need(meta.channel.as_ref(), "stream", "channel")?;
        let thread = self.need(
            meta.thread_ts.as_ref().or(meta.ts.as_ref()),
            "stream",
            "message",
        )?;
        Ok(AnswerStream {
            ctx: self.clone(),
            channel: channel.to_owned(),
            thread_ts: thread.to_owned(),
            buffer: String::new(),
            start: None,
            written: 0,
            finished: false,
        })
    }
}

impl AnswerStream {
    /// Adds `text`; a piece goes out once [`FLUSH_AT`] characters are waiting.
    pub async fn append(&mut self, text: &str) -> Result<(), ContextError> {
        self.buffer.push_str(text);
        if self.buffer.chars().count() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Sends what is waiting now.
    pub async fn flush(&mut self) -> Result<(), ContextError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.buffer);
        self.piece(text, Piece::Append).await.map(|_| ())
    }

    /// Characters handed to the outbox so far (what is buffered not included).
    pub fn written(&self) -> usize {
        self.written
    }

    /// Sends what is waiting and stops the stream, with `blocks` under the answer (feedback
    /// buttons) when given. The returned answer is the stop's.
    pub async fn finish(mut self, blocks: Option<Vec<Block>>) -> Result<Outgoing, ContextError> {
        self.finished = true;
        let text = std::mem::take(&mut self.buffer);
        let blocks =
            blocks
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| ContextError::Arguments {
                    method: "chat.stopStream".to_owned(),
                    detail: e.to_string(),
                })?;
        self.piece(text, Piece::Stop(blocks)).await
    }

    /// One outbox entry of `text`: the start when nothing went before (a stop with nothing
    /// before it starts an empty stream first), else an append or the stop.
    async fn piece(&mut self, text: String, piece: Piece) -> Result<Outgoing, ContextError> {
        if self.start.is_none() {
            match piece {
                Piece::Append => return self.start_with(text).await,
                Piece::Stop(_) => {
                    self.start_with(String::new()).await?;
                }
            }
        }
        let mut args = Map::new();
        args.insert("channel".to_owned(), self.channel.as_str().into());
        args.insert(STREAM.to_owned(), self.start.into());
        args.insert(OFFSET.to_owned(), self.written.into());
        if !text.is_empty() {
            args.insert("markdown_text".to_owned(), text.as_str().into());
        }
        let method = match piece {
            Piece::Append => "chat.appendStream",
            Piece::Stop(blocks) => {
                if let Some(blocks) = blocks {
                    args.insert("blocks".to_owned(), blocks);
                }
                "chat.stopStream"
            }
        };
        let sent = self
            .ctx
            .enqueue(method, self.channel.clone(), &Value::Object(args))
            .await?;
        self.written += text.chars().count();
        Ok(sent)
    }

    /// The start, with the stream's first text.
    async fn start_with(&mut self, text: String) -> Result<Outgoing, ContextError> {
        let mut args = json!({"channel": self.channel, "thread_ts": self.thread_ts});
        let meta = self.ctx.meta();
        if let (Some(user), Some(team)) = (&meta.user, &meta.team) {
            args["recipient_user_id"] = user.as_str().into();
            args["recipient_team_id"] = team.as_str().into();
        }
        if !text.is_empty() {
            args["markdown_text"] = text.as_str().into();
        }
        let started = self.ctx.enqueue(START, self.channel.clone(), &args).await?;
        self.start = Some(started.id());
        self.written += text.chars().count();
        Ok(started)
    }
}

/// What a piece of a stream is.
enum Piece {
    Append,
    /// The stop, with the blocks under the answer.
    Stop(Option<Value>),
}

impl Drop for AnswerStream {
    /// Left unfinished (the handler failed or panicked): stopped with what it has and a note.
    fn drop(&mut self) {
        if self.finished || (self.start.is_none() && self.buffer.is_empty()) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut rest = AnswerStream {
            ctx: self.ctx.clone(),
            channel: std::mem::take(&mut self.channel),
            thread_ts: std::mem::take(&mut self.thread_ts),
            buffer: std::mem::take(&mut self.buffer),
            start: self.start,
            written: self.written,
            finished: true,
        };
        runtime.spawn(async move {
            rest.buffer.push_str(CUT_OFF);
            let text = std::mem::take(&mut rest.buffer);
            if let Err(error) = rest.piece(text, Piece::Stop(None)).await {
                tracing::warn!(%error, "an unfinished stream could not be stopped; Slack ends it after a few minutes");
            }
        });
    }
}
