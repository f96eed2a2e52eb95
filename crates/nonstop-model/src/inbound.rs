//! What reaches a bot, as a test or an operator would describe it: one type per inbound kind
//! (a message, a mention, a reaction, any event, a slash command, a block action, a view
//! submitted or closed, a global or message shortcut, an options load, a raw envelope) with
//! named fields and defaults, built into the payload Slack would send.
//!
//! The same values drive `nonstop::testing` (in process) and the simulator (`Sim::send`, its
//! control API `POST /_sim/send` and `nonstop sim send`), so a test and a hand-driven session
//! say the same thing the same way. The JSON form is the enum's: `{"kind": "slash_command",
//! "command": "/todo", "text": "buy milk"}`; every field but the kind's own name may be left
//! out.
//!
//! ```
//! use nonstop_model::inbound;
//!
//! let click = inbound::button("approve").value("42").user("U2").channel("C1").message_ts("100.0");
//! let todo = inbound::slash_command("/todo").text("buy milk").user("U1");
//! let form = inbound::view_submission("new-ticket").text("title", "title", "printer on fire");
//! # let _ = (click, todo, form);
//! ```

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// The channel an inbound item comes from when a test names none.
pub const CHANNEL: &str = "C0GENERAL";
/// The user who acts when a test names none.
pub const USER: &str = "U0USER";

/// One thing that reaches the bot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Inbound {
    Message(MessageIn),
    AppMention(MessageIn),
    Reaction(ReactionIn),
    /// Any Events API event: the inner `event` object, with at least `type`.
    Event {
        event: Value,
    },
    SlashCommand(CommandIn),
    BlockAction(ActionIn),
    ViewSubmission(ViewIn),
    ViewClosed(ViewIn),
    GlobalShortcut(ShortcutIn),
    MessageShortcut(ShortcutIn),
    OptionsLoad(OptionsIn),
    /// Any Socket Mode envelope, as given.
    Envelope {
        envelope_type: String,
        payload: Value,
        #[serde(default)]
        accepts_response_payload: bool,
    },
}

/// What one inbound item becomes, before the sender adds its envelope and event ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Built {
    /// An Events API event (the inner object), to wrap in an `event_callback`.
    Event(Value),
    /// A Socket Mode envelope's type and payload.
    Envelope {
        envelope_type: String,
        payload: Value,
        accepts_response_payload: bool,
    },
}

/// What the sender knows that the description leaves out: the workspace and fresh ids.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub team_id: &'a str,
    pub app_id: &'a str,
    /// The bot's user id, for the mention an `app_mention` carries.
    pub bot_user_id: &'a str,
    /// A number unique to this item (trigger ids, view ids, action timestamps).
    pub n: u64,
    /// A fresh message timestamp, for a message that names none.
    pub ts: &'a str,
    /// Where `respond` posts for this item.
    pub response_url: &'a str,
}

impl Inbound {
    /// The payload Slack would send for this item.
    pub fn build(&self, stamp: &Stamp<'_>) -> Built {
        match self {
            Inbound::Message(message) => Built::Event(message.event("message", stamp)),
            Inbound::AppMention(message) => Built::Event(message.event("app_mention", stamp)),
            Inbound::Reaction(reaction) => Built::Event(reaction.event(stamp)),
            Inbound::Event { event } => Built::Event(event.clone()),
            Inbound::SlashCommand(command) => envelope("slash_commands", command.payload(stamp)),
            Inbound::BlockAction(action) => envelope("interactive", action.payload(stamp)),
            Inbound::ViewSubmission(view) => {
                envelope("interactive", view.payload("view_submission", stamp))
            }
            Inbound::ViewClosed(view) => {
                envelope("interactive", view.payload("view_closed", stamp))
            }
            Inbound::GlobalShortcut(shortcut) => {
                envelope("interactive", shortcut.payload("shortcut", stamp))
            }
            Inbound::MessageShortcut(shortcut) => {
                envelope("interactive", shortcut.payload("message_action", stamp))
            }
            Inbound::OptionsLoad(options) => envelope("interactive", options.payload(stamp)),
            Inbound::Envelope {
                envelope_type,
                payload,
                accepts_response_payload,
            } => Built::Envelope {
                envelope_type: envelope_type.clone(),
                payload: payload.clone(),
                accepts_response_payload: *accepts_response_payload,
            },
        }
    }
}

/// Interactions and commands take an answer in their ack; Slack says so on the envelope.
fn envelope(envelope_type: &str, payload: Value) -> Built {
    Built::Envelope {
        envelope_type: envelope_type.to_owned(),
        payload,
        accepts_response_payload: true,
    }
}

fn team(stamp: &Stamp<'_>) -> Value {
    json!({"id": stamp.team_id, "domain": "test"})
}

fn user(id: &str, stamp: &Stamp<'_>) -> Value {
    json!({"id": id, "username": "someone", "name": "someone", "team_id": stamp.team_id})
}

fn trigger(stamp: &Stamp<'_>) -> String {
    format!("{}.{}.trigger", stamp.n, stamp.n)
}

fn default_channel() -> String {
    CHANNEL.to_owned()
}

fn default_user() -> String {
    USER.to_owned()
}

/// A message a user wrote (also the form of an `app_mention`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageIn {
    pub text: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default = "default_user")]
    pub user: String,
    /// The thread it was written in.
    #[serde(default)]
    pub thread_ts: Option<String>,
    /// Its own ts; a fresh one when none is given.
    #[serde(default)]
    pub ts: Option<String>,
    /// A direct message to the bot (`channel_type: im`).
    #[serde(default)]
    pub direct: bool,
}

/// `user` writes `text` (in [`CHANNEL`], as [`USER`], unless told otherwise).
pub fn message(text: impl Into<String>) -> MessageIn {
    MessageIn {
        text: text.into(),
        channel: default_channel(),
        user: default_user(),
        thread_ts: None,
        ts: None,
        direct: false,
    }
}

/// An `app_mention`: `text` with the bot's mention in front, unless `text` has it already.
pub fn app_mention(text: impl Into<String>) -> Inbound {
    Inbound::AppMention(message(text))
}

impl MessageIn {
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// Written as a reply in the thread of `thread_ts`.
    #[must_use]
    pub fn in_thread(mut self, thread_ts: impl Into<String>) -> Self {
        self.thread_ts = Some(thread_ts.into());
        self
    }

    #[must_use]
    pub fn ts(mut self, ts: impl Into<String>) -> Self {
        self.ts = Some(ts.into());
        self
    }

    /// A direct message to the bot.
    #[must_use]
    pub fn direct(mut self) -> Self {
        self.direct = true;
        self
    }

    /// The same words as an `app_mention`.
    pub fn mention(self) -> Inbound {
        Inbound::AppMention(self)
    }

    fn event(&self, kind: &str, stamp: &Stamp<'_>) -> Value {
        let ts = self.ts.as_deref().unwrap_or(stamp.ts);
        let mention = format!("<@{}>", stamp.bot_user_id);
        let text = if kind == "app_mention" && !self.text.contains(&mention) {
            format!("{mention} {}", self.text)
        } else {
            self.text.clone()
        };
        let mut event = json!({
            "type": kind,
            "channel": self.channel,
            "channel_type": if self.direct { "im" } else { "channel" },
            "user": self.user,
            "text": text,
            "ts": ts,
            "event_ts": ts,
            "team": stamp.team_id,
        });
        if let Some(thread_ts) = &self.thread_ts {
            event["thread_ts"] = thread_ts.as_str().into();
        }
        event
    }
}

/// A reaction added to (or removed from) a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReactionIn {
    /// The emoji's name, without colons.
    pub name: String,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The ts of the message reacted to.
    #[serde(default)]
    pub message_ts: String,
    /// Who wrote that message.
    #[serde(default)]
    pub item_user: Option<String>,
    /// `reaction_removed` instead of `reaction_added`.
    #[serde(default)]
    pub removed: bool,
}

/// `reaction_added` of `name` (no colons).
pub fn reaction_added(name: impl Into<String>) -> ReactionIn {
    ReactionIn {
        name: name.into(),
        user: default_user(),
        channel: default_channel(),
        message_ts: String::new(),
        item_user: None,
        removed: false,
    }
}

/// `reaction_removed` of `name`.
pub fn reaction_removed(name: impl Into<String>) -> ReactionIn {
    ReactionIn {
        removed: true,
        ..reaction_added(name)
    }
}

impl ReactionIn {
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The message reacted to: its channel and ts.
    #[must_use]
    pub fn on_message(mut self, channel: impl Into<String>, ts: impl Into<String>) -> Self {
        self.channel = channel.into();
        self.message_ts = ts.into();
        self
    }

    #[must_use]
    pub fn item_user(mut self, user: impl Into<String>) -> Self {
        self.item_user = Some(user.into());
        self
    }

    fn event(&self, stamp: &Stamp<'_>) -> Value {
        let kind = if self.removed {
            "reaction_removed"
        } else {
            "reaction_added"
        };
        json!({
            "type": kind,
            "user": self.user,
            "reaction": self.name,
            "item_user": self.item_user,
            "item": {"type": "message", "channel": self.channel, "ts": self.message_ts},
            "event_ts": stamp.ts,
        })
    }
}

/// Any Events API event (the inner object, with at least `type`).
pub fn event(event: Value) -> Inbound {
    Inbound::Event { event }
}

/// `user` opens the app's Home tab (`app_home_opened`, tab `home`).
pub fn app_home_opened(user: impl Into<String>) -> Inbound {
    tab_opened(user.into(), "home")
}

/// `user` opens the app's Messages tab (`app_home_opened`, tab `messages`): where a person
/// talks with an agent.
pub fn messages_tab_opened(user: impl Into<String>) -> Inbound {
    tab_opened(user.into(), "messages")
}

fn tab_opened(user: String, tab: &str) -> Inbound {
    event(json!({
        "type": "app_home_opened",
        "user": user,
        "channel": format!("D{user}"),
        "tab": tab,
        "event_ts": "1700000000.000100",
    }))
}

/// `user` opens a thread with the app (`assistant_thread_started`): thread `thread_ts` in
/// their direct message channel with it (`D<user>`), while looking at `context_channel`.
pub fn assistant_thread_started(
    user: impl Into<String>,
    thread_ts: impl Into<String>,
    context_channel: impl Into<String>,
) -> Inbound {
    agent_thread_event(
        "assistant_thread_started",
        user.into(),
        thread_ts.into(),
        context_channel.into(),
    )
}

/// `user` moves to `context_channel` while their thread `thread_ts` with the app is open
/// (`assistant_thread_context_changed`).
pub fn assistant_thread_context_changed(
    user: impl Into<String>,
    thread_ts: impl Into<String>,
    context_channel: impl Into<String>,
) -> Inbound {
    agent_thread_event(
        "assistant_thread_context_changed",
        user.into(),
        thread_ts.into(),
        context_channel.into(),
    )
}

fn agent_thread_event(
    kind: &str,
    user: String,
    thread_ts: String,
    context_channel: String,
) -> Inbound {
    event(json!({
        "type": kind,
        "assistant_thread": {
            "user_id": user,
            "channel_id": format!("D{user}"),
            "thread_ts": thread_ts,
            "context": {"channel_id": context_channel},
        },
        "event_ts": thread_ts,
    }))
}

/// A user runs a slash command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandIn {
    /// With or without its slash.
    pub command: String,
    #[serde(default)]
    pub text: String,
    #[serde(default = "default_channel")]
    pub channel: String,
    #[serde(default = "default_user")]
    pub user: String,
}

/// `user` runs `command` (with no text, in [`CHANNEL`], as [`USER`], unless told otherwise).
pub fn slash_command(command: impl Into<String>) -> CommandIn {
    CommandIn {
        command: command.into(),
        text: String::new(),
        channel: default_channel(),
        user: default_user(),
    }
}

impl CommandIn {
    #[must_use]
    pub fn text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = channel.into();
        self
    }

    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    fn payload(&self, stamp: &Stamp<'_>) -> Value {
        let command = if self.command.starts_with('/') {
            self.command.clone()
        } else {
            format!("/{}", self.command)
        };
        json!({
            "token": "deprecated-verification-token",
            "team_id": stamp.team_id,
            "team_domain": "test",
            "channel_id": self.channel,
            "channel_name": "general",
            "user_id": self.user,
            "user_name": "someone",
            "command": command,
            "text": self.text,
            "api_app_id": stamp.app_id,
            "is_enterprise_install": "false",
            "response_url": stamp.response_url,
            "trigger_id": trigger(stamp),
        })
    }
}

/// What a user picked or typed in an element, whatever the element: the form of a block
/// action's value and of a view's input state. JSON: `{"option": "high"}`,
/// `{"users": ["U1"]}`, `{"text": "hi"}`, `{"button": "42"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Picked {
    /// A button, with its value if it has one.
    Button(Option<String>),
    /// Text typed in a plain text input.
    Text(String),
    /// One option of a static select (or radio buttons: see [`Picked::Radio`]).
    Option(String),
    /// Options of a multi-select.
    Options(Vec<String>),
    /// Checked boxes.
    Checkboxes(Vec<String>),
    /// The chosen radio button.
    Radio(String),
    /// An overflow menu's item.
    Overflow(String),
    User(String),
    Users(Vec<String>),
    Conversation(String),
    Channel(String),
    /// `YYYY-MM-DD`.
    Date(String),
    /// `HH:mm`.
    Time(String),
    /// A feedback button (`feedback_buttons`), with the clicked button's value
    /// (`positive`/`negative` for [`crate::blocks::FeedbackButtons::new`]).
    Feedback(String),
}

fn option(value: &str) -> Value {
    json!({"text": {"type": "plain_text", "text": value}, "value": value})
}

impl Picked {
    /// The element's `type` and the fields that say what was picked, as both a block action
    /// and a view's state carry them.
    fn element(&self) -> (&'static str, Map<String, Value>) {
        let one = |key: &str, value: Value| {
            let mut fields = Map::new();
            fields.insert(key.to_owned(), value);
            fields
        };
        let options = |values: &[String]| Value::Array(values.iter().map(|v| option(v)).collect());
        match self {
            Picked::Button(value) => (
                "button",
                value
                    .as_ref()
                    .map(|v| one("value", v.as_str().into()))
                    .unwrap_or_default(),
            ),
            Picked::Text(text) => ("plain_text_input", one("value", text.as_str().into())),
            Picked::Option(value) => ("static_select", one("selected_option", option(value))),
            Picked::Options(values) => (
                "multi_static_select",
                one("selected_options", options(values)),
            ),
            Picked::Checkboxes(values) => ("checkboxes", one("selected_options", options(values))),
            Picked::Radio(value) => ("radio_buttons", one("selected_option", option(value))),
            Picked::Overflow(value) => ("overflow", one("selected_option", option(value))),
            Picked::User(id) => ("users_select", one("selected_user", id.as_str().into())),
            Picked::Users(ids) => ("multi_users_select", one("selected_users", json!(ids))),
            Picked::Conversation(id) => (
                "conversations_select",
                one("selected_conversation", id.as_str().into()),
            ),
            Picked::Channel(id) => (
                "channels_select",
                one("selected_channel", id.as_str().into()),
            ),
            Picked::Date(date) => ("datepicker", one("selected_date", date.as_str().into())),
            Picked::Time(time) => ("timepicker", one("selected_time", time.as_str().into())),
            Picked::Feedback(value) => ("feedback_buttons", one("value", value.as_str().into())),
        }
    }
}

/// Where an element sits: a message (its channel and ts) or a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Container {
    Message {
        #[serde(default = "default_channel")]
        channel: String,
        #[serde(default)]
        ts: String,
    },
    View {
        #[serde(default)]
        view_id: String,
        #[serde(default)]
        callback_id: String,
    },
}

/// A user clicks, picks or types in an element of a message or a view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionIn {
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    /// What was picked; a button without a value when not given.
    #[serde(default = "no_value")]
    pub picked: Picked,
    #[serde(default = "default_user")]
    pub user: String,
    #[serde(default = "in_a_message")]
    pub container: Container,
}

fn no_value() -> Picked {
    Picked::Button(None)
}

fn in_a_message() -> Container {
    Container::Message {
        channel: default_channel(),
        ts: String::new(),
    }
}

/// A click on the button `action_id` (no value unless [`ActionIn::value`] gives one).
pub fn button(action_id: impl Into<String>) -> ActionIn {
    block_action(action_id, no_value())
}

/// A block action on `action_id` with whatever the element gives (`Picked::Option(…)`,
/// `Picked::Users(…)`, …), in a message in [`CHANNEL`] unless told otherwise.
pub fn block_action(action_id: impl Into<String>, picked: Picked) -> ActionIn {
    ActionIn {
        action_id: action_id.into(),
        block_id: None,
        picked,
        user: default_user(),
        container: in_a_message(),
    }
}

impl ActionIn {
    /// The button's value.
    #[must_use]
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.picked = Picked::Button(Some(value.into()));
        self
    }

    #[must_use]
    pub fn block_id(mut self, block_id: impl Into<String>) -> Self {
        self.block_id = Some(block_id.into());
        self
    }

    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// In a message of `channel` (keeping its ts if one was given).
    #[must_use]
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        let ts = match self.container {
            Container::Message { ts, .. } => ts,
            Container::View { .. } => String::new(),
        };
        self.container = Container::Message {
            channel: channel.into(),
            ts,
        };
        self
    }

    /// In the message `ts` (keeping its channel if one was given).
    #[must_use]
    pub fn message_ts(mut self, ts: impl Into<String>) -> Self {
        let channel = match self.container {
            Container::Message { channel, .. } => channel,
            Container::View { .. } => default_channel(),
        };
        self.container = Container::Message {
            channel,
            ts: ts.into(),
        };
        self
    }

    /// In a view (a modal or the Home tab) rather than a message.
    #[must_use]
    pub fn in_view(mut self, view_id: impl Into<String>, callback_id: impl Into<String>) -> Self {
        self.container = Container::View {
            view_id: view_id.into(),
            callback_id: callback_id.into(),
        };
        self
    }

    fn payload(&self, stamp: &Stamp<'_>) -> Value {
        let (kind, picked) = self.picked.element();
        let block_id = self
            .block_id
            .clone()
            .unwrap_or_else(|| format!("b{}", stamp.n));
        let mut action = json!({
            "type": kind,
            "action_id": self.action_id,
            "block_id": block_id,
            "action_ts": format!("{}.000100", stamp.n),
        });
        if let Some(fields) = action.as_object_mut() {
            fields.extend(picked);
        }
        let mut payload = json!({
            "type": "block_actions",
            "team": team(stamp),
            "user": user(&self.user, stamp),
            "api_app_id": stamp.app_id,
            "trigger_id": trigger(stamp),
            "response_url": stamp.response_url,
            "actions": [action],
        });
        match &self.container {
            Container::Message { channel, ts } => {
                payload["container"] = json!({"type": "message", "message_ts": ts,
                    "channel_id": channel, "is_ephemeral": false});
                payload["channel"] = json!({"id": channel, "name": "general"});
                payload["message"] = json!({"type": "message", "ts": ts, "text": ""});
            }
            Container::View {
                view_id,
                callback_id,
            } => {
                payload["container"] = json!({"type": "view", "view_id": view_id});
                payload["view"] = json!({"id": view_id, "callback_id": callback_id,
                    "type": "modal", "state": {"values": {}}});
            }
        }
        payload
    }
}

/// One input's value in a submitted view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputValue {
    pub block_id: String,
    pub action_id: String,
    pub picked: Picked,
}

/// A user submits (or closes) a modal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ViewIn {
    pub callback_id: String,
    #[serde(default)]
    pub values: Vec<InputValue>,
    #[serde(default)]
    pub private_metadata: Option<String>,
    #[serde(default = "default_user")]
    pub user: String,
    /// The view's id; a fresh one when none is given.
    #[serde(default)]
    pub view_id: Option<String>,
}

/// A user submits the modal `callback_id` (with no input values unless added).
pub fn view_submission(callback_id: impl Into<String>) -> ViewIn {
    ViewIn {
        callback_id: callback_id.into(),
        values: Vec::new(),
        private_metadata: None,
        user: default_user(),
        view_id: None,
    }
}

/// A user closes the modal `callback_id` (Slack sends it when the view set `notify_on_close`).
pub fn view_closed(callback_id: impl Into<String>) -> Inbound {
    Inbound::ViewClosed(view_submission(callback_id))
}

impl ViewIn {
    /// Text typed in the plain text input `action_id` of block `block_id`.
    #[must_use]
    pub fn text(self, block_id: &str, action_id: &str, text: impl Into<String>) -> Self {
        self.input(block_id, action_id, Picked::Text(text.into()))
    }

    /// What was picked in the input `action_id` of block `block_id`.
    #[must_use]
    pub fn input(mut self, block_id: &str, action_id: &str, picked: Picked) -> Self {
        self.values.push(InputValue {
            block_id: block_id.to_owned(),
            action_id: action_id.to_owned(),
            picked,
        });
        self
    }

    #[must_use]
    pub fn private_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.private_metadata = Some(metadata.into());
        self
    }

    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    #[must_use]
    pub fn view_id(mut self, view_id: impl Into<String>) -> Self {
        self.view_id = Some(view_id.into());
        self
    }

    /// The same view, closed rather than submitted.
    pub fn closed(self) -> Inbound {
        Inbound::ViewClosed(self)
    }

    fn payload(&self, kind: &str, stamp: &Stamp<'_>) -> Value {
        let mut values = Map::new();
        for input in &self.values {
            let (element_type, picked) = input.picked.element();
            let mut element = Map::new();
            element.insert("type".to_owned(), element_type.into());
            element.extend(picked);
            let block = values
                .entry(input.block_id.clone())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Some(block) = block.as_object_mut() {
                block.insert(input.action_id.clone(), Value::Object(element));
            }
        }
        let view_id = self
            .view_id
            .clone()
            .unwrap_or_else(|| format!("V{:08}", stamp.n));
        let mut payload = json!({
            "type": kind,
            "team": team(stamp),
            "user": user(&self.user, stamp),
            "api_app_id": stamp.app_id,
            "view": {
                "id": view_id,
                "type": "modal",
                "callback_id": self.callback_id,
                "private_metadata": self.private_metadata.clone().unwrap_or_default(),
                "hash": format!("{}.hash", stamp.n),
                "state": {"values": values},
                "team_id": stamp.team_id,
                "app_id": stamp.app_id,
            },
        });
        if kind == "view_submission" {
            payload["trigger_id"] = trigger(stamp).into();
            payload["response_urls"] = json!([]);
        } else {
            payload["is_cleared"] = false.into();
        }
        payload
    }
}

/// A user runs a global shortcut, or a message shortcut on a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShortcutIn {
    pub callback_id: String,
    #[serde(default = "default_user")]
    pub user: String,
    /// For a message shortcut: the message's channel.
    #[serde(default = "default_channel")]
    pub channel: String,
    /// For a message shortcut: the message's ts.
    #[serde(default)]
    pub message_ts: String,
    /// For a message shortcut: the message's text.
    #[serde(default)]
    pub message_text: String,
}

/// A user runs the global shortcut `callback_id`.
pub fn global_shortcut(callback_id: impl Into<String>) -> ShortcutIn {
    ShortcutIn {
        callback_id: callback_id.into(),
        user: default_user(),
        channel: default_channel(),
        message_ts: String::new(),
        message_text: String::new(),
    }
}

/// A user runs the message shortcut `callback_id` on a message (give it with
/// [`MessageShortcut::on_message`]).
pub fn message_shortcut(callback_id: impl Into<String>) -> MessageShortcut {
    MessageShortcut(global_shortcut(callback_id))
}

/// A message shortcut being described: [`message_shortcut`].
#[derive(Debug, Clone, PartialEq)]
pub struct MessageShortcut(pub ShortcutIn);

impl MessageShortcut {
    #[must_use]
    pub fn user(self, user: impl Into<String>) -> Self {
        Self(self.0.user(user))
    }

    /// The message it runs on.
    #[must_use]
    pub fn on_message(
        mut self,
        channel: impl Into<String>,
        ts: impl Into<String>,
        text: impl Into<String>,
    ) -> Self {
        self.0.channel = channel.into();
        self.0.message_ts = ts.into();
        self.0.message_text = text.into();
        self
    }
}

impl ShortcutIn {
    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    fn payload(&self, kind: &str, stamp: &Stamp<'_>) -> Value {
        let mut payload = json!({
            "type": kind,
            "callback_id": self.callback_id,
            "trigger_id": trigger(stamp),
            "team": team(stamp),
            "user": user(&self.user, stamp),
            "api_app_id": stamp.app_id,
            "action_ts": format!("{}.000100", stamp.n),
        });
        if kind == "message_action" {
            payload["channel"] = json!({"id": self.channel, "name": "general"});
            payload["message"] = json!({"type": "message", "ts": self.message_ts,
                "text": self.message_text, "user": default_user()});
            payload["message_ts"] = self.message_ts.as_str().into();
            payload["response_url"] = stamp.response_url.into();
        }
        payload
    }
}

/// A user types in an external select: Slack asks for its options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OptionsIn {
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    /// What the user typed so far.
    #[serde(default)]
    pub query: String,
    #[serde(default = "default_user")]
    pub user: String,
    /// The view the select is in, if it is in one (its id and callback id).
    #[serde(default)]
    pub view: Option<(String, String)>,
}

/// Slack asks for the options of the external select `action_id`.
pub fn options_load(action_id: impl Into<String>) -> OptionsIn {
    OptionsIn {
        action_id: action_id.into(),
        block_id: None,
        query: String::new(),
        user: default_user(),
        view: None,
    }
}

impl OptionsIn {
    /// What the user typed.
    #[must_use]
    pub fn query(mut self, query: impl Into<String>) -> Self {
        self.query = query.into();
        self
    }

    #[must_use]
    pub fn user(mut self, user: impl Into<String>) -> Self {
        self.user = user.into();
        self
    }

    /// The select is in the view `view_id` with `callback_id`.
    #[must_use]
    pub fn in_view(mut self, view_id: impl Into<String>, callback_id: impl Into<String>) -> Self {
        self.view = Some((view_id.into(), callback_id.into()));
        self
    }

    fn payload(&self, stamp: &Stamp<'_>) -> Value {
        let mut payload = json!({
            "type": "block_suggestion",
            "action_id": self.action_id,
            "block_id": self.block_id.clone().unwrap_or_else(|| format!("b{}", stamp.n)),
            "value": self.query,
            "team": team(stamp),
            "user": user(&self.user, stamp),
            "api_app_id": stamp.app_id,
            "container": {"type": "message"},
        });
        if let Some((view_id, callback_id)) = &self.view {
            payload["container"] = json!({"type": "view", "view_id": view_id});
            payload["view"] = json!({"id": view_id, "callback_id": callback_id,
                "type": "modal", "state": {"values": {}}});
        }
        payload
    }
}

macro_rules! into_inbound {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for Inbound {
            fn from(value: $ty) -> Self {
                Inbound::$variant(value)
            }
        })*
    };
}

into_inbound! {
    MessageIn => Message,
    ReactionIn => Reaction,
    CommandIn => SlashCommand,
    ActionIn => BlockAction,
    ViewIn => ViewSubmission,
    OptionsIn => OptionsLoad,
}

impl From<MessageShortcut> for Inbound {
    fn from(value: MessageShortcut) -> Self {
        Inbound::MessageShortcut(value.0)
    }
}

/// A [`ShortcutIn`] made with [`global_shortcut`] is a global shortcut.
impl From<ShortcutIn> for Inbound {
    fn from(value: ShortcutIn) -> Self {
        Inbound::GlobalShortcut(value)
    }
}
