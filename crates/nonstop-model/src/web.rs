//! Web API response shapes that the runtime and the simulator share.

use serde::{Deserialize, Serialize};

/// The fields every Web API response carries.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ApiStatus {
    pub ok: bool,
    /// Machine-readable code when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Codes for problems with a call that still succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

/// `apps.connections.open`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ConnectionsOpen {
    pub url: String,
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

/// `chat.postMessage`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct PostMessage {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    pub ts: Option<String>,
}

/// The body of a `chat.postMessage` call.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct PostMessageRequest {
    pub channel: String,
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_ts: Option<String>,
}
