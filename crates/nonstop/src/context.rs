//! What a listener gets besides its payload: where the event happened, ways to answer there,
//! the Web API client, the bot's storage and state, and the runtime status.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use nonstop_model::blocks::{
    CommandResponse, LimitError, Message, OptionsResponse, ResponseBody, View, ViewResponse,
};
use nonstop_model::web::PostMessageRequest;
use nonstop_web::{WebClient, WebError};
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::envelope::AckHandle;
pub use crate::identity::BotIdentity;
use crate::outbox::sender::RESPOND;
use crate::outbox::{DeliveryError, Outbox, Outgoing, Run};
use crate::status::Status;
use crate::storage::Storage;

/// Where an event happened and who caused it, read from whichever payload it came in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventMeta {
    pub team: Option<String>,
    pub channel: Option<String>,
    pub user: Option<String>,
    /// The message the event is about (the message itself, the reacted-to message, the
    /// message holding a button).
    pub ts: Option<String>,
    /// The thread it is in, when it is in one.
    pub thread_ts: Option<String>,
    /// Slash commands and interactions: for [`Context::respond`].
    pub response_url: Option<String>,
    /// Slash commands and interactions: for [`Context::open_view`], within 3 s.
    pub trigger_id: Option<String>,
}

/// A context method that needs something this event does not carry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContextError {
    #[error(
        "{method} needs the event's {missing}, and this event has none; use ctx.web() and name it"
    )]
    Missing {
        method: &'static str,
        missing: &'static str,
    },
    #[error(transparent)]
    Web(#[from] WebError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// A message or view past one of Slack's Block Kit limits: not sent.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// An answer in the ack that could not go: the envelope's ack takes none (an event, a
    /// `block_actions`), or it went out already.
    #[error("{0}")]
    Ack(AckRefused),
    #[error("{method}: the arguments are not a JSON object: {detail}")]
    Arguments { method: String, detail: String },
    /// What an earlier run of a replayed handler wrote could not be read (a stream's pieces).
    #[error("the journal could not be read for what an earlier run of this handler wrote ({detail}); the handler fails, and its event is run again")]
    Earlier { detail: String },
    /// [`Context::require_state`] asked for a type the app never registered.
    #[error(
        "no state of type {type_name}: register it with App::with_state when the app is built"
    )]
    NoState { type_name: &'static str },
}

/// Why an answer in the ack could not go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AckRefused {
    /// This envelope's ack carries no answer (events, `block_actions`, shortcuts): answer
    /// with `say`, `respond` or a view instead.
    NotAnswerable,
    /// The ack went out already: an earlier answer, or a plain ack after
    /// `Config::ack_deadline` (answer within Slack's 3 s: call it before anything slow).
    AlreadySent,
}

impl std::fmt::Display for AckRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AckRefused::NotAnswerable => "this envelope's ack carries no answer (an event, a block_actions, a shortcut): answer with say, respond or a view instead",
            AckRefused::AlreadySent => "the ack went out already (an earlier answer, or a plain ack after Config::ack_deadline): answer within Slack's 3 s, before anything slow",
        })
    }
}

/// Values the app registered with [`crate::App::with_state`], by type.
pub(crate) type States = HashMap<TypeId, Arc<dyn Any + Send + Sync>>;

/// Cheap to clone; one per listener call.
#[derive(Clone)]
pub struct Context {
    web: WebClient,
    me: Arc<BotIdentity>,
    status: Arc<Status>,
    storage: Storage,
    states: Arc<States>,
    meta: Arc<EventMeta>,
    attempt: u32,
    /// Fetched from history after downtime, not delivered by Slack.
    catch_up: bool,
    /// Slack's own count of this delivery (0 first) and why it sent it again.
    slack_retry: (u32, Option<Arc<str>>),
    /// The installed workspaces, when the app installs in several.
    workspaces: Option<Arc<crate::install::Workspaces>>,
    /// The installation this event is for (its key), whose token `web` holds; `None`: the
    /// bot's own token.
    workspace: Option<String>,
    ack: Option<AckHandle>,
    outbox: Outbox,
    /// This handler run's place in the outbox; `None` outside a handler run, where answers
    /// get keys of their own.
    run: Option<Run>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("me", &self.me)
            .field("meta", &self.meta)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub(crate) fn new(
        web: WebClient,
        me: Arc<BotIdentity>,
        status: Arc<Status>,
        storage: Storage,
        states: Arc<States>,
        outbox: Outbox,
    ) -> Self {
        Self {
            web,
            me,
            status,
            storage,
            states,
            meta: Arc::new(EventMeta::default()),
            attempt: 0,
            catch_up: false,
            slack_retry: (0, None),
            workspaces: None,
            workspace: None,
            ack: None,
            outbox,
            run: None,
        }
    }

    /// This context for one envelope's handler call: the envelope's dedup key names its
    /// answers in the outbox.
    pub(crate) fn for_envelope(&self, envelope: &crate::envelope::Envelope) -> Self {
        let reason = envelope
            .retry_reason
            .as_deref()
            .filter(|r| !r.is_empty())
            .map(Arc::from);
        Self {
            attempt: envelope.attempt,
            catch_up: envelope.is_catch_up(),
            slack_retry: (envelope.retry_attempt, reason),
            ack: envelope.ack.clone(),
            run: Some(Run::new(envelope.dedup_key())),
            ..self.clone()
        }
    }

    /// With the app installed in several workspaces: every context acts in the workspace
    /// of its event ([`Context::in_workspace`]).
    pub(crate) fn with_workspaces(mut self, workspaces: Arc<crate::install::Workspaces>) -> Self {
        self.workspaces = Some(workspaces);
        self
    }

    /// This context in the workspace `request` is for: that installation's token for every
    /// call and answer, and the bot's identity there; unchanged when the app is not
    /// installed in several workspaces. `None` for a workspace the app is not installed in:
    /// nothing may act there.
    pub(crate) async fn in_workspace(
        mut self,
        (enterprise, team, org): (Option<&str>, Option<&str>, bool),
    ) -> Option<Self> {
        let Some(workspaces) = self.workspaces.clone() else {
            return Some(self);
        };
        let workspace = workspaces.for_event(enterprise, team, org).await?;
        self.web = workspace.web;
        self.me = workspace.me;
        self.workspace = workspace.key;
        Some(self)
    }

    /// After `event` (an `app_uninstalled`, or a `tokens_revoked` that names bot tokens) the
    /// app is gone from the workspace it came from (`installation`): its installation is
    /// removed.
    pub(crate) async fn on_uninstall(
        &self,
        (enterprise, team, org): (Option<&str>, Option<&str>, bool),
        event: Option<&Value>,
    ) {
        let Some(workspaces) = &self.workspaces else {
            return;
        };
        let kind = event
            .and_then(|e| e.get("type"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        let bot_tokens_revoked = event
            .and_then(|e| e.pointer("/tokens/bot"))
            .and_then(Value::as_array)
            .is_some_and(|bots| !bots.is_empty());
        if kind == "app_uninstalled" || (kind == "tokens_revoked" && bot_tokens_revoked) {
            workspaces.uninstalled(enterprise, team, org).await;
        }
    }

    /// Time since `started` this handler run's timeout does not count ([`Run::uncounted`]).
    pub(crate) fn uncounted(&self, started: tokio::time::Instant) -> std::time::Duration {
        self.run
            .as_ref()
            .map_or(std::time::Duration::ZERO, |run| run.uncounted(started))
    }

    pub(crate) fn with_meta(&self, meta: EventMeta) -> Self {
        Self {
            meta: Arc::new(meta),
            ..self.clone()
        }
    }

    /// How many times a handler already started on this event: 0 normally; 1 or more when
    /// the event is replayed after a crash cut a handler off, so a handler whose side effects
    /// must not happen twice can check for them first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Slack's count of this delivery: 0 for the first, 1 to 3 for its retries
    /// (`X-Slack-Retry-Num` over HTTP, `retry_attempt` in Socket Mode). The runtime drops a
    /// retry of what it already journaled, so a handler sees a retry only when the earlier
    /// deliveries never reached the journal (the bot was down, or answered too late).
    pub fn retry_num(&self) -> u32 {
        self.slack_retry.0
    }

    /// Why Slack sent this delivery again (`X-Slack-Retry-Reason` over HTTP, e.g.
    /// `http_timeout`; `retry_reason` in Socket Mode, e.g. `timeout`), `catch_up` for an event
    /// read from history; `None` on a first delivery.
    pub fn retry_reason(&self) -> Option<&str> {
        self.slack_retry.1.as_deref()
    }

    /// True when this call is a replay after a crash (`attempt() > 0`).
    pub fn is_replay(&self) -> bool {
        self.attempt > 0
    }

    /// True when the event was said while the bot had no live connection and was fetched
    /// from the conversation's history afterwards (catch-up), rather than delivered by Slack
    /// as it happened: a handler may answer it differently ("sorry for the wait").
    pub fn is_catch_up(&self) -> bool {
        self.catch_up
    }

    /// Team, channel, user, message and thread of the event being handled.
    pub fn meta(&self) -> &EventMeta {
        &self.meta
    }

    pub fn team(&self) -> Option<&str> {
        self.meta.team.as_deref()
    }

    pub fn channel(&self) -> Option<&str> {
        self.meta.channel.as_deref()
    }

    pub fn user(&self) -> Option<&str> {
        self.meta.user.as_deref()
    }

    pub fn thread_ts(&self) -> Option<&str> {
        self.meta.thread_ts.as_deref()
    }

    /// The bot's key-value storage, persistent across restarts (same file as the journal).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// The Web API client: rate limits, pacing and retries included.
    pub fn web(&self) -> &WebClient {
        &self.web
    }

    pub fn me(&self) -> &BotIdentity {
        &self.me
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// The value of type `T` the app registered with [`crate::App::with_state`].
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<&T> {
        self.states.get(&TypeId::of::<T>())?.downcast_ref::<T>()
    }

    /// The registered value of type `T`, owned (what a listener's [`crate::State`] holds).
    pub(crate) fn state_arc<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        Arc::clone(self.states.get(&TypeId::of::<T>())?)
            .downcast::<T>()
            .ok()
    }

    /// Like [`Context::state`], for a listener that cannot work without it: a missing value
    /// is an error naming the type, so `?` records the listener's failure with the fix.
    pub fn require_state<T: Send + Sync + 'static>(&self) -> Result<&T, ContextError> {
        self.state::<T>().ok_or(ContextError::NoState {
            type_name: std::any::type_name::<T>(),
        })
    }

    /// Answers in the ack of a slash command, `view_submission` (`response_action`) or
    /// `block_suggestion` (`options`). Call it early: Slack waits 3 s at most, and after
    /// `Config::ack_deadline` a plain ack goes out instead. Returns false when the ack already
    /// went out (or the envelope does not take a payload), so the payload was not sent.
    pub fn ack(&self, payload: Value) -> bool {
        self.ack.as_ref().is_some_and(|ack| ack.send(Some(payload)))
    }

    /// Answers a `view_submission` in its ack: errors under inputs, a view that replaces
    /// or is pushed on the modal, or closing them all. An error when the ack cannot carry it
    /// (it went out already, or this is not a view submission's envelope) or the view is past
    /// Slack's limits.
    pub fn ack_view(&self, response: ViewResponse) -> Result<(), ContextError> {
        response.check()?;
        self.ack_with(&response)
    }

    /// Answers a slash command in its ack with a message (its Block Kit limits checked).
    pub fn ack_command(&self, response: CommandResponse) -> Result<(), ContextError> {
        response.message.check()?;
        self.ack_with(&response)
    }

    /// Answers a `block_suggestion` (an external select asking for options) in its ack.
    pub fn ack_options(&self, response: OptionsResponse) -> Result<(), ContextError> {
        response.check()?;
        self.ack_with(&response)
    }

    fn ack_with(&self, answer: &impl Serialize) -> Result<(), ContextError> {
        let Some(ack) = &self.ack else {
            return Err(ContextError::Ack(AckRefused::NotAnswerable));
        };
        let payload = serde_json::to_value(answer).map_err(|e| ContextError::Arguments {
            method: "ack".to_owned(),
            detail: e.to_string(),
        })?;
        if ack.send(Some(payload)) {
            Ok(())
        } else {
            Err(ContextError::Ack(AckRefused::AlreadySent))
        }
    }

    /// Posts a message where the event happened: its channel, and its thread when it came in
    /// one. Plain text (`ctx.say("done")`) or a [`Message`] with blocks.
    ///
    /// Like every answer below, it returns once the message is written to the outbox, and
    /// goes out as fast as Slack allows, in order with the other answers to the channel,
    /// exactly once (even across a crash). Await [`Outgoing::delivered`] for its `ts`. A
    /// message past one of Slack's limits is an error naming the field, and is not sent.
    pub async fn say(&self, message: impl Into<Message>) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "say", "channel")?;
        let mut args = message_args("chat.postMessage", message.into())?;
        args.insert("channel".to_owned(), channel.into());
        if let Some(thread) = &self.meta.thread_ts {
            args.insert("thread_ts".to_owned(), thread.as_str().into());
        }
        self.enqueue("chat.postMessage", channel.to_owned(), &args)
            .await
    }

    /// Replies in the event's thread, starting one on its message when it is not in one.
    pub async fn reply(&self, message: impl Into<Message>) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "reply", "channel")?;
        let parent = self.need(
            self.meta.thread_ts.as_ref().or(self.meta.ts.as_ref()),
            "reply",
            "message",
        )?;
        let mut args = message_args("chat.postMessage", message.into())?;
        args.insert("channel".to_owned(), channel.into());
        args.insert("thread_ts".to_owned(), parent.into());
        self.enqueue("chat.postMessage", channel.to_owned(), &args)
            .await
    }

    /// Posts a message in `channel` (any channel the bot may post in, not only the event's),
    /// through the outbox like [`Context::say`].
    pub async fn say_in(
        &self,
        channel: &str,
        message: impl Into<Message>,
    ) -> Result<Outgoing, ContextError> {
        let mut args = message_args("chat.postMessage", message.into())?;
        args.insert("channel".to_owned(), channel.into());
        self.enqueue("chat.postMessage", channel.to_owned(), &args)
            .await
    }

    /// Posts any message (a [`PostMessageRequest`] with every field), through the outbox.
    pub async fn post(&self, request: &PostMessageRequest) -> Result<Outgoing, ContextError> {
        self.enqueue("chat.postMessage", request.channel.clone(), request)
            .await
    }

    /// Adds the reaction `name` (`thumbsup` or `:thumbsup:`) to the event's message. A
    /// reaction that is there already counts as delivered.
    pub async fn react(&self, name: &str) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "react", "channel")?;
        let ts = self.need(self.meta.ts.as_ref(), "react", "message")?;
        let args = json!({"channel": channel, "timestamp": ts, "name": name.trim_matches(':')});
        self.enqueue("reactions.add", channel.to_owned(), &args)
            .await
    }

    /// Posts a message that only the event's user sees, in the event's channel. Ephemeral
    /// messages cannot be looked up afterwards: one cut off by a crash may show twice.
    pub async fn ephemeral(&self, message: impl Into<Message>) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "ephemeral", "channel")?;
        let user = self.need(self.meta.user.as_ref(), "ephemeral", "user")?;
        let mut args = message_args("chat.postEphemeral", message.into())?;
        args.insert("channel".to_owned(), channel.into());
        args.insert("user".to_owned(), user.into());
        if let Some(thread) = &self.meta.thread_ts {
            args.insert("thread_ts".to_owned(), thread.as_str().into());
        }
        self.enqueue("chat.postEphemeral", channel.to_owned(), &args)
            .await
    }

    /// Replaces the bot's message `ts` in the event's channel: its text, and its blocks when
    /// the new message has some (a message given as text keeps no blocks).
    pub async fn update(
        &self,
        ts: &str,
        message: impl Into<Message>,
    ) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "update", "channel")?;
        let mut args = message_args("chat.update", message.into())?;
        args.entry("blocks").or_insert_with(|| json!([]));
        args.insert("channel".to_owned(), channel.into());
        args.insert("ts".to_owned(), ts.into());
        self.enqueue("chat.update", channel.to_owned(), &args).await
    }

    /// Deletes the bot's message `ts` in the event's channel.
    pub async fn delete(&self, ts: &str) -> Result<Outgoing, ContextError> {
        let channel = self.need(self.meta.channel.as_ref(), "delete", "channel")?;
        let args = json!({"channel": channel, "ts": ts});
        self.enqueue("chat.delete", channel.to_owned(), &args).await
    }

    /// Answers through the event's `response_url` (slash commands, interactions): a typed
    /// [`ResponseMessage`](nonstop_model::blocks::ResponseMessage) (`ephemeral`, `in_channel`,
    /// `replacing` the message acted on; its limits checked), plain text, or JSON. At least
    /// once: Slack gives no way to look for it.
    pub async fn respond(&self, body: impl Into<ResponseBody>) -> Result<Outgoing, ContextError> {
        let url = self.need(self.meta.response_url.as_ref(), "respond", "response_url")?;
        let body = body.into();
        body.check()?;
        let args = json!({"response_url": url, "body": body});
        // Its own lane per event: a response_url belongs to one interaction.
        let lane = format!("{RESPOND}:{}", self.run_key());
        self.enqueue(RESPOND, lane, &args).await
    }

    /// Calls any Web API `method` with `args` through the outbox: written first, delivered
    /// in order with the other answers to the same `channel` (if `args` names one), retried
    /// until Slack takes or refuses it. For calls whose answer the handler needs at once (a
    /// read, `views.open`), use [`Context::web`].
    pub async fn send(
        &self,
        method: &str,
        args: &impl Serialize,
    ) -> Result<Outgoing, ContextError> {
        let value = serde_json::to_value(args).map_err(|e| ContextError::Arguments {
            method: method.to_owned(),
            detail: e.to_string(),
        })?;
        let lane = value
            .get("channel")
            .and_then(Value::as_str)
            .map_or_else(|| method.to_owned(), str::to_owned);
        self.enqueue(method, lane, &value).await
    }

    pub(crate) async fn enqueue(
        &self,
        method: &str,
        lane: String,
        args: &impl Serialize,
    ) -> Result<Outgoing, ContextError> {
        self.enqueue_as(self.next_answer_key(), method, lane, args)
            .await
    }

    /// This handler run's place in the outbox (`None` outside a run).
    pub(crate) fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// The key the next answer of this handler run gets (outside a run, one of its own).
    pub(crate) fn next_answer_key(&self) -> String {
        match &self.run {
            Some(run) => run.next_key(),
            None => format!("out-{:016x}#0", rand::random::<u64>()),
        }
    }

    /// [`Context::enqueue`] under `key`, one of [`Context::next_answer_key`]'s or derived from
    /// one (a stream's pieces).
    pub(crate) async fn enqueue_as(
        &self,
        key: String,
        method: &str,
        lane: String,
        args: &impl Serialize,
    ) -> Result<Outgoing, ContextError> {
        let args = arguments(method, args)?;
        let own;
        let run = match &self.run {
            Some(run) => run,
            None => {
                own = Run::new(&key);
                &own
            }
        };
        Ok(self
            .outbox
            .submit(run, key, lane, method, args, self.workspace.clone())
            .await?)
    }

    /// The answers this run's earlier runs wrote under `keys` (a replayed handler's).
    pub(crate) async fn written_before(
        &self,
        keys: Vec<String>,
    ) -> Result<Vec<crate::journal::Output>, ContextError> {
        if self.run.is_none() {
            return Ok(Vec::new());
        }
        self.outbox
            .written_before(keys)
            .await
            .map_err(|detail| ContextError::Earlier { detail })
    }

    fn run_key(&self) -> String {
        self.run
            .as_ref()
            .map_or_else(String::new, |run| run.event_key().to_owned())
    }

    /// Opens a modal with the event's `trigger_id`; returns the view Slack built (its `id`
    /// for [`Context::update_view`]). A view past one of Slack's limits is not sent.
    pub async fn open_view(&self, view: &View) -> Result<Value, ContextError> {
        let trigger = self.need(self.meta.trigger_id.as_ref(), "open_view", "trigger_id")?;
        Ok(self.web.views_open(trigger, &view_json(view)?).await?)
    }

    /// Pushes a modal onto the stack of the one the interaction came from (at most three).
    pub async fn push_view(&self, view: &View) -> Result<Value, ContextError> {
        let trigger = self.need(self.meta.trigger_id.as_ref(), "push_view", "trigger_id")?;
        let args = json!({"trigger_id": trigger, "view": view_json(view)?});
        Ok(self.web.call("views.push", &args).await?)
    }

    /// Replaces the open view `view_id` (from the interaction's `view.id`, or what
    /// [`Context::open_view`] returned).
    pub async fn update_view(&self, view_id: &str, view: &View) -> Result<Value, ContextError> {
        Ok(self
            .web
            .views_update(view_id, &view_json(view)?, None)
            .await?)
    }

    /// Publishes `view` (a [`nonstop_model::blocks::Home`]) as the Home tab of `user_id`:
    /// call it on [`AppHomeOpened`](nonstop_model::AppHomeOpened), or whenever what it shows
    /// changes. Direct, not through the outbox: the latest view is what counts.
    pub async fn publish_home(&self, user_id: &str, view: &View) -> Result<Value, ContextError> {
        Ok(self.web.views_publish(user_id, &view_json(view)?).await?)
    }

    pub(crate) fn need<'a>(
        &self,
        value: Option<&'a String>,
        method: &'static str,
        missing: &'static str,
    ) -> Result<&'a str, ContextError> {
        value
            .map(String::as_str)
            .ok_or(ContextError::Missing { method, missing })
    }
}

/// A message's fields as the arguments of a call to `method`, once it is within Slack's
/// limits.
fn message_args(method: &str, message: Message) -> Result<Map<String, Value>, ContextError> {
    let message = message.build()?;
    let problem = |detail: String| ContextError::Arguments {
        method: method.to_owned(),
        detail,
    };
    match serde_json::to_value(&message) {
        Ok(Value::Object(args)) => Ok(args),
        Ok(other) => Err(problem(format!("got {other}"))),
        Err(e) => Err(problem(e.to_string())),
    }
}

/// A view as JSON, once it is within Slack's limits.
fn view_json(view: &View) -> Result<Value, ContextError> {
    view.check()?;
    serde_json::to_value(view).map_err(|e| ContextError::Arguments {
        method: "views".to_owned(),
        detail: e.to_string(),
    })
}

/// A call's arguments as the outbox keeps them: a JSON object's text, written straight from
/// the caller's type.
fn arguments(method: &str, args: &impl Serialize) -> Result<String, ContextError> {
    let problem = |detail: String| ContextError::Arguments {
        method: method.to_owned(),
        detail,
    };
    match serde_json::to_string(args) {
        Ok(text) if text.starts_with('{') => Ok(text),
        Ok(other) => Err(problem(format!("got {other}"))),
        Err(e) => Err(problem(e.to_string())),
    }
}
