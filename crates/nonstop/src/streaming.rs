//! Answers streamed into a thread as they are made (an agent's, token by token): a writer
//! that buffers what it is given and sends it in pieces through the outbox, so that each
//! piece is durable before it goes out, goes out in order and once, and Slack's limits delay
//! it without dropping it. A stream the handler does not finish (an error, a panic) is
//! stopped with what it has and a short note.
//!
//! A replayed handler (after a crash) continues the stream its earlier run began: the
//! stream's start takes one of the run's answer keys and its pieces are numbered under it
//! (`<key>/<n>`), so the replay reads what the earlier run wrote, and what it appends again
//! is sent only past that ([`AnswerStream::delivered`] for a handler that continues instead).

use std::time::Duration;

use nonstop_model::blocks::Block;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::context::{Context, ContextError};
use crate::journal::Output;
use crate::outbox::left_open::LeftOpen;
use crate::outbox::stream_entry::{args_of, text_arg, OFFSET, START, STREAM};
use crate::outbox::Outgoing;

/// Characters buffered before a piece goes out (as Slack's SDK helper does).
pub const FLUSH_AT: usize = 256;
/// The longest appended text waits for more before it goes out (checked as text is
/// appended): a slow model's words show up while it thinks.
pub const FLUSH_AFTER: Duration = Duration::from_millis(500);
/// What a stream the handler left unfinished ends with.
const CUT_OFF: &str = "\n\n_(this answer was cut off)_";
/// Pieces read at once when a replay looks for what its earlier run wrote.
const READ_AT_ONCE: u32 = 64;
const STOP: &str = "chat.stopStream";

/// An answer being streamed into a thread: [`AnswerStream::append`] as it is made,
/// [`AnswerStream::finish`] at the end (with blocks, such as feedback buttons).
#[derive(Debug)]
pub struct AnswerStream {
    ctx: Context,
    channel: String,
    thread_ts: String,
    /// The start's answer key; piece `n` is `<key>/<n>`.
    key: String,
    buffer: String,
    /// When the oldest text in the buffer was appended.
    waiting_since: Option<Instant>,
    /// The start's outbox id, once it is written.
    start: Option<i64>,
    /// Pieces written after the start.
    pieces: u32,
    /// Characters written to the outbox so far (the start's text and the pieces').
    written: usize,
    /// Characters the handler appended in this run, buffered ones included.
    given: usize,
    /// What an earlier run of the handler wrote to this stream, once read.
    earlier: Option<Earlier>,
    finished: bool,
}

/// What an earlier run of a replayed handler wrote to its stream.
#[derive(Debug, Default)]
struct Earlier {
    text: String,
    length: usize,
    /// It stopped the stream, with this piece.
    stopped: Option<u32>,
}

impl Context {
    /// A stream into the thread of the event's message (a message at the top level starts
    /// one), as [`Context::reply`] posts. Nothing is sent until the first text.
    pub fn stream(&self) -> Result<AnswerStream, ContextError> {
        let meta = self.meta();
        let channel = self.need(meta.channel.as_ref(), "stream", "channel")?;
        let thread = self.need(
            meta.thread_ts.as_ref().or(meta.ts.as_ref()),
            "stream",
            "message",
        )?;
        Ok(AnswerStream::new(
            self.clone(),
            channel.to_owned(),
            thread.to_owned(),
            self.next_answer_key(),
        ))
    }
}

impl AnswerStream {
    /// The stream whose start has the answer key `key`, nothing written by this run yet.
    fn new(ctx: Context, channel: String, thread_ts: String, key: String) -> Self {
        AnswerStream {
            ctx,
            channel,
            thread_ts,
            key,
            buffer: String::new(),
            waiting_since: None,
            start: None,
            pieces: 0,
            written: 0,
            given: 0,
            earlier: None,
            finished: false,
        }
    }

    /// Adds `text`. The first text goes out at once; then a piece goes out once [`FLUSH_AT`]
    /// characters are waiting, or text has waited [`FLUSH_AFTER`]. In a replayed run, text
    /// the earlier run wrote already (by position) is not sent again.
    pub async fn append(&mut self, text: &str) -> Result<(), ContextError> {
        let earlier = self.earlier().await?.length;
        let length = text.chars().count();
        let skip = earlier.saturating_sub(self.given).min(length);
        self.given += length;
        let new = text
            .char_indices()
            .nth(skip)
            .map_or("", |(at, _)| &text[at..]);
        if new.is_empty() {
            return Ok(());
        }
        let since = *self.waiting_since.get_or_insert_with(Instant::now);
        self.buffer.push_str(new);
        if self.start.is_none()
            || self.buffer.chars().count() >= FLUSH_AT
            || since.elapsed() >= FLUSH_AFTER
        {
            self.flush().await?;
        }
        Ok(())
    }

    /// What an earlier run of this handler wrote to the stream (empty in a first run), for
    /// a handler that continues from it (asking its model to go on from there): what it
    /// appends after this call follows that text. A handler that does not call it may
    /// append its whole answer again: the part written before is skipped.
    pub async fn delivered(&mut self) -> Result<String, ContextError> {
        let earlier = self.earlier().await?;
        let (text, length) = (earlier.text.clone(), earlier.length);
        self.given = self.given.max(length);
        Ok(text)
    }

    /// Sends what is waiting now.
    pub async fn flush(&mut self) -> Result<(), ContextError> {
        self.waiting_since = None;
        if self.buffer.is_empty() {
            return Ok(());
        }
        let text = std::mem::take(&mut self.buffer);
        if self.earlier().await?.stopped.is_some() {
            return Ok(());
        }
        self.piece(text, Piece::Append).await.map(|_| ())
    }

    /// Characters handed to the outbox so far (what is buffered not included), an earlier
    /// run's included.
    pub fn written(&self) -> usize {
        self.written
    }

    /// Sends what is waiting and stops the stream, with `blocks` under the answer (feedback
    /// buttons) when given. The returned answer is the stop's (an earlier run's, when it
    /// stopped the stream already).
    pub async fn finish(mut self, blocks: Option<Vec<Block>>) -> Result<Outgoing, ContextError> {
        self.finished = true;
        if let Some(stop) = self.earlier().await?.stopped {
            let args = json!({"channel": self.channel});
            let key = self.piece_key(stop);
            return self
                .ctx
                .enqueue_as(key, STOP, self.channel.clone(), &args)
                .await;
        }
        let text = std::mem::take(&mut self.buffer);
        let blocks =
            blocks
                .map(serde_json::to_value)
                .transpose()
                .map_err(|e| ContextError::Arguments {
                    method: STOP.to_owned(),
                    detail: e.to_string(),
                })?;
        self.piece(text, Piece::Stop(blocks)).await
    }

    /// The key of the start (`0`) or of piece `n`.
    fn piece_key(&self, n: u32) -> String {
        if n == 0 {
            self.key.clone()
        } else {
            format!("{}/{n}", self.key)
        }
    }

    /// What an earlier run wrote to this stream: read from the outbox the first time, and
    /// the stream goes on after it.
    async fn earlier(&mut self) -> Result<&Earlier, ContextError> {
        if self.earlier.is_none() {
            let mut earlier = Earlier::default();
            let mut from = 0;
            loop {
                let keys = (from..from + READ_AT_ONCE).map(|n| self.piece_key(n));
                let mut found = self.ctx.written_before(keys.collect()).await?;
                found.sort_by_key(|output| output.id);
                let whole = found.len() == READ_AT_ONCE as usize;
                for (n, output) in (from..).zip(found) {
                    self.take_earlier(n, &output, &mut earlier);
                }
                if !whole {
                    break;
                }
                from += READ_AT_ONCE;
            }
            earlier.length = earlier.text.chars().count();
            self.written = earlier.length;
            self.earlier = Some(earlier);
        }
        Ok(self.earlier.get_or_insert_with(Earlier::default))
    }

    /// The earlier run's start (`n == 0`) or piece `n`, added to what it wrote.
    fn take_earlier(&mut self, n: u32, output: &Output, earlier: &mut Earlier) {
        earlier
            .text
            .push_str(text_arg(&args_of(output), "markdown_text"));
        if n == 0 {
            self.start = Some(output.id);
        } else {
            self.pieces = n;
        }
        if output.method == STOP {
            earlier.stopped = Some(n);
        }
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
                STOP
            }
        };
        let key = self.piece_key(self.pieces + 1);
        let sent = self
            .ctx
            .enqueue_as(key, method, self.channel.clone(), &Value::Object(args))
            .await?;
        if let Some(run) = self.ctx.run() {
            run.progressed();
        }
        self.pieces += 1;
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
        let key = self.piece_key(0);
        let started = self
            .ctx
            .enqueue_as(key, START, self.channel.clone(), &args)
            .await?;
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
    /// Left unfinished (the handler failed, panicked, timed out, or was cut off): stopped
    /// with what it has and a note once the handler's run has ended (`stop_left_open`).
    fn drop(&mut self) {
        let stopped = self.earlier.as_ref().is_some_and(|e| e.stopped.is_some());
        if self.finished || stopped || (self.start.is_none() && self.buffer.is_empty()) {
            return;
        }
        let left = LeftOpen {
            channel: std::mem::take(&mut self.channel),
            thread_ts: std::mem::take(&mut self.thread_ts),
            key: std::mem::take(&mut self.key),
            buffer: std::mem::take(&mut self.buffer),
            start: self.start,
            pieces: self.pieces,
            written: self.written,
        };
        match self.ctx.run() {
            Some(run) => run.leave_open(left),
            // Outside a handler run there is no end to wait for.
            None => {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let ctx = self.ctx.clone();
                    runtime.spawn(async move { stop(&ctx, left).await });
                }
            }
        }
    }
}

/// Stops the streams the handler of `ctx`'s run left unfinished, each with what it has and
/// a note. Called when the run has ended and before its event is marked: a run cut off by a
/// crash or a shutdown is replayed instead, and its replay continues the stream.
pub(crate) async fn stop_left_open(ctx: &Context) {
    let Some(run) = ctx.run() else {
        return;
    };
    for left in run.take_left_open() {
        stop(ctx, left).await;
    }
}

/// Stops the streams an earlier run of `ctx`'s event began that are still open: called at
/// the end of a replayed run, whose handler went another way and did not continue them (a
/// stream it continued is stopped already). Each is stopped with what it has and a note.
pub(crate) async fn stop_abandoned(ctx: &Context) {
    let Some(run) = ctx.run() else {
        return;
    };
    let event = run.event_key().to_owned();
    let keys = (0..READ_AT_ONCE).map(|n| format!("{event}#{n}")).collect();
    let answers = match ctx.written_before(keys).await {
        Ok(answers) => answers,
        Err(error) => {
            tracing::warn!(%error, "the streams of an earlier run could not be looked for; one left open ends at Slack after a few minutes");
            return;
        }
    };
    for start in answers.into_iter().filter(|a| a.method == START) {
        let args = args_of(&start);
        let mut stream = AnswerStream::new(
            ctx.clone(),
            text_arg(&args, "channel").to_owned(),
            text_arg(&args, "thread_ts").to_owned(),
            start.key.clone(),
        );
        stream.finished = true;
        match stream.earlier().await {
            Ok(earlier) if earlier.stopped.is_none() => {}
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "an earlier run's stream could not be read; if it is open, it ends at Slack after a few minutes");
                continue;
            }
        }
        tracing::info!(key = %start.key, "a stream the replayed handler did not continue is stopped with a note");
        if let Err(error) = stream.piece(CUT_OFF.to_owned(), Piece::Stop(None)).await {
            tracing::warn!(%error, "an abandoned stream could not be stopped; Slack ends it after a few minutes");
        }
    }
}

async fn stop(ctx: &Context, left: LeftOpen) {
    let mut rest = AnswerStream::new(ctx.clone(), left.channel, left.thread_ts, left.key);
    rest.start = left.start;
    rest.pieces = left.pieces;
    rest.written = left.written;
    rest.earlier = Some(Earlier::default());
    rest.finished = true;
    let text = left.buffer + CUT_OFF;
    if let Err(error) = rest.piece(text, Piece::Stop(None)).await {
        tracing::warn!(%error, "an unfinished stream could not be stopped; Slack ends it after a few minutes");
    }
}
