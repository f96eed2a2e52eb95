//! Events API payloads: the `event_callback` wrapper and the events the runtime reads itself.
//!
//! Handlers that want other event types read the raw JSON; only fields the runtime needs are
//! typed here, and all of them are optional because Slack's shapes vary by subtype.

use serde::{Deserialize, Serialize};

/// The outer object of an `events_api` envelope's payload (and of an HTTP Events API post).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EventCallback {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub api_app_id: Option<String>,
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(default)]
    pub event_time: Option<i64>,
    /// The inner event, kept whole so that no field is lost.
    #[serde(default)]
    pub event: serde_json::Value,
    /// Every other field (`authorizations`, `event_context`, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl EventCallback {
    /// The inner event's `type`, e.g. `message` or `app_mention`.
    pub fn event_type(&self) -> Option<&str> {
        self.event.get("type").and_then(|t| t.as_str())
    }
}

/// A `message` or `app_mention` event, with the fields a bot routes on.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct MessageEvent {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub subtype: Option<String>,
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub channel_type: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    #[serde(default)]
    pub thread_ts: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    /// Every other field (`blocks`, `edited`, `files`, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl MessageEvent {
    /// Where a reply belongs: the thread when the message came in one.
    pub fn reply_thread(&self) -> Option<&str> {
        self.thread_ts.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_callback_keeps_unknown_fields_of_the_event() {
        let cb: EventCallback = serde_json::from_str(
            r#"{"type":"event_callback","team_id":"T1","event_id":"Ev1","event_time":1,
                "event":{"type":"message","channel":"C1","text":"hi","new_field":{"x":1}},
                "authorizations":[{"team_id":"T1","user_id":"U9","is_bot":true}]}"#,
        )
        .unwrap();
        assert_eq!(cb.event_type(), Some("message"));
        assert_eq!(cb.event["new_field"]["x"], 1);
        let msg: MessageEvent = serde_json::from_value(cb.event).unwrap();
        assert_eq!(msg.channel.as_deref(), Some("C1"));
        assert_eq!(msg.text.as_deref(), Some("hi"));
    }
}
