//! Composition objects: options of selects and choices, their groups, and confirmation
//! dialogs.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::text::{PlainText, Text};

/// How a button (or a confirmation's confirm button) looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// Green: the one action a message is about.
    Primary,
    /// Red: for what cannot be undone.
    Danger,
}

/// One option of a select, an overflow menu, checkboxes or radio buttons.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SelectOption {
    /// Plain text in selects and overflow menus; checkboxes and radio buttons also take
    /// `mrkdwn`.
    pub text: Text,
    /// What the bot gets back when this option is chosen.
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<Text>,
    /// Overflow menus only: a link the option opens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Default for Text {
    fn default() -> Self {
        Text::plain("")
    }
}

impl SelectOption {
    /// An option showing `text` that gives back `value`.
    pub fn new(text: impl Into<String>, value: impl Into<String>) -> Self {
        SelectOption {
            text: Text::plain(text),
            value: value.into(),
            ..SelectOption::default()
        }
    }

    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(Text::plain(description));
        self
    }
}

/// Options of a select under a label.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OptionGroup {
    pub label: PlainText,
    pub options: Vec<SelectOption>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl OptionGroup {
    pub fn new(label: impl Into<PlainText>, options: Vec<SelectOption>) -> Self {
        OptionGroup {
            label: label.into(),
            options,
            extra: Map::new(),
        }
    }
}

/// A dialog Slack shows before an action goes through ("Are you sure?").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Confirm {
    pub title: PlainText,
    pub text: Text,
    pub confirm: PlainText,
    pub deny: PlainText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub style: Option<Style>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Confirm {
    pub fn new(
        title: impl Into<PlainText>,
        text: impl Into<String>,
        confirm: impl Into<PlainText>,
        deny: impl Into<PlainText>,
    ) -> Self {
        Confirm {
            title: title.into(),
            text: Text::plain(text),
            confirm: confirm.into(),
            deny: deny.into(),
            style: None,
            extra: Map::new(),
        }
    }
}
