//! What a bot registers: listeners (plain async fns of a context and a typed payload), the
//! `hears` pattern with its filters, and middleware.

use std::any::TypeId;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use nonstop_model::MessageEvent;

use crate::context::Context;
use crate::handler::{HandlerFuture, HandlerResult};
use crate::request::Request;

/// A listener for payloads of type `T`: any `async fn(Context, T) -> HandlerResult`, or
/// one that also takes the app's state, `async fn(Context, T, State<S>) -> HandlerResult`
/// (or closures returning such futures). `M` tells the two shapes apart and is inferred.
///
/// A listener that takes `State<S>` makes [`App::run`](crate::App::run) (and
/// `App::into_test`) fail before anything is connected when no
/// `S` was registered with [`App::with_state`](crate::App::with_state), so a missing
/// value is found at start, never at the first event.
pub trait Listener<T, M = ()>: Send + Sync + 'static {
    fn call(&self, ctx: Context, payload: T) -> HandlerFuture;

    /// The state this listener takes, checked when the app starts.
    fn state_needed(&self) -> Option<StateNeed> {
        None
    }
}

impl<F, Fut, T> Listener<T> for F
where
    F: Fn(Context, T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn call(&self, ctx: Context, payload: T) -> HandlerFuture {
        Box::pin(self(ctx, payload))
    }
}

impl<F, Fut, T, S> Listener<T, (State<S>,)> for F
where
    F: Fn(Context, T, State<S>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
    S: Send + Sync + 'static,
{
    fn call(&self, ctx: Context, payload: T) -> HandlerFuture {
        match ctx.state_arc::<S>() {
            Some(value) => Box::pin(self(ctx, payload, State { value })),
            // Only reachable when the start-time check was bypassed; still an error, not a panic.
            None => {
                let error = crate::ContextError::NoState {
                    type_name: std::any::type_name::<S>(),
                };
                Box::pin(async move { Err(error.into()) })
            }
        }
    }

    fn state_needed(&self) -> Option<StateNeed> {
        Some(StateNeed::of::<S>())
    }
}

/// The app's shared value of type `S` (registered with [`App::with_state`](crate::App::with_state)),
/// as a listener's third argument: the axum `State` extractor for a Slack bot.
///
/// ```
/// use nonstop::{App, Config, Context, HandlerResult, Message, State};
///
/// struct Greeting(String);
///
/// async fn greet(ctx: Context, _message: Message, greeting: State<Greeting>) -> HandlerResult {
///     ctx.say(greeting.0.as_str()).await?;
///     Ok(())
/// }
///
/// # fn app(config: Config) -> App {
/// App::new(config)
///     .hears("^hi$", greet)
///     .with_state(Greeting("hello!".into()))
/// # }
/// ```
///
/// It derefs to `S`; [`State::arc`] gives the shared handle to keep beyond the call.
#[derive(Debug)]
pub struct State<S> {
    value: Arc<S>,
}

impl<S> State<S> {
    /// The shared value, to move into a task that outlives the listener.
    pub fn arc(&self) -> Arc<S> {
        Arc::clone(&self.value)
    }
}

impl<S> Clone for State<S> {
    fn clone(&self) -> Self {
        Self {
            value: Arc::clone(&self.value),
        }
    }
}

impl<S> std::ops::Deref for State<S> {
    type Target = S;
    fn deref(&self) -> &S {
        &self.value
    }
}

/// A state type a listener takes: what the start-time check looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateNeed {
    pub(crate) type_id: TypeId,
    /// The type's name, for the error.
    pub type_name: &'static str,
}

impl StateNeed {
    fn of<S: 'static>() -> Self {
        Self {
            type_id: TypeId::of::<S>(),
            type_name: std::any::type_name::<S>(),
        }
    }
}

/// A listener with its shape erased, as the router keeps it.
pub(crate) type ErasedListener<T> = Arc<dyn Fn(Context, T) -> HandlerFuture + Send + Sync>;

/// Erases `listener`'s shape for the router.
pub(crate) fn erase<T: 'static, M: 'static>(listener: impl Listener<T, M>) -> ErasedListener<T> {
    Arc::new(move |ctx, payload| listener.call(ctx, payload))
}

/// What a `before` middleware decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on to the next middleware and the listeners.
    Continue,
    /// Stop here: no listener runs (the envelope still counts as handled).
    Stop,
}

pub type FlowFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Flow, crate::HandlerError>> + Send>>;

/// Runs before the listeners, in registration order; may stop the chain (ignore bots,
/// authorise, log). Any `async fn(Context, Request) -> Result<Flow, HandlerError>`.
pub trait Before: Send + Sync + 'static {
    fn call(&self, ctx: Context, request: Request) -> FlowFuture;
}

impl<F, Fut> Before for F
where
    F: Fn(Context, Request) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Flow, crate::HandlerError>> + Send + 'static,
{
    fn call(&self, ctx: Context, request: Request) -> FlowFuture {
        Box::pin(self(ctx, request))
    }
}

/// How the listeners did, for `after` middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Listeners that matched and ran.
    pub listeners: usize,
    /// A `before` middleware stopped the chain.
    pub stopped: bool,
    /// The first listener error, as text.
    pub error: Option<String>,
}

pub type AfterFuture = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// Runs after the listeners (also when one failed or a middleware stopped the chain), in
/// registration order. Any `async fn(Context, Request, Outcome)`.
pub trait After: Send + Sync + 'static {
    fn call(&self, ctx: Context, request: Request, outcome: Outcome) -> AfterFuture;
}

impl<F, Fut> After for F
where
    F: Fn(Context, Request, Outcome) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    fn call(&self, ctx: Context, request: Request, outcome: Outcome) -> AfterFuture {
        Box::pin(self(ctx, request, outcome))
    }
}

/// Which messages a `hears` listener hears: a regex, where, and which subtypes.
///
/// With no place chosen it hears everywhere. Message subtypes (edits, joins, bot posts, …)
/// are ignored unless named with [`Hears::subtype`]. The bot's own messages are never heard.
#[derive(Debug, Clone)]
pub struct Hears {
    pub(crate) pattern: String,
    pub(crate) direct: bool,
    pub(crate) mention: bool,
    pub(crate) channel: bool,
    pub(crate) thread: bool,
    pub(crate) subtypes: Vec<String>,
}

impl Hears {
    /// Messages whose text matches `pattern` (Rust `regex` syntax; a leading mention of the
    /// bot is removed before matching, so `^ping` also hears `@bot ping`).
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            direct: false,
            mention: false,
            channel: false,
            thread: false,
            subtypes: Vec::new(),
        }
    }

    /// Direct messages to the bot.
    #[must_use]
    pub fn direct(mut self) -> Self {
        self.direct = true;
        self
    }

    /// Messages that mention the bot.
    #[must_use]
    pub fn mention(mut self) -> Self {
        self.mention = true;
        self
    }

    /// Messages in channels (public, private, group DMs), not direct messages.
    #[must_use]
    pub fn channel(mut self) -> Self {
        self.channel = true;
        self
    }

    /// Replies in threads.
    #[must_use]
    pub fn thread(mut self) -> Self {
        self.thread = true;
        self
    }

    /// Also hear messages of this subtype (`bot_message`, `file_share`, `thread_broadcast`, …).
    #[must_use]
    pub fn subtype(mut self, subtype: impl Into<String>) -> Self {
        self.subtypes.push(subtype.into());
        self
    }

    /// Whether a message in this place may be heard (the pattern aside).
    pub(crate) fn admits(&self, event: &MessageEvent, mentioned: bool) -> bool {
        if let Some(subtype) = &event.subtype {
            if !self.subtypes.iter().any(|s| s == subtype) {
                return false;
            }
        }
        let any_place = self.direct || self.mention || self.channel || self.thread;
        let direct = is_direct(event);
        !any_place
            || (self.direct && direct)
            || (self.mention && mentioned)
            || (self.channel && !direct)
            || (self.thread && is_thread_reply(event))
    }
}

fn is_direct(event: &MessageEvent) -> bool {
    event.channel_type.as_deref() == Some("im")
}

fn is_thread_reply(event: &MessageEvent) -> bool {
    match (&event.thread_ts, &event.ts) {
        (Some(thread), Some(ts)) => thread != ts,
        (Some(_), None) => true,
        _ => false,
    }
}

/// A message as a `hears` listener gets it: the event, and what the pattern captured.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub event: MessageEvent,
    /// The text without a leading mention of the bot: what the pattern matched.
    pub text: String,
    /// True when the message mentions the bot (or came as `app_mention`).
    pub mentioned: bool,
    pub(crate) captures: Vec<Option<String>>,
    pub(crate) named: BTreeMap<String, String>,
}

impl Message {
    /// Capture group `index` (0 is the whole match).
    pub fn capture(&self, index: usize) -> Option<&str> {
        self.captures.get(index)?.as_deref()
    }

    /// The named capture group `name`, e.g. `(?P<env>\w+)`.
    pub fn named(&self, name: &str) -> Option<&str> {
        self.named.get(name).map(String::as_str)
    }

    pub fn channel(&self) -> Option<&str> {
        self.event.channel.as_deref()
    }

    pub fn user(&self) -> Option<&str> {
        self.event.user.as_deref()
    }

    /// A direct message to the bot.
    pub fn is_direct(&self) -> bool {
        is_direct(&self.event)
    }

    /// A reply inside a thread (not the thread's parent).
    pub fn is_thread_reply(&self) -> bool {
        is_thread_reply(&self.event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(channel_type: &str, thread: Option<&str>, mentioned: bool) -> Message {
        Message {
            event: MessageEvent {
                kind: "message".into(),
                channel_type: Some(channel_type.into()),
                ts: Some("2.0".into()),
                thread_ts: thread.map(str::to_owned),
                ..MessageEvent::default()
            },
            mentioned,
            ..Message::default()
        }
    }

    #[test]
    fn places_filter_where_a_message_is_heard() {
        let dm = message("im", None, false);
        let in_channel = message("channel", None, false);
        let mention = message("channel", None, true);
        let reply = message("channel", Some("1.0"), false);
        let parent = message("channel", Some("2.0"), false);
        let admits = |hears: &Hears, m: &Message| hears.admits(&m.event, m.mentioned);
        let anywhere = Hears::new("x");
        assert!([&dm, &in_channel, &mention, &reply]
            .iter()
            .all(|m| admits(&anywhere, m)));
        let direct = Hears::new("x").direct();
        assert!(admits(&direct, &dm) && !admits(&direct, &in_channel));
        let mentions = Hears::new("x").mention();
        assert!(admits(&mentions, &mention) && !admits(&mentions, &in_channel));
        let channel = Hears::new("x").channel();
        assert!(admits(&channel, &in_channel) && !admits(&channel, &dm));
        let thread = Hears::new("x").thread();
        assert!(
            admits(&thread, &reply) && !admits(&thread, &parent) && !admits(&thread, &in_channel)
        );
        let either = Hears::new("x").direct().mention();
        assert!(admits(&either, &dm) && admits(&either, &mention) && !admits(&either, &in_channel));
    }

    #[test]
    fn subtypes_are_ignored_unless_named() {
        let mut edited = message("channel", None, false);
        edited.event.subtype = Some("message_changed".into());
        assert!(!Hears::new("x").admits(&edited.event, false));
        assert!(Hears::new("x")
            .subtype("message_changed")
            .admits(&edited.event, false));
    }
}
