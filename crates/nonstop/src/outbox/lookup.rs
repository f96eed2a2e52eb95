//! Finding a message the bot may have posted already: by the outbox key in its metadata, in
//! the channel's history (or the thread's replies) since shortly before it was written.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop_web::{WebClient, WebError};
use serde_json::{json, Map, Value};

use super::METADATA_KEY;
use crate::identity::BotIdentity;

/// How to know a message sent over an RTM socket, which carries no metadata: the bot wrote
/// it, with exactly this text, and no other answer has its `ts`.
pub(crate) struct ByText<'a> {
    pub(crate) text: &'a str,
    pub(crate) me: &'a BotIdentity,
    /// `ts` of messages other answers are known to have posted.
    pub(crate) taken: &'a HashSet<String>,
}

impl ByText<'_> {
    fn matches(&self, message: &Value) -> bool {
        let field = |name: &str| message.get(name).and_then(Value::as_str);
        message.get("metadata").is_none()
            && self.me.is_me(field("user"), field("bot_id"))
            && field("text") == Some(self.text)
            && field("ts").is_some_and(|ts| !self.taken.contains(ts))
    }
}

/// History is read from this long before the answer was written: clocks differ.
const CLOCK_SLACK: Duration = Duration::from_secs(120);
/// Messages per history page (Slack recommends at most 200).
const PAGE: u32 = 200;
/// Pages read at most: 20,000 messages since the answer was written.
const MAX_PAGES: usize = 100;

/// Adds the answer's key to the message's metadata in `args`: to the caller's own metadata
/// when it has some, else as metadata of our own.
pub(crate) fn add_key(args: &mut Map<String, Value>, key: &str) {
    // Metadata may come as an object or, form style, as JSON text.
    let mut metadata = match args.remove("metadata") {
        Some(Value::String(text)) => serde_json::from_str(&text).unwrap_or(Value::Null),
        Some(other) => other,
        None => Value::Null,
    };
    match metadata
        .get_mut("event_payload")
        .and_then(Value::as_object_mut)
    {
        Some(payload) => {
            payload.insert(METADATA_KEY.to_owned(), key.into());
        }
        None => {
            metadata = json!({"event_type": METADATA_KEY, "event_payload": {METADATA_KEY: key}});
        }
    }
    args.insert("metadata".to_owned(), metadata);
}

/// Slack's `ts` form of a moment: seconds and microseconds.
fn slack_ts(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", since.as_secs(), since.subsec_micros())
}

/// The message `args` would post whose metadata names `key` (or, with `by_text`, sent over
/// RTM and known by its text), posted after `written`; its `channel` and `ts` when found.
pub(crate) async fn find_posted(
    web: &WebClient,
    args: &Value,
    key: &str,
    written: SystemTime,
    by_text: Option<&ByText<'_>>,
) -> Result<Option<Value>, WebError> {
    let Some(channel) = args.get("channel").and_then(Value::as_str) else {
        return Ok(None);
    };
    let thread = args
        .get("thread_ts")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let oldest = slack_ts(written.checked_sub(CLOCK_SLACK).unwrap_or(UNIX_EPOCH));
    let mut query = json!({
        "channel": channel,
        "oldest": oldest,
        "include_all_metadata": true,
        "limit": PAGE,
    });
    // Replies in a thread are not in the channel's history, only in the thread's.
    let method = match thread {
        Some(parent) => {
            query["ts"] = parent.into();
            "conversations.replies"
        }
        None => "conversations.history",
    };
    for _ in 0..MAX_PAGES {
        let page = web.call(method, &query).await?;
        let messages = page.get("messages").and_then(Value::as_array);
        for message in messages.into_iter().flatten() {
            let named = message
                .pointer(&format!("/metadata/event_payload/{METADATA_KEY}"))
                .and_then(Value::as_str);
            if named == Some(key) || by_text.is_some_and(|b| b.matches(message)) {
                let ts = message.get("ts").cloned().unwrap_or(Value::Null);
                return Ok(Some(json!({"channel": channel, "ts": ts})));
            }
        }
        let next = page
            .pointer("/response_metadata/next_cursor")
            .and_then(Value::as_str)
            .filter(|c| !c.is_empty());
        match next {
            Some(cursor) => query["cursor"] = cursor.into(),
            None => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(args: &Value, key: &str) -> Value {
        let mut map = args.as_object().cloned().unwrap_or_default();
        add_key(&mut map, key);
        Value::Object(map)
    }

    #[test]
    fn the_key_goes_into_the_callers_metadata_or_our_own() {
        let plain = with_key(&json!({"channel": "C1", "text": "hi"}), "Ev1#0");
        assert_eq!(
            plain["metadata"],
            json!({"event_type": "nonstop_outbox", "event_payload": {"nonstop_outbox": "Ev1#0"}})
        );
        let theirs = json!({"channel": "C1", "metadata": {"event_type": "deploy", "event_payload": {"app": "web"}}});
        let mixed = with_key(&theirs, "Ev1#1");
        assert_eq!(mixed["metadata"]["event_type"], "deploy");
        assert_eq!(mixed["metadata"]["event_payload"]["app"], "web");
        assert_eq!(
            mixed["metadata"]["event_payload"]["nonstop_outbox"],
            "Ev1#1"
        );
        let as_text =
            json!({"channel": "C1", "metadata": r#"{"event_type":"x","event_payload":{}}"#});
        assert_eq!(
            with_key(&as_text, "k")["metadata"]["event_payload"]["nonstop_outbox"],
            "k"
        );
    }

    #[test]
    fn a_message_sent_over_rtm_is_known_by_author_text_and_a_ts_no_other_answer_has() {
        let me = BotIdentity {
            user_id: Some("UBOT".into()),
            bot_id: Some("BBOT".into()),
            team_id: None,
        };
        let taken: HashSet<String> = ["1.0".to_owned()].into();
        let by_text = ByText {
            text: "pong",
            me: &me,
            taken: &taken,
        };
        assert!(by_text.matches(&json!({"user": "UBOT", "text": "pong", "ts": "2.0"})));
        assert!(by_text.matches(&json!({"bot_id": "BBOT", "text": "pong", "ts": "2.0"})));
        // Another answer's message, someone else's, another text, one posted with metadata.
        assert!(!by_text.matches(&json!({"user": "UBOT", "text": "pong", "ts": "1.0"})));
        assert!(!by_text.matches(&json!({"user": "U1", "text": "pong", "ts": "2.0"})));
        assert!(!by_text.matches(&json!({"user": "UBOT", "text": "ping", "ts": "2.0"})));
        let posted =
            json!({"user": "UBOT", "text": "pong", "ts": "2.0", "metadata": {"event_type": "x"}});
        assert!(!by_text.matches(&posted));
    }

    #[test]
    fn moments_read_as_slack_timestamps() {
        let at = UNIX_EPOCH + Duration::from_micros(1_700_000_000_000_042);
        assert_eq!(slack_ts(at), "1700000000.000042");
    }
}
