//! What blocks are shown in: a message, a modal, the Home tab.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::block::Block;
use super::limit_error::LimitError;
use super::open_enum::open_enum;
use super::text::PlainText;

/// A message's content: its text (the notification, and what shows where blocks cannot),
/// and its blocks.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Message {
    /// A message of `text` (add blocks with [`Message::block`]).
    pub fn new(text: impl Into<String>) -> Self {
        Message {
            text: Some(text.into()),
            ..Message::default()
        }
    }

    pub fn block(mut self, block: impl Into<Block>) -> Self {
        self.blocks.push(block.into());
        self
    }

    pub fn blocks(mut self, blocks: impl IntoIterator<Item = impl Into<Block>>) -> Self {
        self.blocks.extend(blocks.into_iter().map(Into::into));
        self
    }

    /// Checks it against Slack's documented limits: the message, or the first field past its
    /// limit.
    pub fn build(self) -> Result<Self, LimitError> {
        self.check()?;
        Ok(self)
    }
}

/// Plain text is a message: `ctx.say("done")`.
impl From<&str> for Message {
    fn from(text: &str) -> Self {
        Message::new(text)
    }
}

impl From<String> for Message {
    fn from(text: String) -> Self {
        Message::new(text)
    }
}

impl From<&String> for Message {
    fn from(text: &String) -> Self {
        Message::new(text.as_str())
    }
}

/// A modal: a title, blocks, and the buttons that submit or close it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Modal {
    pub title: PlainText,
    pub blocks: Vec<Block>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit: Option<PlainText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close: Option<PlainText>,
    /// Comes back with the `view_submission`: what the bot needs to act on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    /// Text the bot gets back with every interaction of the view (at most 3,000 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clear_on_close: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_on_close: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_disabled: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Modal {
    /// A modal titled `title` (at most 24 characters).
    pub fn new(title: impl Into<PlainText>) -> Self {
        Modal {
            title: title.into(),
            ..Modal::default()
        }
    }

    pub fn block(mut self, block: impl Into<Block>) -> Self {
        self.blocks.push(block.into());
        self
    }

    pub fn submit(mut self, submit: impl Into<PlainText>) -> Self {
        self.submit = Some(submit.into());
        self
    }

    pub fn close(mut self, close: impl Into<PlainText>) -> Self {
        self.close = Some(close.into());
        self
    }

    pub fn callback_id(mut self, callback_id: impl Into<String>) -> Self {
        self.callback_id = Some(callback_id.into());
        self
    }

    pub fn private_metadata(mut self, metadata: impl Into<String>) -> Self {
        self.private_metadata = Some(metadata.into());
        self
    }

    /// Checks it against Slack's documented limits.
    pub fn build(self) -> Result<View, LimitError> {
        let view = View::Modal(self);
        view.check()?;
        Ok(view)
    }
}

/// The app's Home tab.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Home {
    pub blocks: Vec<Block>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_metadata: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Home {
    pub fn new() -> Self {
        Home::default()
    }

    pub fn block(mut self, block: impl Into<Block>) -> Self {
        self.blocks.push(block.into());
        self
    }

    /// Checks it against Slack's documented limits.
    pub fn build(self) -> Result<View, LimitError> {
        let view = View::Home(self);
        view.check()?;
        Ok(view)
    }
}

open_enum! {
    /// A view: what `views.open`, `views.update`, `views.push` and `views.publish` take.
    pub enum View {
        Modal(Modal) = "modal",
        Home(Home) = "home",
    }
}

impl View {
    /// Its blocks, whatever its kind (none for a kind this version does not know).
    pub fn blocks(&self) -> &[Block] {
        match self {
            View::Modal(modal) => &modal.blocks,
            View::Home(home) => &home.blocks,
            View::Unknown(_) => &[],
        }
    }
}
