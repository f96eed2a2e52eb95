//! Why a connection ended, in words a person can act on. Nothing here prints a bare "1006".

use std::fmt;
use std::time::Duration;

use nonstop_model::DisconnectReason;

/// Where opening a socket failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectStage {
    Dns,
    Tcp,
    Tls,
    /// The WebSocket upgrade got an HTTP answer other than 101.
    Http,
    Handshake,
    /// The socket opened but `hello` did not arrive in time.
    HelloTimeout,
}

impl ConnectStage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Tcp => "tcp",
            Self::Tls => "tls",
            Self::Http => "http",
            Self::Handshake => "handshake",
            Self::HelloTimeout => "hello_timeout",
        }
    }
}

/// Why a connection closed or never opened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DisconnectCause {
    /// Slack sent a `disconnect` frame.
    SlackDisconnect(DisconnectReason),
    /// RTM's `goodbye`.
    Goodbye,
    /// The server sent a WebSocket close frame.
    CloseFrame { code: u16, reason: String },
    /// TCP closed with no WebSocket close frame first: what a browser reports as 1006.
    EofWithoutClose,
    /// TCP reset by the peer or the network.
    Reset,
    /// No frame of any kind (data, ping, pong) arrived for this long: a half-open socket.
    Dead { silent_for: Duration },
    /// A write to the socket (an ack, a ping) did not complete for this long: the peer stopped
    /// reading, so acks no longer reach Slack.
    WriteStalled { stalled_for: Duration },
    /// Opening the socket failed at `stage`.
    ConnectFailed { stage: ConnectStage, detail: String },
    /// `apps.connections.open` failed: an HTTP status or a Slack error code.
    ConnectApi { detail: String },
    /// The peer broke the WebSocket protocol, or a read failed.
    Protocol { detail: String },
    /// The task that ran the socket panicked (a bug of ours); the slot opens another.
    TaskPanicked { detail: String },
    /// Not opened: the bot's replicas together hold `held` sockets, `NONSTOP_APP_SOCKETS`
    /// (`total`) or more; the slot tries again when one may have closed.
    AppSocketsHeld { held: usize, total: usize },
    /// HTTP transport: the receiver's check of itself (a signed request to its own listener)
    /// failed, so Slack's requests may not be reaching it either.
    SelfCheckFailed { detail: String },
    /// We closed it after its replacement went live.
    Replaced,
    /// We closed it because the bot is shutting down.
    Shutdown,
}

impl DisconnectCause {
    /// Slack's `too_many_websockets`: the app holds all the sockets Slack allows it.
    pub fn is_app_at_socket_limit(&self) -> bool {
        matches!(
            self,
            Self::SlackDisconnect(nonstop_model::DisconnectReason::TooManyWebsockets)
        )
    }

    /// The server ended a live connection in order (RTM's `goodbye`, Slack's `disconnect`,
    /// a close frame): nothing failed, so the slot opens another at once rather than after a
    /// backoff (issue 25: in a `goodbye` storm, backoffs left RTM bots without a socket).
    /// Not Slack's `too_many_websockets` (the app is at its limit) nor `link_disabled`.
    pub fn is_closed_in_order_by_the_server(&self) -> bool {
        match self {
            Self::Goodbye | Self::CloseFrame { .. } => true,
            Self::SlackDisconnect(reason) => !matches!(
                reason,
                nonstop_model::DisconnectReason::TooManyWebsockets
                    | nonstop_model::DisconnectReason::LinkDisabled
            ),
            _ => false,
        }
    }

    /// A stable, low-cardinality name for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::SlackDisconnect(_) => "slack_disconnect",
            Self::Goodbye => "goodbye",
            Self::CloseFrame { .. } => "close_frame",
            Self::EofWithoutClose => "eof_without_close",
            Self::Reset => "reset",
            Self::Dead { .. } => "dead",
            Self::WriteStalled { .. } => "write_stalled",
            Self::TaskPanicked { .. } => "task_panicked",
            Self::AppSocketsHeld { .. } => "app_sockets_held",
            Self::ConnectFailed { .. } => "connect_failed",
            Self::ConnectApi { .. } => "connect_api",
            Self::Protocol { .. } => "protocol",
            Self::SelfCheckFailed { .. } => "self_check_failed",
            Self::Replaced => "replaced",
            Self::Shutdown => "shutdown",
        }
    }

    /// True when we closed the socket on purpose.
    pub fn is_planned(&self) -> bool {
        matches!(self, Self::Replaced | Self::Shutdown)
    }

    /// True when the close means retrying cannot help: Slack closed a socket because Socket
    /// Mode is switched off for the app.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            Self::SlackDisconnect(nonstop_model::DisconnectReason::LinkDisabled)
        )
    }
}

impl fmt::Display for DisconnectCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SlackDisconnect(reason) => write!(f, "slack_disconnect({reason})"),
            Self::Goodbye => f.write_str("goodbye"),
            Self::CloseFrame { code, reason } if reason.is_empty() => {
                write!(f, "close_frame({code})")
            }
            Self::CloseFrame { code, reason } => write!(f, "close_frame({code}, {reason:?})"),
            Self::EofWithoutClose => {
                f.write_str("eof_without_close (TCP closed with no WebSocket close frame)")
            }
            Self::Reset => f.write_str("reset (TCP connection reset)"),
            Self::Dead { silent_for } => {
                write!(f, "dead(no frame for {:.1} s)", silent_for.as_secs_f64())
            }
            Self::WriteStalled { stalled_for } => write!(
                f,
                "write_stalled(no write completed for {:.1} s: the peer stopped reading)",
                stalled_for.as_secs_f64()
            ),
            Self::TaskPanicked { detail } => write!(f, "task_panicked({detail})"),
            Self::AppSocketsHeld { held, total } => write!(
                f,
                "app_sockets_held(the bot's replicas hold {held} sockets of NONSTOP_APP_SOCKETS={total})"
            ),
            Self::ConnectFailed { stage, detail } => {
                write!(f, "connect_failed({}: {detail})", stage.as_str())
            }
            Self::ConnectApi { detail } => write!(f, "connect_api({detail})"),
            Self::Protocol { detail } => write!(f, "protocol({detail})"),
            Self::SelfCheckFailed { detail } => write!(f, "self_check_failed({detail})"),
            Self::Replaced => f.write_str("replaced"),
            Self::Shutdown => f.write_str("shutdown"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_cause_prints_a_bare_1006() {
        let causes = [
            DisconnectCause::EofWithoutClose,
            DisconnectCause::Reset,
            DisconnectCause::Dead {
                silent_for: Duration::from_millis(6100),
            },
            DisconnectCause::SlackDisconnect(DisconnectReason::Warning),
            DisconnectCause::WriteStalled {
                stalled_for: Duration::from_secs(6),
            },
            DisconnectCause::TaskPanicked {
                detail: "index out of bounds".to_owned(),
            },
            DisconnectCause::AppSocketsHeld {
                held: 10,
                total: 10,
            },
        ];
        for cause in causes {
            let shown = cause.to_string();
            assert!(!shown.contains("1006"), "{shown}");
            assert!(shown.starts_with(cause.kind()), "{shown}");
        }
        assert_eq!(
            DisconnectCause::Dead {
                silent_for: Duration::from_millis(6100)
            }
            .to_string(),
            "dead(no frame for 6.1 s)"
        );
    }
}
