//! What the bot streamed and set in agent threads, as the simulator records it (the methods
//! are in `stream.rs`).

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

/// One streamed message as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamedMessage {
    /// The workspace whose token started it.
    pub team: Option<String>,
    pub channel: String,
    pub thread_ts: String,
    pub ts: String,
    /// Everything streamed into it, in order: the start's, each append's, the stop's.
    pub text: String,
    /// Still streaming (neither stopped nor expired).
    pub open: bool,
    /// Calls that added text: the start (with text), appends, the stop (with text).
    pub pieces: u32,
    /// The stop's blocks, when it had any (feedback buttons).
    pub blocks: Option<Value>,
    #[serde(skip)]
    pub(crate) started: Instant,
}

/// One agent thread's state, as the `assistant.threads.*` calls left it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct AgentThread {
    pub channel: String,
    pub thread_ts: String,
    /// The status line ("is thinking…"); empty when cleared.
    pub status: String,
    /// Every status set, in order (an empty one clears it).
    pub statuses: Vec<String>,
    pub prompts: Vec<Value>,
    pub prompts_title: Option<String>,
    pub title: Option<String>,
}
