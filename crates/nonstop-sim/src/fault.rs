//! The faults the simulator can inject, from Rust or as JSON on `POST /_sim/fault`.

use serde::{Deserialize, Serialize};

/// Which live socket a fault hits: `None` means the oldest, `Some(n)` the n-th oldest.
pub type Target = Option<usize>;

/// One fault. Socket faults hit one live socket; endpoint faults change how the simulator
/// answers from now on, for a while or until [`Fault::Heal`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Drop the TCP connection with no WebSocket close frame (what browsers call 1006).
    Drop {
        #[serde(default)]
        target: Target,
    },
    /// Drop every live socket at once, abruptly.
    DropAll,
    /// Keep the socket open but let nothing flow either way: no frames, no pings, no pongs.
    HalfOpen {
        #[serde(default)]
        target: Target,
    },
    /// The connect path fails for `secs`: `apps.connections.open` (and `rtm.connect`) answers HTTP 503 for the
    /// first third, `ok:false internal_error` for the second, and hands out URLs whose
    /// WebSocket upgrade is refused for the last. With `drop_all`, every live socket is also
    /// dropped when the outage starts.
    Outage {
        secs: f64,
        #[serde(default)]
        drop_all: bool,
    },
    /// `disconnect` `warning`, then a close frame `close_after_secs` later (Slack: about 10 s).
    DisconnectWarning {
        #[serde(default)]
        target: Target,
        #[serde(default = "default_warning_secs")]
        close_after_secs: f64,
    },
    /// `disconnect` `refresh_requested` with no warning, then a close frame `close_after_secs` later.
    Refresh {
        #[serde(default)]
        target: Target,
        #[serde(default = "default_refresh_secs")]
        close_after_secs: f64,
    },
    /// `apps.connections.open` and `rtm.connect` answer HTTP 429 with `Retry-After: secs` until `secs` have passed.
    /// With `drop_all`, every live socket is dropped as the limit starts.
    RateLimit {
        secs: u64,
        #[serde(default)]
        drop_all: bool,
    },
    /// RTM: `goodbye` on a socket, then a close frame `close_after_secs` later.
    Goodbye {
        #[serde(default)]
        target: Target,
        #[serde(default = "default_goodbye_secs")]
        close_after_secs: f64,
    },
    /// Every rotating token issued so far expires now (as after a long outage of the bot, or
    /// a clock that jumped): a call with one is answered `token_expired`.
    ExpireTokens,
    /// HTTP delivery: the next `count` envelopes also come as a copy signed with a secret
    /// that is not the app's, as a forger's would be, just before Slack's own; the bot must
    /// turn the copy away and run nothing of it.
    BadSignature {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// HTTP delivery: the next `count` envelopes also come as a copy ten minutes old,
    /// correctly signed (a captured request replayed later); the bot must turn it away.
    StaleTimestamp {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// HTTP delivery: the next `count` requests are sent twice, byte for byte (an attacker or
    /// a proxy replaying them within the five minutes); the bot must answer both and run
    /// the event once.
    ReplayRequest {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// HTTP delivery: the bot's answer to the next `count` requests is taken as late (past
    /// Slack's 3 s) whatever it was, so each is sent again with `X-Slack-Retry-Reason:
    /// http_timeout`, as Slack does when an answer is slow.
    LateAnswer {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// RTM: from now on, each message's confirmation (`reply_to`) comes after the answer to
    /// the client's next frame, as Slack's may.
    ReorderReplies,
    /// RTM: the next message a client sends over a socket never gets its confirmation: the
    /// socket is dropped (TCP, no close frame) instead. With `posted`, Slack took the
    /// message first (it is in the channel, and echoed to the other sockets); without, it
    /// was lost on the way. With `late_reply` (and `posted`), the next RTM socket opened
    /// gets that message's `reply_to` right after `hello`, as Slack may send it.
    DropBeforeReply {
        #[serde(default)]
        posted: bool,
        #[serde(default)]
        late_reply: bool,
    },
    /// RTM: the next `count` messages a client sends are refused with
    /// `{"ok":false,"reply_to":id,"error":{"code":2,…}}`; nothing is posted.
    RefuseMessages { count: u32 },
    /// RTM: an `error` frame on a socket (`{"type":"error","error":{"code":1,…}}`).
    ErrorFrame {
        #[serde(default)]
        target: Target,
    },
    /// `disconnect` `too_many_websockets` on a socket, which is then closed.
    TooManyWebsockets {
        #[serde(default)]
        target: Target,
    },
    /// Socket Mode switched off: `disconnect` `link_disabled` on every socket, then close.
    LinkDisabled,
    /// The app token is revoked: every socket closes and `apps.connections.open` answers
    /// `ok:false` with `code` (`invalid_auth`, `token_revoked`, …) until healed.
    RevokeToken {
        #[serde(default = "default_revoke_code")]
        code: String,
    },
    /// A text frame that is not JSON.
    Malformed {
        #[serde(default)]
        target: Target,
    },
    /// A binary frame, which Socket Mode never uses.
    Binary {
        #[serde(default)]
        target: Target,
    },
    /// A text frame of `bytes` bytes.
    Oversized {
        #[serde(default)]
        target: Target,
        #[serde(default = "default_oversized_bytes")]
        bytes: usize,
    },
    /// An envelope of a type Slack has not invented yet; it must still be acked.
    UnknownEnvelope {
        #[serde(default)]
        target: Target,
    },
    /// A WebSocket close frame with this code and reason.
    CloseFrame {
        #[serde(default)]
        target: Target,
        code: u16,
        #[serde(default)]
        reason: String,
    },
    /// The next `count` sockets complete the upgrade but never get `hello`.
    WithholdHello {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// The next `count` Socket Mode sockets get a `hello` whose
    /// `debug_info.approximate_connection_time` is `value` (`1.5`, `-5`, `1e300`, `"abc"`),
    /// or, when `value` is absent, a `hello` garbled past reading (not JSON).
    OddHello {
        #[serde(default = "default_one")]
        count: u32,
        #[serde(default)]
        value: Option<serde_json::Value>,
    },
    /// A hostile server: every socket gets `disconnect` `refresh_requested` right after its
    /// `hello` (the socket itself stays open), until healed.
    RefreshAfterHello,
    /// The next `count` sockets go silent right after `hello`: half-open from the start (what
    /// `nonstop doctor`'s ping step must notice).
    HalfOpenAfterHello {
        #[serde(default = "default_one")]
        count: u32,
    },
    /// The server stops reading a socket (acks, pongs, pings pile up in TCP buffers) while it
    /// goes on sending envelopes and pings; unacked envelopes are redelivered elsewhere.
    StopReading {
        #[serde(default)]
        target: Target,
    },
    /// One Web API method answers HTTP 429 with `Retry-After` until `secs` have passed;
    /// other methods are unaffected, as with Slack's per-method limits.
    RateLimitMethod { method: String, secs: u64 },
    /// The next `count` calls to `method` fail: HTTP `status` (e.g. 503), or with status 200
    /// an `ok:false` with `code` (default `internal_error`, which is transient; e.g.
    /// `not_in_channel` for a refusal no retry changes).
    FailMethod {
        method: String,
        #[serde(default = "default_one")]
        count: u32,
        #[serde(default = "default_fail_status")]
        status: u16,
        #[serde(default)]
        code: Option<String>,
    },
    /// The next `count` calls to `method` are carried out (a message is posted), but their
    /// answer is lost: the connection breaks half-way through it, as when a network drops a
    /// reply.
    LoseReply {
        method: String,
        #[serde(default = "default_one")]
        count: u32,
    },
    /// `method` succeeds with a `warning` and `response_metadata` notes (as Slack does for
    /// deprecated arguments) until healed.
    WarnMethod { method: String, warning: String },
    /// Slack's per-channel limit on `chat.postMessage`, until healed: each channel takes a
    /// burst of `burst` messages, then `per_sec` a second; a message beyond that is answered
    /// HTTP 429 with `Retry-After` (whole seconds until the channel has room again).
    ChannelLimit {
        #[serde(default = "default_channel_burst")]
        burst: u32,
        #[serde(default = "default_channel_rate")]
        per_sec: f64,
    },
    /// Every Web API answer (except `apps.connections.open`) is delayed by `millis`.
    SlowWebApi { millis: u64 },
    /// Clear every lasting fault: outage, rate limit, revoked token, slow Web API.
    Heal,
}

fn default_goodbye_secs() -> f64 {
    2.0
}

fn default_one() -> u32 {
    1
}

fn default_channel_burst() -> u32 {
    5
}

fn default_channel_rate() -> f64 {
    1.0
}

fn default_fail_status() -> u16 {
    503
}

fn default_warning_secs() -> f64 {
    10.0
}

fn default_refresh_secs() -> f64 {
    1.0
}

fn default_revoke_code() -> String {
    "token_revoked".to_owned()
}

fn default_oversized_bytes() -> usize {
    2 * 1024 * 1024
}

impl Fault {
    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Drop { .. } => "drop",
            Self::DropAll => "drop_all",
            Self::HalfOpen { .. } => "half_open",
            Self::Outage { .. } => "outage",
            Self::DisconnectWarning { .. } => "disconnect_warning",
            Self::Refresh { .. } => "refresh",
            Self::RateLimit { .. } => "rate_limit",
            Self::TooManyWebsockets { .. } => "too_many_websockets",
            Self::Goodbye { .. } => "goodbye",
            Self::ErrorFrame { .. } => "error_frame",
            Self::ExpireTokens => "expire_tokens",
            Self::BadSignature { .. } => "bad_signature",
            Self::StaleTimestamp { .. } => "stale_timestamp",
            Self::ReplayRequest { .. } => "replay_request",
            Self::LateAnswer { .. } => "late_answer",
            Self::ReorderReplies => "reorder_replies",
            Self::DropBeforeReply { .. } => "drop_before_reply",
            Self::RefuseMessages { .. } => "refuse_messages",
            Self::LinkDisabled => "link_disabled",
            Self::RevokeToken { .. } => "revoke_token",
            Self::Malformed { .. } => "malformed",
            Self::Binary { .. } => "binary",
            Self::Oversized { .. } => "oversized",
            Self::UnknownEnvelope { .. } => "unknown_envelope",
            Self::CloseFrame { .. } => "close_frame",
            Self::WithholdHello { .. } => "withhold_hello",
            Self::OddHello { .. } => "odd_hello",
            Self::RefreshAfterHello => "refresh_after_hello",
            Self::HalfOpenAfterHello { .. } => "half_open_after_hello",
            Self::StopReading { .. } => "stop_reading",
            Self::SlowWebApi { .. } => "slow_web_api",
            Self::ChannelLimit { .. } => "channel_limit",
            Self::RateLimitMethod { .. } => "rate_limit_method",
            Self::FailMethod { .. } => "fail_method",
            Self::WarnMethod { .. } => "warn_method",
            Self::LoseReply { .. } => "lose_reply",
            Self::Heal => "heal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_read_from_json_with_defaults() {
        let fault: Fault = serde_json::from_str(r#"{"kind":"disconnect_warning"}"#).unwrap();
        assert_eq!(
            fault,
            Fault::DisconnectWarning {
                target: None,
                close_after_secs: 10.0
            }
        );
        let fault: Fault = serde_json::from_str(r#"{"kind":"outage","secs":3}"#).unwrap();
        assert_eq!(
            fault,
            Fault::Outage {
                secs: 3.0,
                drop_all: false
            }
        );
    }
}
