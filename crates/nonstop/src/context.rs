//! What a handler gets besides the envelope: the Web API client, the bot's identity, the
//! runtime status.

use std::sync::Arc;
use std::time::Duration;

use nonstop_model::web::PostMessageRequest;
use nonstop_web::{WebClient, WebError};

use crate::backoff::Backoff;
use crate::status::Status;
use crate::storage::Storage;

/// Who the bot is, from `auth.test`; used to ignore its own messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: Option<String>,
    pub bot_id: Option<String>,
    pub team_id: Option<String>,
}

impl BotIdentity {
    /// True when a message with this `user` or `bot_id` came from this bot.
    pub fn is_me(&self, user: Option<&str>, bot_id: Option<&str>) -> bool {
        let same = |mine: &Option<String>, theirs: Option<&str>| {
            mine.as_deref().is_some_and(|m| Some(m) == theirs)
        };
        same(&self.user_id, user) || same(&self.bot_id, bot_id)
    }
}

/// Cheap to clone; one per handler call.
#[derive(Debug, Clone)]
pub struct Context {
    web: WebClient,
    me: Arc<BotIdentity>,
    status: Arc<Status>,
    storage: Storage,
    attempt: u32,
}

/// Attempts for one message before the error goes to the handler.
const SAY_ATTEMPTS: u32 = 6;

impl Context {
    pub(crate) fn new(
        web: WebClient,
        me: Arc<BotIdentity>,
        status: Arc<Status>,
        storage: Storage,
    ) -> Self {
        Self {
            web,
            me,
            status,
            storage,
            attempt: 0,
        }
    }

    /// This context for one envelope's handler call.
    pub(crate) fn for_attempt(&self, attempt: u32) -> Self {
        Self {
            attempt,
            ..self.clone()
        }
    }

    /// How many times a handler already started on this event: 0 normally; 1 or more when
    /// the event is replayed after a crash cut a handler off, so a handler whose side effects
    /// must not happen twice can check for them first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// True when this call is a replay after a crash (`attempt() > 0`).
    pub fn is_replay(&self) -> bool {
        self.attempt > 0
    }

    /// The bot's key-value storage, persistent across restarts (same file as the journal).
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn web(&self) -> &WebClient {
        &self.web
    }

    pub fn me(&self) -> &BotIdentity {
        &self.me
    }

    pub fn status(&self) -> &Status {
        &self.status
    }

    /// Posts `text` to `channel`, in the thread `thread_ts` when given. Rate limits are
    /// waited out as Slack asks; transient failures are retried a few times with backoff.
    pub async fn say(
        &self,
        channel: &str,
        text: &str,
        thread_ts: Option<&str>,
    ) -> Result<(), WebError> {
        let request = PostMessageRequest {
            channel: channel.to_owned(),
            text: text.to_owned(),
            thread_ts: thread_ts.map(str::to_owned),
        };
        let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(5));
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.web.chat_post_message(&request).await {
                Ok(_) => return Ok(()),
                Err(e) if e.is_fatal() || attempt >= SAY_ATTEMPTS => return Err(e),
                Err(e) => {
                    let delay = backoff.next_delay(e.retry_after(), &mut rand::rng());
                    tracing::debug!(error = %e, attempt, delay_ms = delay.as_millis() as u64, "chat.postMessage retry");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}
