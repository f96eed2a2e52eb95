//! What a simulator is started with: its workspace and behaviour ([`SimConfig`]), the
//! messages its users send ([`MessageSpec`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How the simulated workspace behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The app-level token `apps.connections.open` accepts.
    pub app_token: String,
    /// The bot token the other methods accept.
    pub bot_token: String,
    /// The app configuration token `apps.manifest.*` accept.
    pub config_token: String,
    /// The installed app's manifest, as `apps.manifest.export` gives it; `None`: one made
    /// from these settings (the app's name, Socket Mode, [`SimConfig::scopes`]).
    pub app_manifest: Option<serde_json::Value>,
    pub team_id: String,
    pub app_id: String,
    pub bot_user_id: String,
    pub bot_id: String,
    /// An envelope not acked within this is sent again (Slack: about 3 s).
    pub redelivery_after: Duration,
    /// Redeliveries before an envelope is given up on (Slack: 3).
    pub max_redeliveries: u32,
    /// How often the server pings each socket.
    pub server_ping_interval: Duration,
    /// Announced in `hello` as `approximate_connection_time`.
    pub approximate_connection_time: Duration,
    /// How long a half-open socket is held before the server lets it go.
    pub half_open_hold: Duration,
    /// Deliver the bot's own posts back to it as message events, as Slack does.
    pub echo_bot_messages: bool,
    /// Deliver every event three times: its envelope, the same envelope again as a retry on
    /// another socket (as after a missed ack, even when it was acked), and the same event in
    /// a second envelope. A bot must handle each event once.
    pub duplicate_delivery: bool,
    /// Channels and users in the workspace, for `conversations.list`, `users.list` and
    /// `conversations.members` (enough for several pages).
    pub channels: usize,
    pub users: usize,
    /// The scopes the bot token has, as Slack names them in its `x-oauth-scopes` header.
    pub scopes: Vec<String>,
    /// Whether `rtm.start` works (older classic apps) or answers `method_deprecated` (apps
    /// created since 2021-11-30, the default).
    pub rtm_start_allowed: bool,
    /// Socket Mode sockets the app may hold live at once (Slack's cap is 10): one more is
    /// sent `hello`, then `disconnect` `too_many_websockets`, and closed.
    pub max_sockets: usize,
    /// Token rotation: installs get a rotating bot token (`xoxe.xoxb-`) that expires after
    /// this, with a refresh token (Slack: 12 hours). `None`: tokens that never expire.
    pub token_rotation: Option<Duration>,
    /// How long a streamed message stays open (`chat.startStream` to the last append) before
    /// Slack ends it as it stands and refuses more: about five minutes at Slack.
    pub stream_lifetime: Duration,
    /// The app's client id and secret, which `oauth.v2.access` checks.
    pub client_id: String,
    pub client_secret: String,
    /// The app's signing secret: requests posted to the bot's request URL are signed with it.
    pub signing_secret: String,
    /// HTTP delivery: how long after a failed request (not 2xx within 3 s) each retry comes.
    /// Slack sends three: almost at once, after a minute, after five; the default is that
    /// schedule sixty times faster (0.1 s, 1 s, 5 s).
    pub http_retry_delays: Vec<Duration>,
    /// `SO_RCVBUF` of the simulator's sockets, when set: small, it makes a socket the server
    /// stops reading ([`Fault::StopReading`](crate::Fault::StopReading)) block the bot's writes after a few KiB, as a
    /// server with small buffers would, instead of after the megabytes loopback allows.
    pub receive_buffer: Option<u32>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            app_token: "xapp-1-A0SIM-0000-simulatedapptoken".to_owned(),
            bot_token: "xoxb-0000-0000-simulatedbottoken".to_owned(),
            team_id: "T0SIM".to_owned(),
            app_id: "A0SIM".to_owned(),
            config_token: "xoxe.xoxp-1-simulatedconfigtoken".to_owned(),
            app_manifest: None,
            bot_user_id: "U0BOT".to_owned(),
            bot_id: "B0BOT".to_owned(),
            redelivery_after: Duration::from_secs(3),
            max_redeliveries: 3,
            server_ping_interval: Duration::from_secs(5),
            approximate_connection_time: Duration::from_secs(18060),
            half_open_hold: Duration::from_secs(30),
            echo_bot_messages: true,
            duplicate_delivery: false,
            channels: 450,
            users: 250,
            scopes: [
                "channels:history",
                "groups:history",
                "im:history",
                "mpim:history",
                "chat:write",
                "reactions:write",
                "commands",
                "channels:read",
                "users:read",
            ]
            .map(str::to_owned)
            .to_vec(),
            rtm_start_allowed: false,
            max_sockets: 10,
            receive_buffer: None,
            signing_secret: "0sim0signing0secret0000000000000".to_owned(),
            token_rotation: None,
            stream_lifetime: Duration::from_secs(300),
            client_id: "1111111111.2222222222".to_owned(),
            client_secret: "0sim0client0secret00000000000000".to_owned(),
            http_retry_delays: vec![
                Duration::from_millis(100),
                Duration::from_secs(1),
                Duration::from_secs(5),
            ],
        }
    }
}

/// A message a simulated user sends.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MessageSpec {
    pub channel: String,
    pub user: String,
    pub text: String,
    #[serde(default)]
    pub thread_ts: Option<String>,
}

impl MessageSpec {
    pub fn new(channel: &str, user: &str, text: &str) -> Self {
        Self {
            channel: channel.to_owned(),
            user: user.to_owned(),
            text: text.to_owned(),
            thread_ts: None,
        }
    }

    #[must_use]
    pub fn in_thread(mut self, thread_ts: &str) -> Self {
        self.thread_ts = Some(thread_ts.to_owned());
        self
    }
}
