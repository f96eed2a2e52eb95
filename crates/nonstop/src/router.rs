//! From an envelope to the listeners that want it: parse the payload once, drop the bot's
//! own messages, run `before` middleware, every matching listener in registration order,
//! then `after` middleware.

use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use nonstop_model::{
    BlockAction, BlockActions, EventHead, MessageEvent, OptionsRequest, Shortcut, SlashCommand,
    ViewPayload,
};
use regex::Regex;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, warn};

use crate::context::Context;
use crate::envelope::Envelope;
use crate::handler::{Handler, HandlerError, HandlerFuture};
use crate::listeners::{After, Before, ErasedListener, Flow, Hears, Message, Outcome};
use crate::request::str_at;
pub use crate::request::{Request, RequestKind};

/// One registered listener: says whether it wants a request, and if so starts it.
type Route = Box<dyn Fn(&Request, &Context) -> Option<HandlerFuture> + Send + Sync>;

/// Messages already heard, by listener, channel and ts: Slack sends a mention both as
/// `app_mention` and as `message` when the app subscribes to both, and each `hears` listener
/// should answer once. Keys are kept as 64-bit hashes: 4,096 of them cost 64 KiB, not the
/// megabyte the strings would.
#[derive(Debug, Default)]
struct RecentlyHeard {
    order: VecDeque<u64>,
    seen: HashSet<u64>,
}

/// Messages remembered for that, at most.
const RECENTLY_HEARD: usize = 4096;

impl RecentlyHeard {
    /// True the first time this message is seen.
    fn first_time(&mut self, route: usize, channel: &str, ts: &str) -> bool {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (route, channel, ts).hash(&mut hasher);
        let key = hasher.finish();
        if !self.seen.insert(key) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > RECENTLY_HEARD {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

/// Listeners and middleware, in registration order. Built by [`crate::App`].
#[derive(Default)]
pub(crate) struct Router {
    before: Vec<Box<dyn Before>>,
    after: Vec<Box<dyn After>>,
    routes: Vec<Route>,
    /// `hears` patterns that did not compile, reported when the app starts.
    pub(crate) bad_patterns: Vec<String>,
    heard: Arc<Mutex<RecentlyHeard>>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("before", &self.before.len())
            .field("after", &self.after.len())
            .field("routes", &self.routes.len())
            .finish()
    }
}

/// Starts `listener` with `payload` read from `value`; a payload that does not parse is the
/// listener's failure, recorded like any other.
fn start<T: DeserializeOwned + Send + 'static>(
    listener: &ErasedListener<T>,
    ctx: &Context,
    value: &Value,
    what: &'static str,
) -> HandlerFuture {
    match T::deserialize(value) {
        Ok(payload) => listener(ctx.clone(), payload),
        Err(e) => {
            let error: HandlerError = format!("{what} payload did not parse: {e}").into();
            Box::pin(async move { Err(error) })
        }
    }
}

impl Router {
    pub(crate) fn before(&mut self, middleware: impl Before) {
        self.before.push(Box::new(middleware));
    }

    pub(crate) fn after(&mut self, middleware: impl After) {
        self.after.push(Box::new(middleware));
    }

    /// Every envelope, raw.
    pub(crate) fn envelope(&mut self, handler: impl Handler) {
        self.routes.push(Box::new(move |request, ctx| {
            Some(handler.handle(ctx.clone(), request.envelope.clone()))
        }));
    }

    pub(crate) fn hears(&mut self, hears: Hears, listener: ErasedListener<Message>) {
        let regex = match Regex::new(&hears.pattern) {
            Ok(regex) => regex,
            Err(e) => {
                self.bad_patterns
                    .push(format!("hears pattern {:?}: {e}", hears.pattern));
                return;
            }
        };
        let heard = Arc::clone(&self.heard);
        let route_id = self.routes.len();
        self.routes.push(Box::new(move |request, ctx| {
            let RequestKind::Event { event_type } = &request.kind else {
                return None;
            };
            let event = request.message()?;
            // Everything up to the match borrows: nothing is copied for a message not heard.
            let me = ctx.me().user_id.as_deref();
            let (text, mentions_me) = heard_text(event, me);
            let mentioned = event_type == "app_mention" || mentions_me;
            if !hears.admits(event, mentioned) {
                return None;
            }
            let captures = regex.captures(text)?;
            if let (Some(channel), Some(ts)) = (&event.channel, &event.ts) {
                let mut heard = heard.lock().unwrap_or_else(PoisonError::into_inner);
                if !heard.first_time(route_id, channel, ts) {
                    debug!(
                        channel,
                        ts, "message already heard (as app_mention and message)"
                    );
                    return None;
                }
            }
            let message = Message {
                event: event.clone(),
                text: text.to_owned(),
                mentioned,
                captures: captures
                    .iter()
                    .map(|m| m.map(|m| m.as_str().to_owned()))
                    .collect(),
                named: regex
                    .capture_names()
                    .flatten()
                    .filter_map(|name| {
                        Some((name.to_owned(), captures.name(name)?.as_str().to_owned()))
                    })
                    .collect(),
            };
            Some(listener(ctx.clone(), message))
        }));
    }

    pub(crate) fn event<T: DeserializeOwned + Send + 'static>(
        &mut self,
        event_type: String,
        listener: ErasedListener<T>,
    ) {
        self.routes
            .push(Box::new(move |request, ctx| match &request.kind {
                RequestKind::Event { event_type: t } if *t == event_type || event_type == "*" => {
                    Some(start(&listener, ctx, request.event()?, "event"))
                }
                _ => None,
            }));
    }

    pub(crate) fn command(&mut self, command: String, listener: ErasedListener<SlashCommand>) {
        let command = normalize_command(&command);
        self.routes
            .push(Box::new(move |request, ctx| match &request.kind {
                RequestKind::Command { command: c } if normalize_command(c) == command => {
                    Some(start(&listener, ctx, &request.payload, "slash command"))
                }
                _ => None,
            }));
    }

    pub(crate) fn action(&mut self, action_id: String, listener: ErasedListener<BlockAction>) {
        self.routes.push(Box::new(move |request, ctx| {
            if request.kind != interaction("block_actions") {
                return None;
            }
            let body = match BlockActions::deserialize(request.payload.as_ref()) {
                Ok(body) => body,
                Err(e) => {
                    let error: HandlerError =
                        format!("block_actions payload did not parse: {e}").into();
                    return Some(Box::pin(async move { Err(error) }));
                }
            };
            let action = body
                .actions
                .iter()
                .find(|a| a.action_id == action_id)?
                .clone();
            Some(listener(ctx.clone(), BlockAction { action, body }))
        }));
    }

    /// `view_submission` or `view_closed` (per `kind`) of views with `callback_id`.
    pub(crate) fn view(
        &mut self,
        kind: &'static str,
        callback_id: String,
        listener: ErasedListener<ViewPayload>,
    ) {
        self.routes.push(Box::new(move |request, ctx| {
            if request.kind != interaction(kind)
                || str_at(&request.payload, &["view", "callback_id"]) != Some(callback_id.as_str())
            {
                return None;
            }
            Some(start(&listener, ctx, &request.payload, kind))
        }));
    }

    /// Global and message shortcuts with `callback_id`.
    pub(crate) fn shortcut(&mut self, callback_id: String, listener: ErasedListener<Shortcut>) {
        self.routes.push(Box::new(move |request, ctx| {
            let is_shortcut = request.kind == interaction("shortcut")
                || request.kind == interaction("message_action");
            if !is_shortcut
                || str_at(&request.payload, &["callback_id"]) != Some(callback_id.as_str())
            {
                return None;
            }
            Some(start(&listener, ctx, &request.payload, "shortcut"))
        }));
    }

    /// `block_suggestion` for the external select `action_id`.
    pub(crate) fn options(&mut self, action_id: String, listener: ErasedListener<OptionsRequest>) {
        self.routes.push(Box::new(move |request, ctx| {
            if request.kind != interaction("block_suggestion")
                || str_at(&request.payload, &["action_id"]) != Some(action_id.as_str())
            {
                return None;
            }
            Some(start(&listener, ctx, &request.payload, "block_suggestion"))
        }));
    }

    /// Routes one envelope. Errors of listeners are returned (the first one; the others are
    /// logged), so the dispatcher records the event as failed.
    async fn route(self: Arc<Self>, ctx: Context, envelope: Envelope) -> Result<(), HandlerError> {
        let request = Request::from_envelope(envelope)
            .map_err(|e| format!("envelope payload did not parse: {e}"))?;
        let meta = request.meta();
        // The dispatcher's span: filled in only when logging wants it (no copies otherwise).
        let span = tracing::Span::current();
        if !span.is_disabled() {
            if let Some(team) = &meta.team {
                span.record(
                    "team",
                    tracing::field::display(nonstop_model::printable(team)),
                );
            }
            if let Some(channel) = &meta.channel {
                span.record(
                    "channel",
                    tracing::field::display(nonstop_model::printable(channel)),
                );
            }
        }
        let installation = crate::request::installation_of(&request);
        let Some(ctx) = ctx.with_meta(meta).in_workspace(installation).await else {
            tracing::warn!("event from a workspace the app is not installed in (uninstalled, or never installed): not handled, as no token may act there");
            return Ok(());
        };
        ctx.on_uninstall(installation, request.payload.get("event"))
            .await;
        ctx.keep_agent_context(request.payload.get("event")).await;
        if is_own_message(&request, &ctx) {
            return Ok(());
        }
        let mut outcome = Outcome {
            listeners: 0,
            stopped: false,
            error: None,
        };
        let mut first_error = None;
        for before in &self.before {
            match before.call(ctx.clone(), request.clone()).await {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    outcome.stopped = true;
                    break;
                }
                // A failing middleware stops the chain too; `after` still sees it.
                Err(error) => {
                    outcome.stopped = true;
                    outcome.error = Some(nonstop_web::redact(&error.to_string()));
                    first_error = Some(error);
                    break;
                }
            }
        }
        if !outcome.stopped {
            let started: Vec<HandlerFuture> = self
                .routes
                .iter()
                .filter_map(|route| route(&request, &ctx))
                .collect();
            outcome.listeners = started.len();
            for listener in started {
                if let Err(error) = listener.await {
                    if first_error.is_none() {
                        outcome.error = Some(nonstop_web::redact(&error.to_string()));
                        first_error = Some(error);
                    } else {
                        let detail = nonstop_web::redact(&error.to_string());
                        warn!(envelope_id = %request.envelope.envelope_id, error = %detail, "another listener failed too");
                    }
                }
            }
            if outcome.listeners == 0 {
                debug!(envelope_id = %request.envelope.envelope_id, kind = ?request.kind, "no listener for this envelope");
            }
        }
        for after in &self.after {
            after
                .call(ctx.clone(), request.clone(), outcome.clone())
                .await;
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Shares a router as the dispatcher's handler.
#[derive(Debug, Clone)]
pub(crate) struct Routes(pub(crate) Arc<Router>);

impl Handler for Routes {
    fn handle(&self, ctx: Context, envelope: Envelope) -> HandlerFuture {
        Box::pin(Arc::clone(&self.0).route(ctx, envelope))
    }
}

fn interaction(kind: &str) -> RequestKind {
    RequestKind::Interaction {
        kind: kind.to_owned(),
    }
}

/// `ticket` and `/ticket` name the same command.
fn normalize_command(command: &str) -> String {
    let command = command.trim();
    if command.starts_with('/') {
        command.to_owned()
    } else {
        format!("/{command}")
    }
}

/// A message from the bot itself (by `auth.test` user id or bot id): never routed, so a bot
/// cannot answer itself in a loop. Such envelopes are dropped on arrival already; this catches
/// them in replays of journals written before that.
fn is_own_message(request: &Request, ctx: &Context) -> bool {
    request
        .event()
        .and_then(|event| EventHead::deserialize(event).ok())
        .is_some_and(|event| ctx.me().wrote(&event))
}

/// The text `hears` matches (without a leading mention of the bot), and whether the
/// message mentions the bot anywhere.
/// What `hears` listeners would make of `request` for a bot whose user id is `me` (fuzzing).
#[cfg(feature = "fuzzing")]
pub(crate) fn heard_by(me: &str, request: &Request) {
    if let Some(event) = request.message() {
        let (text, mentioned) = heard_text(event, Some(me));
        let _ = Hears::new("^ping (.*)$").admits(event, mentioned);
        let _ = text.len();
    }
}

fn heard_text<'a>(event: &'a MessageEvent, me: Option<&str>) -> (&'a str, bool) {
    let text = event.text.as_deref().unwrap_or_default().trim_start();
    let Some(me) = me.filter(|m| !m.is_empty()) else {
        return (text, false);
    };
    let is_tag = |rest: &str| rest.strip_prefix(me).is_some_and(|r| r.starts_with('>'));
    let mentioned = text
        .match_indices("<@")
        .any(|(i, _)| is_tag(&text[i + 2..]));
    let stripped = text
        .strip_prefix("<@")
        .filter(|rest| is_tag(rest))
        .map_or(text, |rest| rest[me.len() + 1..].trim_start());
    (stripped, mentioned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_mention_of_the_bot_is_not_part_of_the_text() {
        let event = |text: &str| MessageEvent {
            text: Some(text.into()),
            ..MessageEvent::default()
        };
        let me = Some("U0BOT");
        assert_eq!(heard_text(&event("<@U0BOT>  ping x"), me), ("ping x", true));
        assert_eq!(
            heard_text(&event("<@U0HUMAN> ping x"), me),
            ("<@U0HUMAN> ping x", false)
        );
        assert_eq!(
            heard_text(&event("hey <@U0BOT> ping"), me),
            ("hey <@U0BOT> ping", true)
        );
        assert_eq!(
            heard_text(&event("<@U0BOTX> hi"), me),
            ("<@U0BOTX> hi", false)
        );
        assert_eq!(heard_text(&event("ping"), None), ("ping", false));
    }

    #[test]
    fn commands_match_with_or_without_the_slash() {
        assert_eq!(normalize_command("ticket"), "/ticket");
        assert_eq!(normalize_command(" /ticket "), "/ticket");
    }

    #[test]
    fn recently_heard_forgets_the_oldest() {
        let mut heard = RecentlyHeard::default();
        assert!(heard.first_time(0, "C1", "1.0"));
        assert!(!heard.first_time(0, "C1", "1.0"));
        assert!(
            heard.first_time(1, "C1", "1.0"),
            "another listener hears it too"
        );
        for i in 0..RECENTLY_HEARD {
            heard.first_time(0, "C2", &i.to_string());
        }
        assert!(heard.first_time(0, "C1", "1.0"));
        assert!(heard.seen.len() <= RECENTLY_HEARD);
    }
}
