//! One call a bot made, as a test reads it.

use nonstop_model::blocks::{Block, View};
use serde_json::{Map, Value};

/// A Web API call the bot made (with [`TestBot`](super::TestBot): as the simulator received
/// it; with [`TestApp`](super::TestApp): as the outbox would make it), with accessors for
/// what tests look at. A `response_url` post is a call to `response_url` whose
/// [`Call::body`] is what was posted.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `chat.postMessage`, `chat.update`, `reactions.add`, `views.open`, `response_url`, …
    pub method: String,
    /// The arguments, as a JSON object.
    pub args: Map<String, Value>,
    /// For a message post, the `ts` Slack gave the message (to click its buttons, react to
    /// it or reply in its thread); `None` for other calls, or before it was delivered.
    pub posted_ts: Option<String>,
}

impl Call {
    pub(crate) fn new(method: impl Into<String>, args: Map<String, Value>) -> Self {
        Self {
            method: method.into(),
            args,
            posted_ts: None,
        }
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.args.get(key).and_then(Value::as_str)
    }

    /// The message's text (also of a `response_url` post).
    pub fn text(&self) -> Option<&str> {
        self.str("text")
            .or_else(|| self.body()?.get("text")?.as_str())
    }

    pub fn channel(&self) -> Option<&str> {
        self.str("channel")
    }

    /// The thread it went to, if any.
    pub fn thread_ts(&self) -> Option<&str> {
        self.str("thread_ts")
    }

    /// The message it is about: `ts` of `chat.update` and `chat.delete`, `timestamp` of
    /// `reactions.add`.
    pub fn ts(&self) -> Option<&str> {
        self.str("ts").or_else(|| self.str("timestamp"))
    }

    /// The user an ephemeral message is for, or whose Home tab a view is published to.
    pub fn user(&self) -> Option<&str> {
        self.str("user").or_else(|| self.str("user_id"))
    }

    /// The reaction's name, for `reactions.add`.
    pub fn reaction(&self) -> Option<&str> {
        self.str("name")
    }

    /// The blocks of a message (or of a `response_url` post), typed; kinds nonstop does not
    /// know are kept as `Unknown`. Empty when there are none or they do not read.
    pub fn blocks(&self) -> Vec<Block> {
        let blocks = self
            .args
            .get("blocks")
            .or_else(|| self.body()?.get("blocks"));
        match blocks {
            Some(Value::String(text)) => serde_json::from_str(text).unwrap_or_default(),
            Some(value) => serde_json::from_value(value.clone()).unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// The view of `views.open`, `views.push`, `views.update` or `views.publish`, typed.
    pub fn view(&self) -> Option<View> {
        match self.args.get("view")? {
            Value::String(text) => serde_json::from_str(text).ok(),
            value => serde_json::from_value(value.clone()).ok(),
        }
    }

    /// What was posted to a `response_url`.
    pub fn body(&self) -> Option<&Value> {
        self.args.get("body")
    }

    /// Whether this is a message post (`chat.postMessage`).
    pub fn is_post(&self) -> bool {
        self.method == "chat.postMessage"
    }
}
