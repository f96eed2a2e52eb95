//! A request: an envelope with its payload parsed, what listeners and middleware see.

use std::sync::{Arc, OnceLock};

use nonstop_model::{EnvelopeKind, MessageEvent};
use serde::Deserialize;
use serde_json::Value;

use crate::context::EventMeta;
use crate::envelope::Envelope;

/// An envelope with its payload parsed, as middleware sees it. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Request {
    pub envelope: Envelope,
    /// The envelope's `payload`: the `event_callback`, the slash command, or the interaction.
    pub payload: Arc<Value>,
    pub kind: RequestKind,
    /// The `message` / `app_mention` event, read once for every `hears` listener.
    message: Arc<OnceLock<Option<MessageEvent>>>,
}

/// What a request is, for routing and for middleware that only cares about some.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// An Events API event; `event_type` is the inner event's `type`.
    Event { event_type: String },
    /// A slash command, e.g. `/ticket`.
    Command { command: String },
    /// An interaction: `block_actions`, `view_submission`, `view_closed`, `shortcut`,
    /// `message_action`, `block_suggestion`, …
    Interaction { kind: String },
    /// An envelope type this version does not know; its payload is passed on as is.
    Other { kind: String },
}

impl Request {
    pub(crate) fn from_envelope(envelope: Envelope) -> Result<Self, serde_json::Error> {
        let payload = envelope.payload()?;
        let text = |v: &Value, key: &str| {
            v.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let kind = match &envelope.kind {
            EnvelopeKind::EventsApi => RequestKind::Event {
                event_type: payload
                    .get("event")
                    .map(|e| text(e, "type"))
                    .unwrap_or_default(),
            },
            EnvelopeKind::SlashCommands => RequestKind::Command {
                command: text(&payload, "command"),
            },
            EnvelopeKind::Interactive => RequestKind::Interaction {
                kind: text(&payload, "type"),
            },
            EnvelopeKind::Other(kind) => RequestKind::Other { kind: kind.clone() },
        };
        Ok(Self {
            envelope,
            payload: Arc::new(payload),
            kind,
            message: Arc::new(OnceLock::new()),
        })
    }

    /// The event as a message, for `message` and `app_mention` events; read once.
    pub fn message(&self) -> Option<&MessageEvent> {
        self.message
            .get_or_init(|| {
                let RequestKind::Event { event_type } = &self.kind else {
                    return None;
                };
                if event_type != "message" && event_type != "app_mention" {
                    return None;
                }
                MessageEvent::deserialize(self.event()?).ok()
            })
            .as_ref()
    }

    /// The inner event of an Events API request.
    pub fn event(&self) -> Option<&Value> {
        match self.kind {
            RequestKind::Event { .. } => self.payload.get("event"),
            _ => None,
        }
    }

    /// Where the request happened and who made it, whatever its kind.
    pub fn meta(&self) -> EventMeta {
        meta_of(self)
    }
}

pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(value, |v, key| v.get(key))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// The installation a request is for: its organization, its workspace, and whether Slack
/// sent it for an org-wide install. An event names it in `authorizations[0]` (else its
/// `team_id`/`enterprise_id`); a command in its fields (the flag as text); an interaction in
/// `team`, `enterprise` and `is_enterprise_install`.
pub(crate) fn installation_of(request: &Request) -> (Option<&str>, Option<&str>, bool) {
    let p = request.payload.as_ref();
    let flag = |v: Option<&Value>| match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    };
    match &request.kind {
        RequestKind::Event { .. } => {
            let first = p.get("authorizations").and_then(|a| a.get(0));
            match first {
                Some(a) => (
                    str_at(a, &["enterprise_id"]).or_else(|| str_at(p, &["enterprise_id"])),
                    str_at(a, &["team_id"]).or_else(|| str_at(p, &["team_id"])),
                    flag(a.get("is_enterprise_install")),
                ),
                None => (
                    str_at(p, &["enterprise_id"]),
                    str_at(p, &["team_id"]),
                    false,
                ),
            }
        }
        RequestKind::Command { .. } => (
            str_at(p, &["enterprise_id"]),
            str_at(p, &["team_id"]),
            flag(p.get("is_enterprise_install")),
        ),
        RequestKind::Interaction { .. } | RequestKind::Other { .. } => (
            str_at(p, &["enterprise", "id"]),
            str_at(p, &["team", "id"]).or_else(|| str_at(p, &["user", "team_id"])),
            flag(p.get("is_enterprise_install")),
        ),
    }
}

fn owned(value: Option<&str>) -> Option<String> {
    value.map(str::to_owned)
}

/// Team, channel, user, message and thread of a request, read from wherever its kind keeps
/// them.
fn meta_of(request: &Request) -> EventMeta {
    let p = request.payload.as_ref();
    match &request.kind {
        RequestKind::Event { .. } => {
            let event = p.get("event").unwrap_or(&Value::Null);
            EventMeta {
                team: owned(str_at(p, &["team_id"]).or_else(|| str_at(event, &["team"]))),
                channel: owned(
                    str_at(event, &["channel"])
                        .or_else(|| str_at(event, &["item", "channel"]))
                        .or_else(|| str_at(event, &["channel", "id"]))
                        .or_else(|| str_at(event, &["assistant_thread", "channel_id"])),
                ),
                user: owned(
                    str_at(event, &["user"])
                        .or_else(|| str_at(event, &["user", "id"]))
                        .or_else(|| str_at(event, &["assistant_thread", "user_id"])),
                ),
                ts: owned(str_at(event, &["ts"]).or_else(|| str_at(event, &["item", "ts"]))),
                thread_ts: owned(
                    str_at(event, &["thread_ts"])
                        .or_else(|| str_at(event, &["assistant_thread", "thread_ts"])),
                ),
                response_url: None,
                trigger_id: None,
            }
        }
        RequestKind::Command { .. } => EventMeta {
            team: owned(str_at(p, &["team_id"])),
            channel: owned(str_at(p, &["channel_id"])),
            user: owned(str_at(p, &["user_id"])),
            ts: None,
            thread_ts: None,
            response_url: owned(str_at(p, &["response_url"])),
            trigger_id: owned(str_at(p, &["trigger_id"])),
        },
        RequestKind::Interaction { .. } | RequestKind::Other { .. } => EventMeta {
            team: owned(str_at(p, &["team", "id"]).or_else(|| str_at(p, &["user", "team_id"]))),
            channel: owned(
                str_at(p, &["channel", "id"]).or_else(|| str_at(p, &["container", "channel_id"])),
            ),
            user: owned(str_at(p, &["user", "id"])),
            ts: owned(
                str_at(p, &["message", "ts"]).or_else(|| str_at(p, &["container", "message_ts"])),
            ),
            thread_ts: owned(str_at(p, &["message", "thread_ts"])),
            response_url: owned(str_at(p, &["response_url"]).or_else(|| {
                p.get("response_urls")?
                    .get(0)?
                    .get("response_url")?
                    .as_str()
            })),
            trigger_id: owned(str_at(p, &["trigger_id"])),
        },
    }
}
