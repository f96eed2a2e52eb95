//! Agent threads: the events Slack sends an AI app when a person opens a thread with it or
//! moves to another channel while it is open, and what the app sets in such a thread
//! (suggested prompts).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Where the person was when they opened the thread: the channel they were looking at.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
pub struct ThreadContext {
    #[serde(default)]
    pub channel_id: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub enterprise_id: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The agent thread an event is about.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AgentThread {
    /// Who opened it.
    #[serde(default)]
    pub user_id: String,
    /// The direct message channel between that person and the app.
    #[serde(default)]
    pub channel_id: String,
    pub thread_ts: String,
    #[serde(default)]
    pub context: ThreadContext,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What an agent thread event carries (`assistant_thread_started`,
/// `assistant_thread_context_changed`: the typed events
/// [`crate::AssistantThreadStarted`] and [`crate::AssistantThreadContextChanged`]).
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AgentThreadEvent {
    pub assistant_thread: AgentThread,
    #[serde(default)]
    pub event_ts: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A prompt offered under the composer: `title` is shown, `message` is sent when picked.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct SuggestedPrompt {
    pub title: String,
    pub message: String,
}

impl SuggestedPrompt {
    pub fn new(title: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            message: message.into(),
        }
    }
}

/// Slack shows at most this many suggested prompts.
pub const MAX_SUGGESTED_PROMPTS: usize = 4;

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_thread_started_event_reads_its_thread_and_context() {
        let event: AgentThreadEvent = serde_json::from_value(serde_json::json!({
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": "U1", "channel_id": "D1", "thread_ts": "1729999327.187299",
                "context": {"channel_id": "C9", "team_id": "T1", "enterprise_id": null}
            },
            "event_ts": "1729999327.187299"
        }))
        .unwrap();
        let thread = &event.assistant_thread;
        assert_eq!(
            (thread.user_id.as_str(), thread.channel_id.as_str()),
            ("U1", "D1")
        );
        assert_eq!(thread.context.channel_id.as_deref(), Some("C9"));
        assert_eq!(thread.context.enterprise_id, None);
    }
}
