//! What an ack can answer with: a view submission's response action, a slash command's
//! message, the options of an external select.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::composition::{OptionGroup, SelectOption};
use super::limit_error::LimitError;
use super::surface::{Message, View};

/// The answer to a `view_submission`, in its ack.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ViewResponse {
    /// Keep the modal open and show these errors under the inputs, by `block_id`.
    Errors(BTreeMap<String, String>),
    /// Replace the modal with this view.
    Update(View),
    /// Push this view on top of the modal.
    Push(View),
    /// Close every modal of the stack.
    Clear,
}

impl ViewResponse {
    /// One error under the input `block_id`.
    pub fn error(block_id: impl Into<String>, message: impl Into<String>) -> Self {
        ViewResponse::Errors(BTreeMap::from([(block_id.into(), message.into())]))
    }

    /// The first field past one of Slack's limits in the view it carries, if any.
    pub fn check(&self) -> Result<(), LimitError> {
        match self {
            ViewResponse::Update(view) | ViewResponse::Push(view) => view.check(),
            ViewResponse::Errors(_) | ViewResponse::Clear => Ok(()),
        }
    }
}

impl Serialize for ViewResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = Map::new();
        let (action, field) = match self {
            ViewResponse::Errors(errors) => ("errors", Some(("errors", to_value(errors)))),
            ViewResponse::Update(view) => ("update", Some(("view", to_value(view)))),
            ViewResponse::Push(view) => ("push", Some(("view", to_value(view)))),
            ViewResponse::Clear => ("clear", None),
        };
        object.insert("response_action".to_owned(), action.into());
        if let Some((name, value)) = field {
            object.insert(name.to_owned(), value.map_err(serde::ser::Error::custom)?);
        }
        object.serialize(serializer)
    }
}

fn to_value(value: &impl Serialize) -> Result<Value, serde_json::Error> {
    serde_json::to_value(value)
}

/// A message's fields, to which a response adds its own (`response_type`, …).
fn message_fields(message: &Message) -> Result<Map<String, Value>, serde_json::Error> {
    Ok(match to_value(message)? {
        Value::Object(object) => object,
        _ => Map::new(),
    })
}

/// The answer to a slash command, in its ack: a message only the user sees, or one the
/// whole channel sees.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandResponse {
    pub message: Message,
    pub in_channel: bool,
}

impl CommandResponse {
    /// Seen by the user who ran the command only.
    pub fn ephemeral(message: impl Into<Message>) -> Self {
        CommandResponse {
            message: message.into(),
            in_channel: false,
        }
    }

    /// Seen by everyone in the channel, with the command as the user typed it.
    pub fn in_channel(message: impl Into<Message>) -> Self {
        CommandResponse {
            message: message.into(),
            in_channel: true,
        }
    }
}

impl Serialize for CommandResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = message_fields(&self.message).map_err(serde::ser::Error::custom)?;
        let kind = if self.in_channel {
            "in_channel"
        } else {
            "ephemeral"
        };
        object.insert("response_type".to_owned(), kind.into());
        object.serialize(serializer)
    }
}

/// The options of an external select, in the ack of its `block_suggestion`: a flat list, or
/// groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OptionsResponse {
    Options(Vec<SelectOption>),
    OptionGroups(Vec<OptionGroup>),
}

/// A message posted to an interaction's `response_url`: seen by the user only, by the whole
/// channel, or replacing the message the interaction came from.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseMessage {
    pub message: Message,
    pub in_channel: bool,
    /// Replace the message that holds the element the user acted on.
    pub replace_original: bool,
}

impl ResponseMessage {
    /// Seen by the user who acted only.
    pub fn ephemeral(message: impl Into<Message>) -> Self {
        ResponseMessage {
            message: message.into(),
            in_channel: false,
            replace_original: false,
        }
    }

    /// Seen by everyone in the channel.
    pub fn in_channel(message: impl Into<Message>) -> Self {
        ResponseMessage {
            in_channel: true,
            ..ResponseMessage::ephemeral(message)
        }
    }

    /// Replaces the message the interaction came from (a button's message, say).
    pub fn replacing(message: impl Into<Message>) -> Self {
        ResponseMessage {
            replace_original: true,
            ..ResponseMessage::ephemeral(message)
        }
    }
}

impl Serialize for ResponseMessage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut object = message_fields(&self.message).map_err(serde::ser::Error::custom)?;
        if self.in_channel {
            object.insert("response_type".to_owned(), "in_channel".into());
        }
        if self.replace_original {
            object.insert("replace_original".to_owned(), true.into());
        }
        object.serialize(serializer)
    }
}

/// What `ctx.respond` takes: a typed message, or JSON for a body nonstop has no type for.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResponseBody {
    Message(ResponseMessage),
    Json(Value),
}

impl ResponseBody {
    /// The first field past one of Slack's limits in a typed message, if any.
    pub fn check(&self) -> Result<(), LimitError> {
        match self {
            ResponseBody::Message(response) => response.message.check(),
            ResponseBody::Json(_) => Ok(()),
        }
    }
}

impl Serialize for ResponseBody {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            ResponseBody::Message(response) => response.serialize(serializer),
            ResponseBody::Json(value) => value.serialize(serializer),
        }
    }
}

impl From<ResponseMessage> for ResponseBody {
    fn from(response: ResponseMessage) -> Self {
        ResponseBody::Message(response)
    }
}

impl From<&Value> for ResponseBody {
    fn from(value: &Value) -> Self {
        ResponseBody::Json(value.clone())
    }
}

impl From<Value> for ResponseBody {
    fn from(value: Value) -> Self {
        ResponseBody::Json(value)
    }
}

/// Plain text: seen by the user who acted only.
impl From<String> for ResponseBody {
    fn from(text: String) -> Self {
        ResponseBody::Message(ResponseMessage::ephemeral(text))
    }
}

/// Plain text: seen by the user who acted only.
impl From<&str> for ResponseBody {
    fn from(text: &str) -> Self {
        ResponseBody::Message(ResponseMessage::ephemeral(text))
    }
}
