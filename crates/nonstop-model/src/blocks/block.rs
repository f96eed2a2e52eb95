//! Layout blocks: what messages, modals and the Home tab are made of.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::elements::{
    Accessory, ActionElement, ContextActionElement, ContextElement, InputElement,
};
use super::open_enum::open_enum;
use super::text::{PlainText, Text};

/// Text, up to ten fields beside it, and an accessory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Section {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<Text>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<Text>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accessory: Option<Accessory>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    /// Show the whole text, without "see more".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expand: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Interactive elements in a row.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actions {
    pub elements: Vec<ActionElement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Small text and images.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub elements: Vec<ContextElement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Actions on the message it ends (at most five), such as an agent's feedback buttons.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContextActions {
    pub elements: Vec<ContextActionElement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Divider {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Large bold text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub text: PlainText,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// An image, full width.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Image {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_url: Option<String>,
    /// Instead of a URL: a file uploaded to Slack (`{"id": …}` or `{"url": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slack_file: Option<Value>,
    pub alt_text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<PlainText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A labelled field of a modal (or, with `dispatch_action`, of a message).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Input {
    pub label: PlainText,
    pub element: InputElement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<PlainText>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optional: Option<bool>,
    /// Send a `block_actions` as the user types or picks, not only on submit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch_action: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Standard Markdown, rendered by Slack (messages only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Markdown {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

open_enum! {
    /// One block. Kinds this version has no type for (`rich_text`, `table`, `video`, …) are
    /// [`Block::Unknown`] and go back to Slack as they came.
    pub enum Block {
        Section(Section) = "section",
        Actions(Actions) = "actions",
        Context(Context) = "context",
        Divider(Divider) = "divider",
        Header(Header) = "header",
        Image(Image) = "image",
        Input(Box<Input>) = "input",
        Markdown(Markdown) = "markdown",
        ContextActions(ContextActions) = "context_actions",
    }
}

impl Block {
    /// A section of `mrkdwn` text.
    pub fn section(text: impl Into<String>) -> Section {
        Section {
            text: Some(Text::mrkdwn(text)),
            ..Section::default()
        }
    }

    /// A header of plain text.
    pub fn header(text: impl Into<String>) -> Header {
        Header {
            text: PlainText::new(text),
            ..Header::default()
        }
    }

    pub fn divider() -> Divider {
        Divider::default()
    }

    /// A row of interactive elements.
    pub fn actions(elements: impl IntoIterator<Item = impl Into<ActionElement>>) -> Actions {
        Actions {
            elements: elements.into_iter().map(Into::into).collect(),
            ..Actions::default()
        }
    }

    /// Small text and images.
    pub fn context(elements: impl IntoIterator<Item = impl Into<ContextElement>>) -> Context {
        Context {
            elements: elements.into_iter().map(Into::into).collect(),
            ..Context::default()
        }
    }

    /// Actions on the message, such as [`FeedbackButtons`](super::FeedbackButtons).
    pub fn context_actions(
        elements: impl IntoIterator<Item = impl Into<ContextActionElement>>,
    ) -> ContextActions {
        ContextActions {
            elements: elements.into_iter().map(Into::into).collect(),
            ..ContextActions::default()
        }
    }

    /// A labelled field asking with `element`.
    pub fn input(label: impl Into<PlainText>, element: impl Into<InputElement>) -> Input {
        Input {
            label: label.into(),
            element: element.into(),
            hint: None,
            optional: None,
            dispatch_action: None,
            block_id: None,
            extra: Map::new(),
        }
    }

    /// Its `block_id`, when it has one.
    pub fn block_id(&self) -> Option<&str> {
        match self {
            Block::Section(b) => b.block_id.as_deref(),
            Block::Actions(b) => b.block_id.as_deref(),
            Block::Context(b) => b.block_id.as_deref(),
            Block::Divider(b) => b.block_id.as_deref(),
            Block::Header(b) => b.block_id.as_deref(),
            Block::Image(b) => b.block_id.as_deref(),
            Block::Input(b) => b.block_id.as_deref(),
            Block::Markdown(b) => b.block_id.as_deref(),
            Block::ContextActions(b) => b.block_id.as_deref(),
            Block::Unknown(object) => object.get("block_id").and_then(Value::as_str),
        }
    }
}

impl Section {
    pub fn accessory(mut self, accessory: impl Into<Accessory>) -> Self {
        self.accessory = Some(accessory.into());
        self
    }

    pub fn field(mut self, field: Text) -> Self {
        self.fields.get_or_insert_with(Vec::new).push(field);
        self
    }

    pub fn block_id(mut self, block_id: impl Into<String>) -> Self {
        self.block_id = Some(block_id.into());
        self
    }
}

impl Actions {
    pub fn block_id(mut self, block_id: impl Into<String>) -> Self {
        self.block_id = Some(block_id.into());
        self
    }
}

impl Input {
    pub fn block_id(mut self, block_id: impl Into<String>) -> Self {
        self.block_id = Some(block_id.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<PlainText>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn optional(mut self) -> Self {
        self.optional = Some(true);
        self
    }
}

macro_rules! into_block {
    ($($ty:ident => $variant:ident($wrap:expr)),+ $(,)?) => {
        $(impl From<$ty> for Block {
            fn from(block: $ty) -> Self {
                Block::$variant($wrap(block))
            }
        })+
    };
}

into_block! {
    Section => Section(std::convert::identity),
    Actions => Actions(std::convert::identity),
    Context => Context(std::convert::identity),
    Divider => Divider(std::convert::identity),
    Header => Header(std::convert::identity),
    Image => Image(std::convert::identity),
    Input => Input(Box::new),
    Markdown => Markdown(std::convert::identity),
    ContextActions => ContextActions(std::convert::identity),
}
