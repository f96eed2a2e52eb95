//! Typed calls for the methods bots use most. Each links to Slack's reference and notes its
//! rate tier; all go through [`WebClient::send`], so they share retries and rate limits.

use futures_util::Stream;
use nonstop_model::web::{
    AuthTest, Conversation, EphemeralPosted, EphemeralRequest, PostMessage, PostMessageRequest,
    UpdateMessageRequest, UploadUrl, User,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::{decode, decode_bytes, form_fields, Body, WebClient, WebError};

/// A file for [`WebClient::files_upload_v2`].
#[derive(Debug, Clone, Default)]
pub struct FileUpload {
    pub filename: String,
    pub content: Vec<u8>,
    pub title: Option<String>,
    /// Share it in this channel; without one the file stays private to the bot.
    pub channel: Option<String>,
    pub thread_ts: Option<String>,
    pub initial_comment: Option<String>,
}

impl WebClient {
    /// Calls a method that takes JSON arguments and reads `field` of the answer (the whole
    /// answer when `field` is `None`) into `T`.
    async fn json_call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        args: &impl Serialize,
        field: Option<&str>,
    ) -> Result<T, WebError> {
        let body = serde_json::to_string(args).map_err(|e| WebError::Decode {
            method: method.to_owned(),
            detail: e.to_string(),
        })?;
        let answer = self.send(method, Body::Json(body)).await?;
        pick(method, &answer, field)
    }

    /// Calls a read method (form-encoded, as Slack requires for them) and reads `field`.
    async fn form_call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        args: &impl Serialize,
        field: Option<&str>,
    ) -> Result<T, WebError> {
        let answer = self
            .send(method, Body::Form(form_fields(method, args)?))
            .await?;
        pick(method, &answer, field)
    }

    /// <https://api.slack.com/methods/auth.test>: who the bot token belongs to.
    pub async fn auth_test(&self) -> Result<AuthTest, WebError> {
        self.form_call("auth.test", &json!({}), None).await
    }

    /// <https://api.slack.com/methods/chat.postMessage>. Paced per channel (see
    /// [`crate::Pace`]); waits in the channel's queue, or fails with
    /// [`WebError::QueueFull`] when the queue is full.
    pub async fn chat_post_message(
        &self,
        request: &PostMessageRequest,
    ) -> Result<PostMessage, WebError> {
        const METHOD: &str = "chat.postMessage";
        let turn = match &self.inner.pacer {
            Some(pacer) => Some(pacer.reserve(METHOD, &request.channel)?),
            None => None,
        };
        if let Some(turn) = &turn {
            turn.wait().await;
        }
        let posted = self.json_call(METHOD, request, None).await;
        drop(turn);
        posted
    }

    /// <https://api.slack.com/methods/chat.update>. Tier 3.
    pub async fn chat_update(
        &self,
        request: &UpdateMessageRequest,
    ) -> Result<PostMessage, WebError> {
        self.json_call("chat.update", request, None).await
    }

    /// <https://api.slack.com/methods/chat.delete>. Tier 3.
    pub async fn chat_delete(&self, channel: &str, ts: &str) -> Result<PostMessage, WebError> {
        self.json_call("chat.delete", &json!({"channel": channel, "ts": ts}), None)
            .await
    }

    /// <https://api.slack.com/methods/chat.postEphemeral>: seen only by `request.user`.
    /// Tier 4.
    pub async fn chat_post_ephemeral(
        &self,
        request: &EphemeralRequest,
    ) -> Result<EphemeralPosted, WebError> {
        self.json_call("chat.postEphemeral", request, None).await
    }

    /// <https://api.slack.com/methods/reactions.add>: `name` without colons. Tier 3.
    pub async fn reactions_add(
        &self,
        channel: &str,
        timestamp: &str,
        name: &str,
    ) -> Result<(), WebError> {
        let name = name.trim_matches(':');
        let args = json!({"channel": channel, "timestamp": timestamp, "name": name});
        self.json_call::<Value>("reactions.add", &args, None)
            .await
            .map(drop)
    }

    /// <https://api.slack.com/methods/conversations.info>. Tier 3.
    pub async fn conversations_info(&self, channel: &str) -> Result<Conversation, WebError> {
        self.form_call(
            "conversations.info",
            &json!({"channel": channel}),
            Some("channel"),
        )
        .await
    }

    /// <https://api.slack.com/methods/conversations.history>: every message, newest first,
    /// page by page. Tier 3.
    pub fn conversations_history(
        &self,
        channel: &str,
    ) -> impl Stream<Item = Result<Value, WebError>> + Send + 'static {
        self.paginate(
            "conversations.history",
            json!({"channel": channel}),
            "messages",
        )
    }

    /// <https://api.slack.com/methods/conversations.replies>: a thread's parent and replies.
    /// Tier 3.
    pub fn conversations_replies(
        &self,
        channel: &str,
        thread_ts: &str,
    ) -> impl Stream<Item = Result<Value, WebError>> + Send + 'static {
        self.paginate(
            "conversations.replies",
            json!({"channel": channel, "ts": thread_ts}),
            "messages",
        )
    }

    /// <https://api.slack.com/methods/conversations.members>: member user ids. Tier 4.
    pub fn conversations_members(
        &self,
        channel: &str,
    ) -> impl Stream<Item = Result<String, WebError>> + Send + 'static {
        self.paginate(
            "conversations.members",
            json!({"channel": channel}),
            "members",
        )
    }

    /// <https://api.slack.com/methods/conversations.list>: `types` like
    /// `"public_channel,private_channel"`. Tier 2.
    pub fn conversations_list(
        &self,
        types: &str,
    ) -> impl Stream<Item = Result<Conversation, WebError>> + Send + 'static {
        self.paginate("conversations.list", json!({"types": types}), "channels")
    }

    /// <https://api.slack.com/methods/users.info>. Tier 4.
    pub async fn users_info(&self, user: &str) -> Result<User, WebError> {
        self.form_call("users.info", &json!({"user": user}), Some("user"))
            .await
    }

    /// <https://api.slack.com/methods/users.list>: every member of the workspace. Tier 2.
    pub fn users_list(&self) -> impl Stream<Item = Result<User, WebError>> + Send + 'static {
        self.paginate("users.list", json!({}), "members")
    }

    /// <https://api.slack.com/methods/views.open>: opens a modal; `trigger_id` is good for
    /// 3 s after the interaction that gave it. Returns the view Slack built.
    pub async fn views_open(&self, trigger_id: &str, view: &Value) -> Result<Value, WebError> {
        let args = json!({"trigger_id": trigger_id, "view": view});
        self.json_call("views.open", &args, Some("view")).await
    }

    /// <https://api.slack.com/methods/views.update>: `hash` (from the view) guards against
    /// overwriting a newer state.
    pub async fn views_update(
        &self,
        view_id: &str,
        view: &Value,
        hash: Option<&str>,
    ) -> Result<Value, WebError> {
        let mut args = json!({"view_id": view_id, "view": view});
        if let Some(hash) = hash {
            args["hash"] = hash.into();
        }
        self.json_call("views.update", &args, Some("view")).await
    }

    /// <https://api.slack.com/methods/views.publish>: a user's App Home tab.
    pub async fn views_publish(&self, user_id: &str, view: &Value) -> Result<Value, WebError> {
        let args = json!({"user_id": user_id, "view": view});
        self.json_call("views.publish", &args, Some("view")).await
    }

    /// Uploads a file the way Slack requires since `files.upload` was retired:
    /// `files.getUploadURLExternal`, the bytes to the URL it gives, then
    /// `files.completeUploadExternal` (sharing it when `channel` is set). Returns the file id.
    pub async fn files_upload_v2(&self, file: &FileUpload) -> Result<String, WebError> {
        let target: UploadUrl = self
            .form_call(
                "files.getUploadURLExternal",
                &json!({"filename": file.filename, "length": file.content.len()}),
                None,
            )
            .await?;
        self.upload_bytes(&target.upload_url, &file.content).await?;
        let mut args = json!({
            "files": [{"id": target.file_id, "title": file.title.as_deref().unwrap_or(&file.filename)}],
        });
        for (key, value) in [
            ("channel_id", &file.channel),
            ("thread_ts", &file.thread_ts),
            ("initial_comment", &file.initial_comment),
        ] {
            if let Some(value) = value {
                args[key] = value.as_str().into();
            }
        }
        self.json_call::<Value>("files.completeUploadExternal", &args, None)
            .await?;
        Ok(target.file_id)
    }

    /// The middle step of an upload: the bytes, POSTed to the one-time URL.
    async fn upload_bytes(&self, url: &str, content: &[u8]) -> Result<(), WebError> {
        const METHOD: &str = "files.upload_url";
        let _turn = self.turn().await;
        let response = self
            .inner
            .http
            .post(url)
            .body(content.to_vec())
            .send()
            .await
            // The upload URL is single-use and secret: errors leave it out.
            .map_err(|e| WebError::from_reqwest(METHOD, &e.without_url()))?;
        crate::read_checked(METHOD, response).await.map(drop)
    }
}

/// `field` of `answer` (or all of it) as `T`.
fn pick<T: DeserializeOwned>(
    method: &str,
    answer: &[u8],
    field: Option<&str>,
) -> Result<T, WebError> {
    let Some(field) = field else {
        return decode_bytes(method, answer);
    };
    let mut whole: Value = decode_bytes(method, answer)?;
    let value = whole
        .get_mut(field)
        .map(Value::take)
        .ok_or_else(|| WebError::Decode {
            method: method.to_owned(),
            detail: format!("the answer has no `{field}`"),
        })?;
    decode(method, value)
}
