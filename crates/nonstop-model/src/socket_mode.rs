//! Socket Mode frames: `hello`, `disconnect`, the three envelope types, and acks.
//!
//! The read loop must ack within Slack's 3 s window whatever the payload holds, so
//! [`FrameHead`] reads only what routing, dedup and the ack need. The payload itself is kept
//! as raw bytes by the runtime and parsed later, off the read loop.

use serde::{Deserialize, Serialize};

/// The fields of a Socket Mode frame that the read loop needs. Every field is optional or
/// defaulted so that a frame with surprising content still yields a head.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FrameHead {
    /// `hello`, `disconnect`, `events_api`, `slash_commands`, `interactive`, or something new.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Present on envelopes; echoed in the ack.
    #[serde(default)]
    pub envelope_id: Option<String>,
    /// Whether the ack may carry a response body (slash commands, some interactions).
    #[serde(default)]
    pub accepts_response_payload: bool,
    /// 0 on a first delivery, then 1, 2, 3 on Slack's redeliveries.
    #[serde(default)]
    pub retry_attempt: u32,
    /// `""` on a first delivery, e.g. `"timeout"` on a redelivery.
    #[serde(default)]
    pub retry_reason: Option<String>,
    /// `disconnect` frames: why Slack is closing this socket.
    #[serde(default)]
    pub reason: Option<String>,
    /// `hello` frames: how many sockets the app holds.
    #[serde(default)]
    pub num_connections: Option<u32>,
    /// `hello` and `disconnect` frames: server host and the connection's expected lifetime.
    #[serde(default)]
    pub debug_info: Option<DebugInfo>,
    /// Envelopes: only the ids inside the payload.
    #[serde(default)]
    pub payload: Option<PayloadHead>,
}

/// Diagnostic block on `hello` and `disconnect` frames.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DebugInfo {
    #[serde(default)]
    pub host: Option<String>,
    /// Seconds Slack expects to keep this socket before refreshing it.
    #[serde(default)]
    pub approximate_connection_time: Option<u64>,
}

/// The ids inside an envelope's payload, without the event itself.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayloadHead {
    /// Globally unique on `event_callback` payloads; the dedup key.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
}

/// Which kind of envelope a frame is, with room for kinds Slack adds later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvelopeKind {
    EventsApi,
    SlashCommands,
    Interactive,
    /// A type this version does not know. It is acked and handed on as raw JSON.
    Other(String),
}

impl EnvelopeKind {
    pub fn from_wire(kind: &str) -> Self {
        match kind {
            "events_api" => Self::EventsApi,
            "slash_commands" => Self::SlashCommands,
            "interactive" => Self::Interactive,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::EventsApi => "events_api",
            Self::SlashCommands => "slash_commands",
            Self::Interactive => "interactive",
            Self::Other(other) => other,
        }
    }
}

/// Why Slack sent a `disconnect` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// Sent about 10 s before Slack closes the socket.
    Warning,
    /// Routine recycling; may come with no warning.
    RefreshRequested,
    /// Socket Mode was switched off in the app settings. Reconnecting will not help.
    LinkDisabled,
    /// The app holds more than 10 sockets.
    TooManyWebsockets,
    /// Anything else. Treated as a refresh.
    Other(String),
}

impl DisconnectReason {
    pub fn from_wire(reason: &str) -> Self {
        match reason {
            "warning" => Self::Warning,
            "refresh_requested" => Self::RefreshRequested,
            "link_disabled" => Self::LinkDisabled,
            "too_many_websockets" => Self::TooManyWebsockets,
            other => Self::Other(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Warning => "warning",
            Self::RefreshRequested => "refresh_requested",
            Self::LinkDisabled => "link_disabled",
            Self::TooManyWebsockets => "too_many_websockets",
            Self::Other(other) => other,
        }
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame classified from its head.
#[derive(Debug, Clone)]
pub enum ParsedFrame {
    Hello {
        num_connections: Option<u32>,
        approximate_connection_time: Option<u64>,
        host: Option<String>,
    },
    Disconnect {
        reason: DisconnectReason,
    },
    Envelope {
        envelope_id: String,
        kind: EnvelopeKind,
        accepts_response_payload: bool,
        retry_attempt: u32,
        retry_reason: Option<String>,
        /// `payload.event_id` where present; the dedup key.
        event_id: Option<String>,
    },
    /// A well-formed frame of a type we do not know and that carries no envelope id.
    Unknown {
        kind: String,
    },
}

/// Why a frame could not be classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not JSON, or JSON of the wrong shape. The detail is serde's message.
    Malformed(String),
    /// An envelope type without an `envelope_id`, so it cannot be acked.
    MissingEnvelopeId { kind: String },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(detail) => write!(f, "malformed frame: {detail}"),
            Self::MissingEnvelopeId { kind } => {
                write!(f, "envelope of type {kind:?} has no envelope_id")
            }
        }
    }
}

impl std::error::Error for FrameError {}

impl ParsedFrame {
    /// Classifies a text frame by reading its head only.
    pub fn parse(text: &[u8]) -> Result<Self, FrameError> {
        let head: FrameHead =
            serde_json::from_slice(text).map_err(|e| FrameError::Malformed(e.to_string()))?;
        Ok(match head.kind.as_str() {
            "hello" => {
                let debug = head.debug_info.unwrap_or_default();
                Self::Hello {
                    num_connections: head.num_connections,
                    approximate_connection_time: debug.approximate_connection_time,
                    host: debug.host,
                }
            }
            "disconnect" => Self::Disconnect {
                reason: DisconnectReason::from_wire(head.reason.as_deref().unwrap_or("")),
            },
            kind => match head.envelope_id {
                Some(envelope_id) => Self::Envelope {
                    envelope_id,
                    kind: EnvelopeKind::from_wire(kind),
                    accepts_response_payload: head.accepts_response_payload,
                    retry_attempt: head.retry_attempt,
                    retry_reason: head.retry_reason.filter(|r| !r.is_empty()),
                    // An empty id identifies nothing: dedup falls back to the envelope id.
                    event_id: head
                        .payload
                        .and_then(|p| p.event_id)
                        .filter(|id| !id.is_empty()),
                },
                None if matches!(kind, "events_api" | "slash_commands" | "interactive") => {
                    return Err(FrameError::MissingEnvelopeId {
                        kind: kind.to_owned(),
                    })
                }
                None => Self::Unknown {
                    kind: kind.to_owned(),
                },
            },
        })
    }
}

/// The client's acknowledgement of an envelope.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ack {
    pub envelope_id: String,
    /// Response body for envelopes with `accepts_response_payload`; omitted otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<serde_json::Value>,
}

impl Ack {
    pub fn new(envelope_id: impl Into<String>) -> Self {
        Self {
            envelope_id: envelope_id.into(),
            payload: None,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising a String and an optional Value cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_carries_connection_time() {
        let frame = ParsedFrame::parse(
            br#"{"type":"hello","num_connections":2,"connection_info":{"app_id":"A1"},
                "debug_info":{"host":"applink-7","build_number":10,"approximate_connection_time":18060}}"#,
        )
        .unwrap();
        match frame {
            ParsedFrame::Hello {
                num_connections,
                approximate_connection_time,
                host,
            } => {
                assert_eq!(num_connections, Some(2));
                assert_eq!(approximate_connection_time, Some(18060));
                assert_eq!(host.as_deref(), Some("applink-7"));
            }
            other => panic!("expected hello, got {other:?}"),
        }
    }

    #[test]
    fn envelope_head_reads_ids_and_retry() {
        let frame = ParsedFrame::parse(
            br#"{"envelope_id":"e1","type":"events_api","accepts_response_payload":false,
                "retry_attempt":1,"retry_reason":"timeout",
                "payload":{"type":"event_callback","event_id":"Ev1","event":{"type":"message","text":"hi"}}}"#,
        )
        .unwrap();
        match frame {
            ParsedFrame::Envelope {
                envelope_id,
                kind,
                retry_attempt,
                retry_reason,
                event_id,
                ..
            } => {
                assert_eq!(envelope_id, "e1");
                assert_eq!(kind, EnvelopeKind::EventsApi);
                assert_eq!(retry_attempt, 1);
                assert_eq!(retry_reason.as_deref(), Some("timeout"));
                assert_eq!(event_id.as_deref(), Some("Ev1"));
            }
            other => panic!("expected envelope, got {other:?}"),
        }
    }

    #[test]
    fn unknown_envelope_type_is_kept() {
        let frame =
            ParsedFrame::parse(br#"{"envelope_id":"e2","type":"workflow_step","payload":{}}"#)
                .unwrap();
        assert!(matches!(
            frame,
            ParsedFrame::Envelope { kind: EnvelopeKind::Other(ref k), .. } if k == "workflow_step"
        ));
    }

    #[test]
    fn disconnect_reasons_map_and_unknown_is_other() {
        for (wire, want) in [
            ("warning", DisconnectReason::Warning),
            ("refresh_requested", DisconnectReason::RefreshRequested),
            ("link_disabled", DisconnectReason::LinkDisabled),
            ("too_many_websockets", DisconnectReason::TooManyWebsockets),
            (
                "server_maintenance",
                DisconnectReason::Other("server_maintenance".into()),
            ),
        ] {
            let text = format!(r#"{{"type":"disconnect","reason":"{wire}"}}"#);
            match ParsedFrame::parse(text.as_bytes()).unwrap() {
                ParsedFrame::Disconnect { reason } => assert_eq!(reason, want),
                other => panic!("expected disconnect, got {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_and_idless_frames_are_errors() {
        assert!(matches!(
            ParsedFrame::parse(b"{not json"),
            Err(FrameError::Malformed(_))
        ));
        assert!(matches!(
            ParsedFrame::parse(br#"{"type":"events_api","payload":{}}"#),
            Err(FrameError::MissingEnvelopeId { .. })
        ));
        assert!(matches!(
            ParsedFrame::parse(br#"[1,2,3]"#),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn ack_omits_empty_payload() {
        assert_eq!(Ack::new("e1").to_json(), r#"{"envelope_id":"e1"}"#);
        let with = Ack {
            envelope_id: "e1".into(),
            payload: Some(serde_json::json!({"text":"ok"})),
        };
        assert_eq!(
            with.to_json(),
            r#"{"envelope_id":"e1","payload":{"text":"ok"}}"#
        );
    }
}
