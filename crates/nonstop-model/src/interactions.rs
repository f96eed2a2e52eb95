//! Slash commands, interactions (`block_actions`, `view_submission`, `view_closed`,
//! shortcuts, `block_suggestion`) and the typed events bots use most.
//!
//! Each type names the fields a bot routes and answers on and keeps every other field in
//! `extra`, so nothing Slack sends is lost and a new field never breaks parsing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `{"id": …, "name"/"domain"/"username": …}` objects that interactions use for the team,
/// user and channel.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Ref {
    #[serde(default)]
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
}

/// A slash command (`slash_commands` envelope; a form post over HTTP).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct SlashCommand {
    /// With its slash: `/ticket`.
    pub command: String,
    /// Everything the user typed after the command.
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    #[serde(default)]
    pub channel_id: String,
    #[serde(default)]
    pub channel_name: Option<String>,
    #[serde(default)]
    pub team_id: String,
    #[serde(default)]
    pub team_domain: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    #[serde(default)]
    pub api_app_id: Option<String>,
    /// For later replies (about 5 within 30 min).
    #[serde(default)]
    pub response_url: Option<String>,
    /// Opens a modal within 3 s.
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// One element the user acted on in a `block_actions` interaction.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Action {
    #[serde(default)]
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    /// `button`, `static_select`, …
    #[serde(rename = "type", default)]
    pub kind: String,
    /// A button's value.
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub selected_option: Option<Value>,
    #[serde(default)]
    pub action_ts: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The kind of element an action came from, as a type: `Action::element`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElementKind {
    Button,
    Overflow,
    StaticSelect,
    MultiStaticSelect,
    ExternalSelect,
    MultiExternalSelect,
    UsersSelect,
    MultiUsersSelect,
    ConversationsSelect,
    MultiConversationsSelect,
    ChannelsSelect,
    MultiChannelsSelect,
    DatePicker,
    TimePicker,
    Checkboxes,
    RadioButtons,
    PlainTextInput,
    /// An agent answer's thumbs up or down: the action's value is the clicked button's.
    FeedbackButtons,
    /// A kind this version has no name for: its `type` as sent.
    Other(String),
}

impl ElementKind {
    fn of(kind: &str) -> Self {
        match kind {
            "button" => Self::Button,
            "overflow" => Self::Overflow,
            "static_select" => Self::StaticSelect,
            "multi_static_select" => Self::MultiStaticSelect,
            "external_select" => Self::ExternalSelect,
            "multi_external_select" => Self::MultiExternalSelect,
            "users_select" => Self::UsersSelect,
            "multi_users_select" => Self::MultiUsersSelect,
            "conversations_select" => Self::ConversationsSelect,
            "multi_conversations_select" => Self::MultiConversationsSelect,
            "channels_select" => Self::ChannelsSelect,
            "multi_channels_select" => Self::MultiChannelsSelect,
            "datepicker" => Self::DatePicker,
            "timepicker" => Self::TimePicker,
            "checkboxes" => Self::Checkboxes,
            "radio_buttons" => Self::RadioButtons,
            "plain_text_input" => Self::PlainTextInput,
            "feedback_buttons" => Self::FeedbackButtons,
            other => Self::Other(other.to_owned()),
        }
    }
}

/// What the user picked or typed, from an action or an input's state, whatever the element:
/// a button's value, the chosen options' values, user, conversation or channel ids, a date
/// (`YYYY-MM-DD`), a time (`HH:mm`) or the text typed.
fn picked(element: &Map<String, Value>) -> Vec<&str> {
    let text = |key: &str| element.get(key).and_then(Value::as_str);
    let list = |key: &str| -> Vec<&str> {
        element
            .get(key)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("value").and_then(Value::as_str).or(item.as_str()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(option) = element.get("selected_option").and_then(|o| o.get("value")) {
        return option.as_str().into_iter().collect();
    }
    for many in [
        "selected_options",
        "selected_users",
        "selected_conversations",
        "selected_channels",
    ] {
        if element.contains_key(many) {
            return list(many);
        }
    }
    [
        "value",
        "selected_user",
        "selected_conversation",
        "selected_channel",
        "selected_date",
        "selected_time",
    ]
    .into_iter()
    .find_map(text)
    .into_iter()
    .collect()
}

impl Action {
    /// The kind of element it came from.
    pub fn element(&self) -> ElementKind {
        ElementKind::of(&self.kind)
    }

    /// What the user picked: a button's value, the chosen options' values, the user,
    /// conversation or channel ids, the date or time; empty when nothing is picked.
    pub fn selected(&self) -> Vec<&str> {
        let option = self.selected_option.as_ref().and_then(|o| o.get("value"));
        if let Some(value) = option.and_then(Value::as_str) {
            return vec![value];
        }
        let picked = picked(&self.extra);
        if !picked.is_empty() {
            return picked;
        }
        self.value.as_deref().into_iter().collect()
    }
}

/// A modal or App Home view, as interactions carry it.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct View {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub callback_id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    /// What the user entered, by block id and action id.
    #[serde(default)]
    pub state: Value,
    #[serde(default)]
    pub private_metadata: Option<String>,
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl View {
    /// The value the user entered in the input whose block is `block_id` and element is
    /// `action_id` (plain text inputs; selects give `selected_option.value`).
    pub fn input(&self, block_id: &str, action_id: &str) -> Option<&str> {
        let element = self.state.get("values")?.get(block_id)?.get(action_id)?;
        element
            .get("value")
            .and_then(Value::as_str)
            .or_else(|| element.get("selected_option")?.get("value")?.as_str())
    }

    /// Everything picked in the input `block_id`/`action_id`, whatever the element: the
    /// options of a multi-select or checkboxes, users, conversations, channels, a date or a
    /// time, or the text typed; empty when nothing is.
    pub fn selected(&self, block_id: &str, action_id: &str) -> Vec<&str> {
        let element = self
            .state
            .get("values")
            .and_then(|values| values.get(block_id)?.get(action_id)?.as_object());
        element.map(picked).unwrap_or_default()
    }
}

impl BlockActions {
    /// The channel of the message holding the element (none for an element in a view).
    pub fn channel_id(&self) -> Option<&str> {
        self.container
            .get("channel_id")
            .and_then(Value::as_str)
            .or_else(|| self.channel.as_ref().map(|c| c.id.as_str()))
            .filter(|id| !id.is_empty())
    }

    /// The `ts` of the message holding the element: what `ctx.update` replaces.
    pub fn message_ts(&self) -> Option<&str> {
        self.container
            .get("message_ts")
            .and_then(Value::as_str)
            .or_else(|| self.message.as_ref()?.get("ts")?.as_str())
    }
}

/// A `block_actions` interaction: buttons, selects and other interactive elements.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct BlockActions {
    #[serde(default)]
    pub team: Option<Ref>,
    #[serde(default)]
    pub user: Ref,
    #[serde(default)]
    pub channel: Option<Ref>,
    /// Where the element sits: a message, a view, …
    #[serde(default)]
    pub container: Value,
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(default)]
    pub response_url: Option<String>,
    /// The message holding the element, when it is in a message.
    #[serde(default)]
    pub message: Option<Value>,
    /// The view holding the element, when it is in a modal or App Home.
    #[serde(default)]
    pub view: Option<View>,
    #[serde(default)]
    pub actions: Vec<Action>,
    #[serde(default)]
    pub state: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What a `block_actions` listener gets: the action it was registered for, and the whole
/// interaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BlockAction {
    pub action: Action,
    pub body: BlockActions,
}

/// A `view_submission` (the user pressed Submit) or `view_closed` (the user closed a modal
/// whose view asked `notify_on_close`).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ViewPayload {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub team: Option<Ref>,
    #[serde(default)]
    pub user: Ref,
    pub view: View,
    #[serde(default)]
    pub trigger_id: Option<String>,
    /// `view_closed`: true when the whole stack of views was closed.
    #[serde(default)]
    pub is_cleared: Option<bool>,
    #[serde(default)]
    pub response_urls: Vec<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A global `shortcut` or a `message_action` (message shortcut).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Shortcut {
    #[serde(rename = "type", default)]
    pub kind: String,
    pub callback_id: String,
    #[serde(default)]
    pub trigger_id: Option<String>,
    #[serde(default)]
    pub team: Option<Ref>,
    #[serde(default)]
    pub user: Ref,
    /// Message shortcuts: where and on what.
    #[serde(default)]
    pub channel: Option<Ref>,
    #[serde(default)]
    pub message: Option<Value>,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A `block_suggestion`: an external select asks for options matching what the user typed.
/// Answer with `{"options": […]}` in the ack.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct OptionsRequest {
    #[serde(default)]
    pub action_id: String,
    #[serde(default)]
    pub block_id: Option<String>,
    /// What the user typed so far.
    #[serde(default)]
    pub value: String,
    #[serde(default)]
    pub team: Option<Ref>,
    #[serde(default)]
    pub user: Ref,
    #[serde(default)]
    pub view: Option<View>,
    #[serde(default)]
    pub container: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Which message an event is about: `reaction_added` and friends.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ItemRef {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `reaction_added` / `reaction_removed`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct ReactionEvent {
    #[serde(default)]
    pub user: String,
    /// Without colons: `thumbsup`.
    #[serde(default)]
    pub reaction: String,
    #[serde(default)]
    pub item_user: Option<String>,
    #[serde(default)]
    pub item: ItemRef,
    #[serde(default)]
    pub event_ts: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `member_joined_channel`. `inviter` is missing when the user joined by themselves.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct MemberJoinedChannel {
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub channel: String,
    /// `C` or `G`.
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub inviter: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn view_inputs_read_text_and_selects() {
        let view: View = serde_json::from_value(serde_json::json!({
            "id": "V1", "callback_id": "ticket",
            "state": {"values": {
                "title": {"title_input": {"type": "plain_text_input", "value": "Printer on fire"}},
                "urgency": {"pick": {"type": "static_select", "selected_option": {"value": "high"}}}
            }}
        }))
        .unwrap();
        assert_eq!(view.input("title", "title_input"), Some("Printer on fire"));
        assert_eq!(view.input("urgency", "pick"), Some("high"));
        assert_eq!(view.input("nope", "x"), None);
    }

    #[test]
    fn actions_and_view_states_give_what_was_picked_whatever_the_element() {
        let body: BlockActions = serde_json::from_value(serde_json::json!({
            "user": {"id": "U1"},
            "container": {"type": "message", "message_ts": "12.34", "channel_id": "C9"},
            "actions": [
                {"type": "button", "action_id": "go", "value": "1.4"},
                {"type": "multi_users_select", "action_id": "who", "selected_users": ["U1", "U2"]},
                {"type": "static_select", "action_id": "pick", "selected_option": {"value": "high"}},
                {"type": "datepicker", "action_id": "when", "selected_date": "2026-12-07"},
                {"type": "rating_stars", "action_id": "new"}
            ],
            "view": {"state": {"values": {"b": {
                "boxes": {"type": "checkboxes", "selected_options": [{"value": "a"}, {"value": "c"}]},
                "text": {"type": "plain_text_input", "value": "hello"}
            }}}}
        }))
        .unwrap();
        assert_eq!(
            (body.channel_id(), body.message_ts()),
            (Some("C9"), Some("12.34"))
        );
        let picked: Vec<(ElementKind, Vec<&str>)> = body
            .actions
            .iter()
            .map(|a| (a.element(), a.selected()))
            .collect();
        assert_eq!(
            picked,
            vec![
                (ElementKind::Button, vec!["1.4"]),
                (ElementKind::MultiUsersSelect, vec!["U1", "U2"]),
                (ElementKind::StaticSelect, vec!["high"]),
                (ElementKind::DatePicker, vec!["2026-12-07"]),
                (ElementKind::Other("rating_stars".to_owned()), vec![]),
            ]
        );
        let view = body.view.unwrap();
        assert_eq!(view.selected("b", "boxes"), vec!["a", "c"]);
        assert_eq!(view.selected("b", "text"), vec!["hello"]);
        assert!(view.selected("b", "none").is_empty());
    }
}
