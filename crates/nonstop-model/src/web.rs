//! Web API request and response shapes that the runtime and the simulator share.
//!
//! Requests carry the arguments bots set most; anything else goes in `extra`, which is sent
//! as is. Responses type the fields bots read and keep the rest in `extra`, so a field Slack
//! adds tomorrow is still there for whoever needs it.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The fields every Web API response carries.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ApiStatus {
    pub ok: bool,
    /// Machine-readable code when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Codes for problems with a call that still succeeded (comma-separated when several).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_metadata: Option<ResponseMetadata>,
}

/// `response_metadata`: the next page's cursor, and Slack's notes about the call.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ResponseMetadata {
    /// Empty or missing when there is no next page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// e.g. `"[ERROR] invalid_keys"` on a `chat.postMessage` with bad blocks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub messages: Vec<String>,
}

impl ResponseMetadata {
    /// The cursor for the next page, when there is one.
    pub fn next_cursor(&self) -> Option<&str> {
        self.next_cursor.as_deref().filter(|c| !c.is_empty())
    }
}

/// `apps.connections.open`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ConnectionsOpen {
    pub url: String,
}

/// `rtm.connect` (and the short answer `rtm.start` gives today): a single-use socket URL,
/// valid for 30 s, and who the bot is.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RtmConnect {
    pub url: String,
    #[serde(rename = "self", default)]
    pub me: RtmSelf,
    #[serde(default)]
    pub team: RtmTeam,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RtmSelf {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub name: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RtmTeam {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub domain: String,
}

/// `auth.test`: who the token belongs to. `user_id` and `bot_id` let a bot ignore itself.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthTest {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub team: Option<String>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub bot_id: Option<String>,
}

/// `chat.postMessage`, `chat.update`, `chat.delete`: where the message is.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PostMessage {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
    /// The message as Slack stored it.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub message: Value,
}

/// The body of a `chat.postMessage` call. Build it with [`PostMessageRequest::text`] and the
/// `with_*` methods, or fill the fields.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PostMessageRequest {
    pub channel: String,
    /// Also the notification fallback when `blocks` are given.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    /// Block Kit blocks, as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    /// Also show a thread reply in the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_broadcast: Option<bool>,
    /// Any other argument (`unfurl_links`, `metadata`, `attachments`, …), sent as is.
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

impl PostMessageRequest {
    /// A plain text message to `channel`.
    pub fn text(channel: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            channel: channel.into(),
            text: text.into(),
            ..Self::default()
        }
    }

    /// In the thread whose parent is `thread_ts`.
    #[must_use]
    pub fn in_thread(mut self, thread_ts: impl Into<String>) -> Self {
        self.thread_ts = Some(thread_ts.into());
        self
    }

    #[must_use]
    pub fn with_blocks(mut self, blocks: Value) -> Self {
        self.blocks = Some(blocks);
        self
    }
}

/// The body of a `chat.update` call.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct UpdateMessageRequest {
    pub channel: String,
    pub ts: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// The body of a `chat.postEphemeral` call: seen by `user` only.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct EphemeralRequest {
    pub channel: String,
    pub user: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocks: Option<Value>,
    #[serde(flatten, default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// `chat.postEphemeral`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct EphemeralPosted {
    #[serde(default)]
    pub message_ts: Option<String>,
}

/// A conversation (channel, private channel, DM, group DM), from `conversations.*`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Conversation {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub is_channel: bool,
    #[serde(default)]
    pub is_group: bool,
    #[serde(default)]
    pub is_im: bool,
    #[serde(default)]
    pub is_mpim: bool,
    #[serde(default)]
    pub is_private: bool,
    #[serde(default)]
    pub is_archived: bool,
    #[serde(default)]
    pub is_member: bool,
    #[serde(default)]
    pub num_members: Option<u64>,
    /// Every other field Slack sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A workspace member, from `users.info` and `users.list`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub real_name: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub is_bot: bool,
    #[serde(default)]
    pub tz: Option<String>,
    #[serde(default)]
    pub profile: Value,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `files.getUploadURLExternal`: where to send a file's bytes.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct UploadUrl {
    pub upload_url: String,
    pub file_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_send_extra_arguments_flat_and_skip_empty_ones() {
        let mut request = PostMessageRequest::text("C1", "hi").in_thread("1.2");
        request.extra.insert("unfurl_links".into(), false.into());
        let json = serde_json::to_value(&request).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"channel":"C1","text":"hi","thread_ts":"1.2","unfurl_links":false})
        );
    }

    #[test]
    fn responses_keep_unknown_fields() {
        let conversation: Conversation = serde_json::from_str(
            r#"{"id":"C1","name":"general","is_channel":true,"topic":{"value":"x"}}"#,
        )
        .unwrap();
        assert!(conversation.is_channel);
        assert_eq!(conversation.extra["topic"]["value"], "x");
        let meta: ResponseMetadata = serde_json::from_str(r#"{"next_cursor":""}"#).unwrap();
        assert_eq!(meta.next_cursor(), None);
    }
}
