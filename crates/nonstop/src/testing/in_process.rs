//! [`TestApp`]: an app's listeners and middleware, run one inbound item at a time in the
//! test's task. Nothing leaves the process: answers are recorded, not posted, and
//! [`crate::Outgoing::delivered`] answers at once with a made-up `ts`. The ack deadline and
//! the handler timeout apply as in a running bot; under `#[tokio::test(start_paused = true)]`
//! they, and a listener's own sleeps, take no time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use nonstop_model::inbound::{Built, Inbound, Stamp};
use nonstop_model::ParsedFrame;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Call;
use crate::app::App;
use crate::config::Config;
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

/// The app id of a [`TestApp`]'s workspace.
pub const TEST_APP: &str = "A0TEST";

/// An app's listeners and middleware, run one inbound item at a time, in this process.
pub struct TestApp {
    handler: Routes,
    ctx: Context,
    ops: mpsc::Receiver<Op>,
    feed: mpsc::UnboundedReceiver<Command>,
    /// Answers recorded so far, by outbox id (ids start at 1).
    recorded: Vec<Call>,
    /// After this, a plain ack goes out (as the dispatcher does), and later answers in the
    /// ack are refused.
    ack_deadline: std::time::Duration,
    /// A listener still running after this is cut off, as the dispatcher does.
    handler_timeout: std::time::Duration,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("recorded", &self.recorded.len())
            .finish_non_exhaustive()
    }
}

/// What the app did with one inbound item.
#[derive(Debug)]
#[non_exhaustive]
pub struct Handled {
    /// How the handling ended: a listener's error (or a pattern's failure to parse the
    /// payload, or the handler timeout) as text.
    pub result: Result<(), String>,
    /// What the listeners sent through the context (messages, updates, reactions,
    /// `response_url` posts, any `ctx.send`), in the order they sent it.
    pub answers: Vec<Call>,
    /// The payload a listener put in the ack ([`Context::ack_command`], …), if any.
    pub ack: Option<Value>,
    /// Whether the ack went out plain because the ack deadline passed first.
    pub ack_timed_out: bool,
}

impl Handled {
    /// The answers that called `method`.
    pub fn calls(&self, method: &str) -> Vec<&Call> {
        self.answers.iter().filter(|c| c.method == method).collect()
    }

    /// Messages posted (`say`, `reply`, `post`).
    pub fn posts(&self) -> Vec<&Call> {
        self.calls("chat.postMessage")
    }

    /// Ephemeral messages.
    pub fn ephemerals(&self) -> Vec<&Call> {
        self.calls("chat.postEphemeral")
    }

    /// Messages replaced (`update`).
    pub fn updates(&self) -> Vec<&Call> {
        self.calls("chat.update")
    }

    /// Reactions added, by name.
    pub fn reactions(&self) -> Vec<&str> {
        self.calls("reactions.add")
            .into_iter()
            .filter_map(Call::reaction)
            .collect()
    }

    /// Bodies posted to the `response_url` (`respond`).
    pub fn responses(&self) -> Vec<&Value> {
        self.calls("response_url")
            .into_iter()
            .filter_map(Call::body)
            .collect()
    }
}

impl App {
    /// This app as a [`TestApp`]: its listeners and middleware, without sockets, journal or
    /// Slack. `ctx.web()` points at an address nothing listens on, so direct Web API calls
    /// fail at once; answers sent through the context are recorded.
    pub fn into_test(self) -> TestApp {
        let (router, states, status, config) = self.into_routing();
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
        let store = Arc::new(MemoryStore::new());
        let ctx = Context::new(
            web,
            Arc::new(me),
            status,
            Storage::new(Arc::clone(&store) as Arc<dyn crate::journal::Store>),
            Arc::new(states),
            Outbox::new(WriterDoor::new(ops_tx), feed_tx, store, false),
        );
        TestApp {
            handler: Routes(Arc::new(router)),
            ctx,
            ops,
            feed,
            recorded: Vec::new(),
            ack_deadline: config.ack_deadline,
            handler_timeout: config.handler_timeout,
        }
    }
}

impl TestApp {
    /// Settings for an app under test: well-formed tokens that reach nothing, the defaults
    /// otherwise (the ack deadline and handler timeout among them).
    ///
    /// # Panics
    /// Never: the tokens are well-formed.
    pub fn config() -> Config {
        match Config::new("xapp-1-A0TEST-1-testtoken", "xoxb-1-testtoken") {
            Ok(config) => config,
            Err(e) => panic!("the test settings do not validate: {e}"),
        }
    }

    /// Runs the app's listeners on `inbound` (see [`super::inbound`]: a message, a command,
    /// a block action, …, or a raw envelope) and returns what they did once they are done.
    pub async fn send(&mut self, inbound: impl Into<Inbound>) -> Handled {
        let envelope = envelope_of(&inbound.into());
        self.send_envelope(envelope).await
    }

    /// Runs the app's listeners on a Socket Mode envelope given as JSON.
    ///
    /// # Panics
    /// When `envelope` is not a Socket Mode envelope (a mistake in the test).
    pub async fn send_envelope(&mut self, envelope: Value) -> Handled {
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
        let ctx = self.ctx.for_envelope(&envelope);
        let ended = ctx.clone();
        let first = self.recorded.len();
        let handling =
            tokio::time::timeout(self.handler_timeout, self.handler.handle(ctx, envelope));
        tokio::pin!(handling);
        let deadline = tokio::time::sleep(self.ack_deadline);
        tokio::pin!(deadline);
        let (mut deadline_passed, mut ack_timed_out) = (false, false);
        let result = loop {
            tokio::select! {
                result = &mut handling => break result,
                Some(op) = self.ops.recv() => self.serve(op),
                Some(command) = self.feed.recv() => self.answer(command),
                () = &mut deadline, if !deadline_passed => {
                    deadline_passed = true;
                    // A plain ack, as the dispatcher sends it; false when one went already.
                    ack_timed_out = ack.as_ref().is_some_and(|ack| ack.send(None));
                }
            }
        };
        // As the dispatcher does: streams the handler left unfinished are stopped.
        let stopping = crate::streaming::stop_left_open(&ended);
        tokio::pin!(stopping);
        loop {
            tokio::select! {
                () = &mut stopping => break,
                Some(op) = self.ops.recv() => self.serve(op),
                Some(command) = self.feed.recv() => self.answer(command),
            }
        }
        let result = match result {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(_) => Err(format!(
                "timed out: the handler ran past Config::handler_timeout ({:?})",
                self.handler_timeout
            )),
        };
        let ack_payload = acks.try_recv().ok().and_then(|ack| ack.payload);
        Handled {
            result,
            answers: self.recorded[first..].to_vec(),
            ack: ack_payload,
            ack_timed_out,
        }
    }

    /// Records an answer the way the journal's writer would take it.
    fn serve(&mut self, op: Op) {
        match op {
            Op::Output(submission) => {
                let output = &submission.output;
                let args =
                    serde_json::from_str::<Map<String, Value>>(&output.args).unwrap_or_default();
                self.recorded.push(Call::new(output.method.clone(), args));
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
            let ts = format!("1700000000.{id:06}");
            let answer = usize::try_from(id - 1)
                .ok()
                .and_then(|at| self.recorded.get_mut(at));
            let channel = answer.and_then(|answer| {
                if answer.is_post() {
                    answer.posted_ts = Some(ts.clone());
                }
                answer.channel().map(str::to_owned)
            });
            let response = json!({"ok": true, "channel": channel, "ts": ts});
            let _ = reply.send(Ok(Delivered { response }));
        }
    }
}

/// Makes envelope and event ids unique within a test process.
static NEXT: AtomicU64 = AtomicU64::new(1);

/// The Socket Mode envelope Slack would send for `inbound` to a [`TestApp`].
fn envelope_of(inbound: &Inbound) -> Value {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let ts = format!("1700000000.{n:06}");
    let response_url = format!("http://127.0.0.1:9/response/{n}");
    let stamp = Stamp {
        team_id: TEST_TEAM,
        app_id: TEST_APP,
        bot_user_id: TEST_BOT_USER,
        n,
        ts: &ts,
        response_url: &response_url,
    };
    let (envelope_type, payload, accepts_response_payload) = match inbound.build(&stamp) {
        Built::Event(event) => (
            "events_api".to_owned(),
            json!({
                "type": "event_callback",
                "team_id": TEST_TEAM,
                "api_app_id": TEST_APP,
                "event_id": format!("EvTEST{n}"),
                "event_time": 1_700_000_000,
                "event": event,
            }),
            false,
        ),
        Built::Envelope {
            envelope_type,
            payload,
            accepts_response_payload,
        } => (envelope_type, payload, accepts_response_payload),
    };
    json!({
        "envelope_id": format!("test-envelope-{n}"),
        "type": envelope_type,
        "accepts_response_payload": accepts_response_payload,
        "retry_attempt": 0,
        "payload": payload,
    })
}
