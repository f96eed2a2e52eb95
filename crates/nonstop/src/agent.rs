//! What an agent does in its threads: the status line while it works, the prompts it
//! suggests, the thread's title, and the channel the person was looking at when they opened
//! the thread (kept in the bot's storage when Slack says so, so that a later message in the
//! thread knows it without reading history, which distributed apps may do once a minute).
//! The calls go through the outbox, in order with the thread's answers.

use nonstop_model::{SuggestedPrompt, ThreadContext};
use serde_json::{json, Value};

use crate::context::{Context, ContextError};
use crate::outbox::Outgoing;
use crate::storage::StorageError;

impl Context {
    /// Sets the status line of the agent thread the event is in ("is thinking…"); Slack
    /// clears it when the bot answers in the thread, and `""` clears it at once.
    pub async fn set_status(&self, status: &str) -> Result<Outgoing, ContextError> {
        self.in_agent_thread("assistant.threads.setStatus", json!({"status": status}))
            .await
    }

    /// Offers `prompts` (at most four) under the composer of the agent thread, with an
    /// optional `title` above them.
    pub async fn set_suggested_prompts(
        &self,
        title: Option<&str>,
        prompts: &[SuggestedPrompt],
    ) -> Result<Outgoing, ContextError> {
        let method = "assistant.threads.setSuggestedPrompts";
        if prompts.is_empty() || prompts.len() > nonstop_model::agents::MAX_SUGGESTED_PROMPTS {
            return Err(ContextError::Arguments {
                method: method.to_owned(),
                detail: format!("{} prompts: Slack takes 1 to 4", prompts.len()),
            });
        }
        let mut args = json!({"prompts": prompts});
        if let Some(title) = title {
            args["title"] = title.into();
        }
        self.in_agent_thread(method, args).await
    }

    /// Names the agent thread (shown in the person's history of threads with the app).
    pub async fn set_title(&self, title: &str) -> Result<Outgoing, ContextError> {
        self.in_agent_thread("assistant.threads.setTitle", json!({"title": title}))
            .await
    }

    /// The channel the person was looking at in this agent thread, as Slack last said it
    /// (`assistant_thread_started`, `assistant_thread_context_changed`); `None` before Slack
    /// said anything for the thread.
    pub async fn agent_context(&self) -> Result<Option<ThreadContext>, StorageError> {
        let Some(key) = self.agent_context_key(None) else {
            return Ok(None);
        };
        self.storage().get(&key).await
    }

    /// Keeps the context an agent thread event carries, before any listener runs. A failure
    /// is logged: the event is handled all the same.
    pub(crate) async fn keep_agent_context(&self, event: Option<&Value>) {
        let Some(event) = event else {
            return;
        };
        let kind = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind != "assistant_thread_started" && kind != "assistant_thread_context_changed" {
            return;
        }
        let Some(context) = event.pointer("/assistant_thread/context") else {
            return;
        };
        let Ok(context) = serde_json::from_value::<ThreadContext>(context.clone()) else {
            tracing::warn!(
                kind,
                "an agent thread event with an unreadable context; not kept"
            );
            return;
        };
        let thread = event
            .pointer("/assistant_thread/thread_ts")
            .and_then(Value::as_str);
        let Some(key) = self.agent_context_key(thread) else {
            return;
        };
        if let Err(error) = self.storage().set(&key, &context).await {
            tracing::warn!(%error, "the agent thread's context could not be kept");
        }
    }

    /// Where a thread's context is kept: by workspace, channel and thread.
    fn agent_context_key(&self, thread: Option<&str>) -> Option<String> {
        let meta = self.meta();
        let channel = meta.channel.as_deref()?;
        let thread = thread
            .or(meta.thread_ts.as_deref())
            .or(meta.ts.as_deref())?;
        let team = meta.team.as_deref().unwrap_or("-");
        Some(format!("nonstop:agent-context:{team}:{channel}:{thread}"))
    }

    /// `method` in the event's agent thread: its channel, and the thread the event is in (a
    /// message at the top of a direct message opens one).
    async fn in_agent_thread(
        &self,
        method: &'static str,
        mut args: Value,
    ) -> Result<Outgoing, ContextError> {
        let meta = self.meta();
        let channel = self.need(meta.channel.as_ref(), method, "channel")?;
        let thread = self.need(
            meta.thread_ts.as_ref().or(meta.ts.as_ref()),
            method,
            "thread",
        )?;
        args["channel_id"] = channel.into();
        args["thread_ts"] = thread.into();
        self.enqueue(method, channel.to_owned(), &args).await
    }
}
