//! The one way an answer reaches a socket: a [`SocketRoute`] the app injects (RTM's sender
//! today). The outbox knows no transport; it offers the plain messages such a route can
//! carry and learns from the route whether each landed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde_json::{Map, Value};

/// Slack asks RTM clients to keep a message's text to 4,000 characters.
pub(crate) const MAX_TEXT_CHARS: usize = 4000;
/// A message RTM can carry: plain text, in a channel or a thread, nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlainMessage {
    pub(crate) channel: String,
    pub(crate) text: String,
    pub(crate) thread_ts: Option<String>,
}

impl PlainMessage {
    /// The message `chat.postMessage` arguments describe, when RTM can carry it: a channel,
    /// a non-empty text of at most 4,000 characters, optionally a thread, and no other
    /// argument (blocks, attachments, metadata, `reply_broadcast`, … need the Web API).
    /// `unfurl_links`/`unfurl_media` set to false (the built-in `ping` sets both) are no
    /// obstacle when the text holds no dot, so no link that could unfurl.
    pub(crate) fn from_args(args: &Map<String, Value>) -> Option<Self> {
        let mut channel = None;
        let mut text = None;
        let mut thread_ts = None;
        let mut no_unfurl = false;
        for (name, value) in args {
            match (name.as_str(), value) {
                ("channel", Value::String(c)) if !c.is_empty() => channel = Some(c.clone()),
                ("text", Value::String(t)) if !t.is_empty() => text = Some(t.clone()),
                ("thread_ts", Value::String(t)) if !t.is_empty() => thread_ts = Some(t.clone()),
                ("thread_ts", Value::Null) => {}
                ("unfurl_links" | "unfurl_media", Value::Bool(false)) => no_unfurl = true,
                _ => return None,
            }
        }
        let text = text.filter(|t| t.chars().count() <= MAX_TEXT_CHARS)?;
        // RTM cannot say "don't unfurl"; a text without a dot has nothing to unfurl.
        if no_unfurl && text.contains('.') {
            return None;
        }
        Some(Self {
            channel: channel?,
            text,
            thread_ts,
        })
    }
}

/// Why a message did not go over the socket, or went and was not confirmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SocketSendError {
    #[error("no RTM socket is live")]
    NoSocket,
    #[error("RTM allows one message a second; the next may go in {wait:?}")]
    Paced { wait: Duration },
    #[error("the frame would be {bytes} bytes; RTM disconnects a client that sends over 16 KB")]
    TooLarge { bytes: usize },
    #[error("the socket's writer is busy or gone")]
    SocketBusy,
    #[error("Slack refused the message over RTM (code {code}: {msg})")]
    Refused { code: i64, msg: String },
    #[error("no confirmation within {waited:?}: the socket died or the reply was lost; the message may or may not have landed")]
    Unconfirmed { waited: Duration },
}

impl SocketSendError {
    /// True when the message certainly did not land: it never left, or Slack refused it.
    pub(crate) fn not_posted(&self) -> bool {
        !matches!(self, Self::Unconfirmed { .. })
    }
}

/// Where plain-text answers go before the Web API: sends one message and waits for Slack to
/// confirm it. Sending never waits for room: no live socket, no room in the socket's pace or
/// a message too large is an error at once, and the outbox posts with `chat.postMessage`.
pub(crate) trait SocketRoute: Send + Sync + 'static {
    /// Sends `message`; its `ts` once Slack confirmed it.
    fn send<'a>(
        &'a self,
        message: &'a PlainMessage,
    ) -> Pin<Box<dyn Future<Output = Result<String, SocketSendError>> + Send + 'a>>;

    /// The `ts` of messages confirmed lately (a lookup by text skips them: they are other
    /// answers' messages).
    fn confirmed(&self) -> Vec<String>;
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn plain(channel: &str, text: &str) -> PlainMessage {
        PlainMessage {
            channel: channel.into(),
            text: text.into(),
            thread_ts: None,
        }
    }

    fn args(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap()
    }

    #[test]
    fn only_plain_text_goes_over_rtm() {
        let ok = PlainMessage::from_args(&args(json!({"channel": "C1", "text": "hi"})));
        assert_eq!(ok, Some(plain("C1", "hi")));
        let thread = PlainMessage::from_args(&args(
            json!({"channel": "C1", "text": "hi", "thread_ts": "1.2"}),
        ));
        assert_eq!(thread.unwrap().thread_ts.as_deref(), Some("1.2"));
        for rich in [
            json!({"channel": "C1", "text": "hi", "blocks": []}),
            json!({"channel": "C1", "text": "hi", "reply_broadcast": true}),
            json!({"channel": "C1", "text": "hi", "metadata": {}}),
            json!({"channel": "C1", "text": ""}),
            json!({"text": "hi"}),
            json!({"channel": "C1", "text": "x".repeat(MAX_TEXT_CHARS + 1)}),
        ] {
            assert_eq!(PlainMessage::from_args(&args(rich.clone())), None, "{rich}");
        }
        let pong = json!({"channel": "C1", "text": "pong 42", "unfurl_links": false, "unfurl_media": false});
        assert!(PlainMessage::from_args(&args(pong)).is_some());
        let link = json!({"channel": "C1", "text": "pong example.com", "unfurl_links": false});
        assert_eq!(PlainMessage::from_args(&args(link)), None);
        let unfurl = json!({"channel": "C1", "text": "pong", "unfurl_links": true});
        assert_eq!(PlainMessage::from_args(&args(unfurl)), None);
        let longest = "é".repeat(MAX_TEXT_CHARS);
        assert!(
            PlainMessage::from_args(&args(json!({"channel": "C1", "text": longest}))).is_some()
        );
    }
}
