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
    /// `hello` frames: how many sockets the app holds. Informative only, so read leniently
    /// (an odd value reads as `None`, never failing the frame), as are `debug_info`'s fields.
    #[serde(default, deserialize_with = "lenient")]
    pub num_connections: Option<u32>,
    /// `hello` and `disconnect` frames: server host and the connection's expected lifetime.
    #[serde(default, deserialize_with = "lenient")]
    pub debug_info: Option<DebugInfo>,
    /// Envelopes: only the ids inside the payload.
    #[serde(default)]
    pub payload: Option<PayloadHead>,
}

/// Diagnostic block on `hello` and `disconnect` frames.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct DebugInfo {
    #[serde(default, deserialize_with = "lenient")]
    pub host: Option<String>,
    /// Seconds Slack expects to keep this socket before refreshing it. Anything but a
    /// whole number of seconds (`1.5`, `-5`, `1e300`, `"abc"`) reads as `None`.
    #[serde(default, deserialize_with = "lenient")]
    pub approximate_connection_time: Option<u64>,
}

/// Reads an informative field without ever failing the frame: a value of another type or
/// out of range reads as `None`. A socket whose `hello` carried an odd lifetime is as live
/// as any other; refusing the whole frame left the bot deaf (issue 25).
fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(deserializer)?;
    Ok(serde_json::from_value(value).ok())
}

/// The informative fields of a `hello` that were there but could not be read (and so are
/// ignored), by name; read again from the frame, which comes once per socket.
fn odd_hello_fields(text: &[u8]) -> Vec<&'static str> {
    let Ok(serde_json::Value::Object(frame)) = serde_json::from_slice(text) else {
        return Vec::new();
    };
    let mut odd = Vec::new();
    let present = |v: Option<&serde_json::Value>| v.is_some_and(|v| !v.is_null());
    if present(frame.get("num_connections"))
        && frame
            .get("num_connections")
            .and_then(serde_json::Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .is_none()
    {
        odd.push("num_connections");
    }
    match frame.get("debug_info") {
        Some(serde_json::Value::Object(debug)) => {
            let time = debug.get("approximate_connection_time");
            if present(time) && time.and_then(serde_json::Value::as_u64).is_none() {
                odd.push("debug_info.approximate_connection_time");
            }
            let host = debug.get("host");
            if present(host) && !host.is_some_and(serde_json::Value::is_string) {
                odd.push("debug_info.host");
            }
        }
        Some(serde_json::Value::Null) | None => {}
        Some(_) => odd.push("debug_info"),
    }
    odd
}

/// The ids inside an envelope's payload, and who wrote the message it carries.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PayloadHead {
    /// Globally unique on `event_callback` payloads; the dedup key.
    #[serde(default)]
    pub event_id: Option<String>,
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// `event_callback` payloads: the inner event's head.
    #[serde(default)]
    pub event: Option<EventHead>,
}

/// Of an inner event, what tells whether the bot itself wrote it: a bot hears its own
/// messages (and their edits) and must drop them before they cost a journal write.
///
/// Read leniently: `user` is an object in `user_change` events and `message` may be
/// anything in events we do not know, and none of that may fail the frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventHead {
    pub kind: Option<String>,
    pub user: Option<String>,
    pub bot_id: Option<String>,
    /// `message_changed` and `message_deleted`: the author of the message itself.
    pub message_user: Option<String>,
    pub message_bot_id: Option<String>,
    /// Where and when: with `ts`, a message is known by `channel` and `ts` on every path it
    /// can arrive by (Socket Mode, RTM, `conversations.history`).
    pub channel: Option<String>,
    pub ts: Option<String>,
}

impl EventHead {
    /// `msg:<channel>:<ts>` for a `message` event: the same key whichever way the message
    /// came (an envelope's `event_id` differs from RTM's frame and from history), so that a
    /// message fetched again after downtime is known for one already handled.
    pub fn message_key(&self) -> Option<String> {
        if self.kind.as_deref() != Some("message") {
            return None;
        }
        let channel = self.channel.as_deref().filter(|c| !c.is_empty())?;
        let ts = self.ts.as_deref().filter(|t| !t.is_empty())?;
        Some(format!("msg:{channel}:{ts}"))
    }

    /// The author of a `message` or `app_mention` event: (user, bot_id). `None` for other
    /// events, whose `user` is the one who acted, not a message's author.
    pub fn message_author(&self) -> Option<(Option<&str>, Option<&str>)> {
        if !matches!(self.kind.as_deref(), Some("message" | "app_mention")) {
            return None;
        }
        fn non_empty(s: &Option<String>) -> Option<&str> {
            s.as_deref().filter(|s| !s.is_empty())
        }
        Some((
            non_empty(&self.user).or(non_empty(&self.message_user)),
            non_empty(&self.bot_id).or(non_empty(&self.message_bot_id)),
        ))
    }
}

/// Visitor methods that take any JSON value other than the ones a visitor reads, and yield
/// `$empty` for it: the lenient readers below never fail a frame over an odd field.
macro_rules! anything_else_is {
    ($value:ty, $empty:expr) => {
        fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<$value, E> {
            Ok($empty)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<$value, A::Error> {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            Ok($empty)
        }
    };
}

/// A string where the wire has one, nothing (and no error) where it has anything else.
struct LooseString(Option<String>);

impl<'de> Deserialize<'de> for LooseString {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = LooseString;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<LooseString, E> {
                Ok(LooseString(Some(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<LooseString, E> {
                Ok(LooseString(Some(v)))
            }
            anything_else_is!(LooseString, LooseString(None));
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<LooseString, A::Error> {
                while map
                    .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                    .is_some()
                {}
                Ok(LooseString(None))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl<'de> Deserialize<'de> for EventHead {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = EventHead;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<EventHead, A::Error> {
                let mut head = EventHead::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match key.as_ref() {
                        "type" => head.kind = map.next_value::<LooseString>()?.0,
                        "user" => head.user = map.next_value::<LooseString>()?.0,
                        "bot_id" => head.bot_id = map.next_value::<LooseString>()?.0,
                        "channel" => head.channel = map.next_value::<LooseString>()?.0,
                        "ts" => head.ts = map.next_value::<LooseString>()?.0,
                        // An edit's message is read the same lenient way.
                        "message" => {
                            let message = map.next_value::<EventHead>()?;
                            head.message_user = message.user;
                            head.message_bot_id = message.bot_id;
                        }
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(head)
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<EventHead, E> {
                Ok(EventHead::default())
            }
            anything_else_is!(EventHead, EventHead::default());
        }
        deserializer.deserialize_any(Visitor)
    }
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
            other => Self::Other(printable(other)),
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

/// Longest peer-chosen name kept (a reason, a type, a host); the rest is cut.
const PRINTABLE_CHARS: usize = 200;

/// A string the peer chose, made safe to log and show: control characters (newlines that
/// would forge a second log line, escape sequences a terminal would obey) written as escapes,
/// at most 200 characters.
pub fn printable(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(PRINTABLE_CHARS));
    for c in text.chars().take(PRINTABLE_CHARS) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
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
            other => Self::Other(printable(other)),
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
// The envelope variant is the large one and by far the most frequent; a frame is parsed,
// moved once into an `Envelope` and dropped, never stored in bulk, so boxing its event head
// would add an allocation per envelope to save nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum ParsedFrame {
    Hello {
        num_connections: Option<u32>,
        approximate_connection_time: Option<u64>,
        host: Option<String>,
        /// Fields that were there but could not be read, ignored: worth a warning, not the
        /// socket.
        ignored: Vec<&'static str>,
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
        /// `payload.event`'s head, for Events API envelopes.
        event: Option<EventHead>,
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
    /// An envelope whose id can be read but whose other fields cannot (a payload that is a
    /// string, a `retry_attempt` of -1, an `event_id` that is a number): it can be acked, so
    /// Slack stops sending it, and recorded as failed with `detail`.
    UnreadableEnvelope {
        envelope_id: String,
        kind: String,
        detail: String,
    },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Malformed(detail) => write!(f, "malformed frame: {detail}"),
            Self::MissingEnvelopeId { kind } => {
                write!(f, "envelope of type {kind:?} has no envelope_id")
            }
            Self::UnreadableEnvelope {
                envelope_id,
                kind,
                detail,
            } => write!(
                f,
                "envelope {envelope_id} of type {kind:?} could not be read: {detail}"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

impl ParsedFrame {
    /// The error for a frame whose head did not read: an envelope whose id still reads, or
    /// a malformed frame.
    fn unreadable(text: &[u8], detail: String) -> FrameError {
        #[derive(Deserialize)]
        struct Minimal {
            #[serde(rename = "type")]
            kind: String,
            envelope_id: String,
        }
        match serde_json::from_slice::<Minimal>(text) {
            Ok(Minimal { kind, envelope_id })
                if !envelope_id.is_empty() && !matches!(kind.as_str(), "hello" | "disconnect") =>
            {
                FrameError::UnreadableEnvelope {
                    envelope_id,
                    kind,
                    detail,
                }
            }
            _ => FrameError::Malformed(detail),
        }
    }

    /// Whether `text` is a JSON object whose `type` is `hello`, whatever else it holds.
    fn is_hello(text: &[u8]) -> bool {
        #[derive(Deserialize)]
        struct Kind {
            #[serde(rename = "type")]
            kind: String,
        }
        serde_json::from_slice::<Kind>(text).is_ok_and(|k| k.kind == "hello")
    }

    /// Classifies a text frame by reading its head only.
    pub fn parse(text: &[u8]) -> Result<Self, FrameError> {
        let head: FrameHead = match serde_json::from_slice(text) {
            Ok(head) => head,
            Err(e) => {
                // A hello whose other fields are odd (an envelope field of the wrong type,
                // say) is still a hello: the socket is live.
                if Self::is_hello(text) {
                    return Ok(Self::Hello {
                        num_connections: None,
                        approximate_connection_time: None,
                        host: None,
                        ignored: vec!["every field but type"],
                    });
                }
                return Err(Self::unreadable(text, e.to_string()));
            }
        };
        Ok(match head.kind.as_str() {
            "hello" => {
                let debug = head.debug_info.unwrap_or_default();
                Self::Hello {
                    num_connections: head.num_connections,
                    approximate_connection_time: debug.approximate_connection_time,
                    host: debug.host.as_deref().map(printable),
                    ignored: odd_hello_fields(text),
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
                        .as_ref()
                        .and_then(|p| p.event_id.clone())
                        .filter(|id| !id.is_empty()),
                    event: head.payload.and_then(|p| p.event),
                },
                None if matches!(kind, "events_api" | "slash_commands" | "interactive") => {
                    return Err(FrameError::MissingEnvelopeId {
                        kind: kind.to_owned(),
                    })
                }
                None => Self::Unknown {
                    kind: printable(kind),
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
    fn an_envelope_whose_id_reads_but_payload_does_not_can_still_be_acked() {
        for frame in [
            r#"{"envelope_id":"e1","type":"events_api","payload":"a string"}"#,
            r#"{"envelope_id":"e1","type":"events_api","retry_attempt":-1,"payload":{}}"#,
            r#"{"envelope_id":"e1","type":"events_api","retry_attempt":"1","payload":{}}"#,
            r#"{"envelope_id":"e1","type":"events_api","payload":{"event_id":7}}"#,
        ] {
            match ParsedFrame::parse(frame.as_bytes()) {
                Err(FrameError::UnreadableEnvelope {
                    envelope_id, kind, ..
                }) => assert_eq!((envelope_id.as_str(), kind.as_str()), ("e1", "events_api")),
                other => panic!("{frame}: {other:?}"),
            }
        }
        assert!(matches!(
            ParsedFrame::parse(br#"{"type":"events_api","envelope_id":"#),
            Err(FrameError::Malformed(_))
        ));
    }

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
                ignored,
            } => {
                assert_eq!(num_connections, Some(2));
                assert_eq!(approximate_connection_time, Some(18060));
                assert_eq!(host.as_deref(), Some("applink-7"));
                assert!(ignored.is_empty(), "{ignored:?}");
            }
            other => panic!("not hello: {other:?}"),
        }
    }

    /// Issue 25: a hello whose lifetime was `1.5`, `1e300`, `-5` or `"abc"` was refused
    /// whole, and every socket ended as `hello_timeout` while the bot stayed deaf. Odd
    /// informative fields are ignored and named; the hello stands.
    #[test]
    fn a_hello_with_odd_fields_is_a_hello_with_those_fields_ignored() {
        for (time, odd) in [
            ("1.5", true),
            ("1e300", true),
            ("-5", true),
            (r#""abc""#, true),
            ("null", false),
            ("{}", true),
            ("18446744073709551616", true),
        ] {
            let frame = format!(
                r#"{{"type":"hello","num_connections":1,"debug_info":{{"host":"h","approximate_connection_time":{time}}}}}"#
            );
            match ParsedFrame::parse(frame.as_bytes()) {
                Ok(ParsedFrame::Hello {
                    num_connections,
                    approximate_connection_time,
                    host,
                    ignored,
                }) => {
                    assert_eq!(approximate_connection_time, None, "{time}");
                    assert_eq!((num_connections, host.as_deref()), (Some(1), Some("h")));
                    let expected: &[&str] = if odd {
                        &["debug_info.approximate_connection_time"]
                    } else {
                        &[]
                    };
                    assert_eq!(ignored, expected, "{time}");
                }
                other => panic!("{time}: not a hello: {other:?}"),
            }
        }
        for (frame, odd) in [
            (
                r#"{"type":"hello","num_connections":-1}"#,
                "num_connections",
            ),
            (r#"{"type":"hello","debug_info":"x"}"#, "debug_info"),
            (
                r#"{"type":"hello","debug_info":{"host":7}}"#,
                "debug_info.host",
            ),
            (
                r#"{"type":"hello","retry_attempt":-1}"#,
                "every field but type",
            ),
        ] {
            match ParsedFrame::parse(frame.as_bytes()) {
                Ok(ParsedFrame::Hello { ignored, .. }) => assert_eq!(ignored, [odd], "{frame}"),
                other => panic!("{frame}: not a hello: {other:?}"),
            }
        }
    }

    #[test]
    fn peer_chosen_names_cannot_forge_log_lines_or_drive_a_terminal() {
        let frame = "{\"type\":\"disconnect\",\"reason\":\"x\\n2026-01-01T00:00:00Z  WARN forged\\u001b[31m\"}";
        match ParsedFrame::parse(frame.as_bytes()) {
            Ok(ParsedFrame::Disconnect { reason }) => {
                let shown = reason.to_string();
                assert!(!shown.chars().any(char::is_control), "{shown:?}");
                assert_eq!(shown, "x\\n2026-01-01T00:00:00Z  WARN forged\\u{1b}[31m");
            }
            other => panic!("not a disconnect: {other:?}"),
        }
    }

    fn event_head(event: &str) -> Option<EventHead> {
        let text = format!(
            r#"{{"envelope_id":"e1","type":"events_api","payload":{{"type":"event_callback","event_id":"Ev1","event":{event}}}}}"#
        );
        match ParsedFrame::parse(text.as_bytes()) {
            Ok(ParsedFrame::Envelope { event, .. }) => event,
            other => panic!("{event}: expected an envelope, got {other:?}"),
        }
    }

    #[test]
    fn event_head_names_the_author_of_messages_only() {
        let author = |event: &str| {
            event_head(event).and_then(|h| {
                h.message_author()
                    .map(|(u, b)| (u.map(str::to_owned), b.map(str::to_owned)))
            })
        };
        let pair =
            |u: Option<&str>, b: Option<&str>| Some((u.map(str::to_owned), b.map(str::to_owned)));
        assert_eq!(
            author(r#"{"type":"message","user":"U1","text":"hi","bot_id":"B1"}"#),
            pair(Some("U1"), Some("B1"))
        );
        assert_eq!(
            author(r#"{"type":"app_mention","user":"U2","text":"<@U0> hi"}"#),
            pair(Some("U2"), None)
        );
        // An edit: the author is the edited message's.
        assert_eq!(
            author(
                r#"{"type":"message","subtype":"message_changed","message":{"user":"U3","bot_id":"B3","text":"x"}}"#
            ),
            pair(Some("U3"), Some("B3"))
        );
        // Not a message: whoever acted is not an author.
        assert_eq!(author(r#"{"type":"reaction_added","user":"U4"}"#), None);
    }

    #[test]
    fn event_head_never_fails_a_frame_over_odd_fields() {
        // `user` is an object in user_change; `message` might be anything.
        let head = event_head(r#"{"type":"user_change","user":{"id":"U1","name":"x"}}"#).unwrap();
        assert_eq!(head.user, None);
        assert_eq!(head.kind.as_deref(), Some("user_change"));
        for odd in [
            r#"{"type":"message","message":"text","user":7}"#,
            r#"{"type":"message","message":[1,{"user":"U1"}],"user":null,"bot_id":true}"#,
            r#"{"type":1.5,"user":[],"bot_id":{"a":[{}]}}"#,
            r#""a string""#,
            r#"[1,2]"#,
            r#"null"#,
        ] {
            let head = event_head(odd).unwrap_or_default();
            assert_eq!(head.message_author().and_then(|(u, _)| u), None, "{odd}");
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
