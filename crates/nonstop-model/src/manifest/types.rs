//! The manifest's fields, as Slack names them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An app manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    #[serde(rename = "_metadata", default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    pub display_information: DisplayInformation,
    #[serde(default, skip_serializing_if = "Features::is_empty")]
    pub features: Features,
    #[serde(default)]
    pub oauth_config: OauthConfig,
    #[serde(default)]
    pub settings: Settings,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How the app shows itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DisplayInformation {
    /// 1 to 35 characters.
    pub name: String,
    /// At most 140 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `#` and 3 or 6 hex digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    /// 175 to 4,000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_description: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What the app has: a bot user, the Home tab, commands, shortcuts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Features {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_home: Option<AppHome>,
    /// Declares an agent (Slack's "Agents & AI apps"): its thread UI, the
    /// `assistant_thread_*` events and the `assistant:write` scope need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assistant_view: Option<AssistantView>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_user: Option<BotUser>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shortcuts: Vec<ShortcutEntry>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slash_commands: Vec<SlashCommandEntry>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Features {
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// An agent's entry in Slack: what it says it does.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AssistantView {
    pub assistant_description: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AppHome {
    #[serde(default)]
    pub home_tab_enabled: bool,
    #[serde(default)]
    pub messages_tab_enabled: bool,
    #[serde(default)]
    pub messages_tab_read_only_enabled: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BotUser {
    /// 1 to 80 characters.
    pub display_name: String,
    #[serde(default)]
    pub always_online: bool,
}

/// A global shortcut (the lightning menu) or a message shortcut (a message's menu).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShortcutEntry {
    /// 1 to 24 characters.
    pub name: String,
    /// `global` or `message`.
    #[serde(rename = "type")]
    pub kind: String,
    pub callback_id: String,
    /// 1 to 150 characters.
    pub description: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SlashCommandEntry {
    /// `/` and at most 31 more characters.
    pub command: String,
    /// 1 to 2,000 characters.
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_hint: Option<String>,
    #[serde(default)]
    pub should_escape: bool,
    /// Where Slack POSTs the command (HTTP apps; none with Socket Mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OauthConfig {
    #[serde(default)]
    pub scopes: Scopes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_urls: Vec<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scopes {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bot: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_subscriptions: Option<EventSubscriptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interactivity: Option<Interactivity>,
    #[serde(default)]
    pub org_deploy_enabled: bool,
    #[serde(default)]
    pub socket_mode_enabled: bool,
    #[serde(default)]
    pub token_rotation_enabled: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EventSubscriptions {
    /// Where Slack POSTs events (HTTP apps; none with Socket Mode).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bot_events: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user_events: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Interactivity {
    pub is_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_menu_options_url: Option<String>,
}
