//! Test a bot's listeners without a socket, a journal or Slack (feature `test-util`).
//!
//! [`App::into_test`] turns the app a bot builds into a [`TestApp`]; [`TestApp::send`] hands
//! it one envelope, runs whatever listeners and middleware take it, and returns what they did:
//! the answers they sent (`say`, `reply`, `react`, …, as the Web API calls they would make),
//! the payload they put in the ack, and how the handling ended. Nothing leaves the process:
//! answers are recorded, not posted, and [`crate::Outgoing::delivered`] answers at once with
//! a made-up `ts`. This is axum's `oneshot` for a Slack bot; a test that must see the real
//! thing (sockets, acks, redelivery, the outbox's limits) runs the bot against `nonstop-sim`.
//!
//! ```
//! use nonstop::testing::{message, TestApp};
//! use nonstop::{App, Config, Context, HandlerResult, Message};
//!
//! async fn greet(ctx: Context, message: Message) -> HandlerResult {
//!     ctx.say(&format!("hello, {}", message.capture(1).unwrap_or("there"))).await?;
//!     Ok(())
//! }
//!
//! fn app() -> App {
//!     let config = Config::new("xapp-1-A-1-test", "xoxb-1-test").unwrap();
//!     App::new(config).hears(r"^hello (\w+)", greet)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut bot = app().into_test();
//! let handled = bot.send(message("C1", "U1", "hello ada")).await;
//! assert!(handled.result.is_ok());
//! assert_eq!(handled.answers[0].text(), Some("hello, ada"));
//! # }
//! ```

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nonstop_model::ParsedFrame;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app::App;
use crate::context::Context;
use crate::delivery::writer::Op;
use crate::envelope::{AckHandle, Envelope};
use crate::handler::Handler;
use crate::identity::BotIdentity;
use crate::journal::{MemoryStore, OutputAppended};
use crate::outbox::{Command, Delivered, Outbox, WriterDoor};
use crate::router::Routes;
use crate::storage::Storage;

/// The bot's identity in a [`TestApp`]: messages from this user or bot id are its own.
pub const TEST_BOT_USER: &str = "U0TESTBOT";
pub const TEST_BOT_ID: &str = "B0TESTBOT";
pub const TEST_TEAM: &str = "T0TEST";

/// An app's listeners and middleware, run one envelope at a time, in this process.
pub struct TestApp {
    handler: Routes,
    ctx: Context,
    ops: mpsc::Receiver<Op>,
    feed: mpsc::UnboundedReceiver<Command>,
    /// Answers recorded so far, by outbox id (ids start at 1).
    recorded: Vec<Answer>,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("recorded", &self.recorded.len())
            .finish_non_exhaustive()
    }
}

/// What the app did with one envelope.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled {
    /// How the handling ended: a listener's error (or a pattern's failure to parse the
    /// payload) as text.
    pub result: Result<(), String>,
    /// What the listeners sent, in the order they sent it.
    pub answers: Vec<Answer>,
    /// The payload a listener put in the ack ([`Context::ack`]), if any.
    pub ack: Option<Value>,
}

/// One answer a listener sent: the Web API call the outbox would make.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Answer {
    /// `chat.postMessage`, `reactions.add`, `chat.update`, …
    pub method: String,
    /// The call's arguments.
    pub args: Value,
}

impl Answer {
    /// The message text, for messages.
    pub fn text(&self) -> Option<&str> {
        self.args.get("text").and_then(Value::as_str)
    }

    pub fn channel(&self) -> Option<&str> {
        self.args.get("channel").and_then(Value::as_str)
    }

    /// The thread the answer went to, if any.
    pub fn thread_ts(&self) -> Option<&str> {
        self.args.get("thread_ts").and_then(Value::as_str)
    }
}

impl App {
    /// This app as a [`TestApp`]: its listeners and middleware, without sockets, journal or
    /// Slack. `ctx.web()` points at an address nothing listens on, so direct Web API calls
    /// fail at once; answers sent through the context are recorded.
    pub fn into_test(self) -> TestApp {
        let (router, states, status) = self.into_routing();
        let web = match nonstop_web::WebClient::new(
            "http://127.0.0.1:9/api/",
            None,
            std::time::Duration::from_secs(1),
        ) {
            Ok(web) => web,
            Err(e) => panic!("the test app's Web API client could not be built: {e}"),
        };
        let (ops_tx, ops) = mpsc::channel(64);
        let (feed_tx, feed) = mpsc::unbounded_channel();
        let me = BotIdentity {
            user_id: Some(TEST_BOT_USER.to_owned()),
            bot_id: Some(TEST_BOT_ID.to_owned()),
            team_id: Some(TEST_TEAM.to_owned()),
        };
        let ctx = Context::new(
            web,
            Arc::new(me),
            status,
            Storage::new(Arc::new(MemoryStore::new())),
            Arc::new(states),
            Outbox::new(WriterDoor::new(ops_tx), feed_tx, false),
        );
        TestApp {
            handler: Routes(Arc::new(router)),
            ctx,
            ops,
            feed,
            recorded: Vec::new(),
        }
    }
}

impl TestApp {
    /// Runs the app's listeners on `envelope` (a Socket Mode envelope as JSON: see
    /// [`message`], [`slash_command`], [`event`]) and returns what they did once they are
    /// done.
    ///
    /// # Panics
    /// When `envelope` is not a Socket Mode envelope (a mistake in the test).
    pub async fn send(&mut self, envelope: Value) -> Handled {
        let raw: Arc<str> = Arc::from(envelope.to_string());
        let frame = ParsedFrame::parse(raw.as_bytes())
            .unwrap_or_else(|e| panic!("not a Socket Mode envelope: {e}: {envelope}"));
        let mut envelope = Envelope::from_frame(frame, Arc::clone(&raw), Instant::now(), 0)
            .unwrap_or_else(|| panic!("not an envelope: {raw}"));
        let (acks_tx, mut acks) = mpsc::channel(2);
        let ack = envelope
            .accepts_response_payload
            .then(|| AckHandle::new(envelope.envelope_id.clone(), acks_tx));
        envelope.ack = ack.clone();
        let ctx = self.ctx.for_envelope(
            envelope.attempt,
            envelope.is_catch_up(),
            ack,
            envelope.dedup_key(),
        );
        let first = self.recorded.len();
        let handling = self.handler.handle(ctx, envelope);
        tokio::pin!(handling);
        let result = loop {
            tokio::select! {
                result = &mut handling => break result,
                Some(op) = self.ops.recv() => self.serve(op),
                Some(command) = self.feed.recv() => self.answer(command),
            }
        };
        let ack = acks.try_recv().ok().and_then(|ack| ack.payload);
        Handled {
            result: result.map_err(|e| e.to_string()),
            answers: self.recorded[first..].to_vec(),
            ack,
        }
    }

    /// Records an answer the way the journal's writer would take it.
    fn serve(&mut self, op: Op) {
        match op {
            Op::Output(submission) => {
                let output = &submission.output;
                self.recorded.push(Answer {
                    method: output.method.clone(),
                    args: serde_json::from_str(&output.args).unwrap_or(Value::Null),
                });
                let id = i64::try_from(self.recorded.len()).unwrap_or(i64::MAX);
                let _ = submission.written.send(OutputAppended::Fresh { id });
            }
            Op::OutputMarks {
                durable: Some(durable),
                ..
            } => {
                let _ = durable.send(true);
            }
            _ => {}
        }
    }

    /// Says an answer was delivered, as Slack would: its channel and a made-up `ts`.
    fn answer(&mut self, command: Command) {
        if let Command::Watch { id, reply } = command {
            let channel = usize::try_from(id - 1)
                .ok()
                .and_then(|at| self.recorded.get(at))
                .and_then(|answer| answer.channel().map(str::to_owned));
            let response =
                json!({"ok": true, "channel": channel, "ts": format!("1700000000.{id:06}")});
            let _ = reply.send(Ok(Delivered { response }));
        }
    }
}

/// Makes envelope and event ids unique within a test process.
static NEXT: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An Events API envelope carrying `event` (an object with at least `type`).
pub fn event(event: Value) -> Value {
    let n = next_id();
    json!({
        "envelope_id": format!("test-envelope-{n}"),
        "type": "events_api",
        "accepts_response_payload": false,
        "retry_attempt": 0,
        "payload": {
            "type": "event_callback",
            "team_id": TEST_TEAM,
            "event_id": format!("EvTEST{n}"),
            "event_time": 1_700_000_000,
            "event": event,
        },
    })
}

/// A `message` event: `user` wrote `text` in `channel`.
pub fn message(channel: &str, user: &str, text: &str) -> Value {
    let n = next_id();
    event(json!({
        "type": "message",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": format!("1700000000.{n:06}"),
        "channel_type": "channel",
    }))
}

/// A slash command envelope: `user` typed `command text` in `channel`. Its ack takes a
/// payload.
pub fn slash_command(command: &str, text: &str, channel: &str, user: &str) -> Value {
    let n = next_id();
    json!({
        "envelope_id": format!("test-envelope-{n}"),
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {
            "command": command,
            "text": text,
            "channel_id": channel,
            "user_id": user,
            "team_id": TEST_TEAM,
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": format!("trigger-{n}"),
        },
    })
}
