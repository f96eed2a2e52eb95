//! What a signed request to the request URL holds, read without I/O: a URL check, an SSL
//! check, a note that Slack is holding events back, or an envelope for the pipeline, made
//! into the frame Socket Mode would have carried (`events_api` from an `event_callback`,
//! `slash_commands` from a command's form, `interactive` from a form's `payload=`), so that
//! the journal, replay and the handlers read one shape whichever way it came.

use serde_json::Value;

/// What a request asks of the receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// `url_verification`: answer the challenge (saving the request URL in the settings).
    UrlVerification { challenge: String },
    /// `ssl_check=1`: Slack checking the certificate; a 200 and nothing else.
    SslCheck,
    /// `app_rate_limited`: Slack holds back this workspace's events for the minute named.
    RateLimited { team: String, minute: u64 },
    /// An envelope for the pipeline.
    Envelope(Delivery),
    /// Signed and well formed, of a type nonstop does not take: a 200 and a debug line.
    Other { kind: String },
}

/// An envelope's parts, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Socket Mode's name for it: `events_api`, `slash_commands` or `interactive`.
    pub(crate) kind: &'static str,
    /// The payload as JSON text (an object).
    pub(crate) payload: String,
    /// Whether the answer may carry a body for Slack (commands, view submissions, options).
    pub(crate) accepts_response_payload: bool,
}

/// Why a signed request could not be read; answered 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("the JSON body could not be read: {0}")]
    Json(String),
    #[error("the JSON body has no `type`")]
    NoType,
    #[error("a form with neither `command`, `payload` nor `ssl_check`")]
    UnknownForm,
    #[error("the form's `payload` is not a JSON object: {0}")]
    Payload(String),
    #[error("the body is neither JSON nor a form (content type {0:?})")]
    ContentType(String),
}

/// Reads a request's body by its content type (JSON for events, a form for the rest; a
/// body that starts with `{` is taken as JSON whatever the header says).
pub(crate) fn read(content_type: Option<&str>, body: &[u8]) -> Result<Incoming, Unreadable> {
    let media = content_type
        .and_then(|t| t.split(';').next())
        .map(|t| t.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let looks_like_json = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    if media == "application/json" || looks_like_json {
        read_json(body)
    } else if media == "application/x-www-form-urlencoded" || media.is_empty() {
        read_form(body)
    } else {
        Err(Unreadable::ContentType(media.chars().take(64).collect()))
    }
}

fn read_json(body: &[u8]) -> Result<Incoming, Unreadable> {
    let value: Value = serde_json::from_slice(body).map_err(|e| Unreadable::Json(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(Value::as_str)
        .ok_or(Unreadable::NoType)?;
    let text = |field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    Ok(match kind {
        "url_verification" => Incoming::UrlVerification {
            challenge: text("challenge"),
        },
        "event_callback" => Incoming::Envelope(Delivery {
            kind: "events_api",
            // Valid JSON, read above: the text itself goes on, as Slack sent it.
            payload: String::from_utf8_lossy(body).trim().to_owned(),
            accepts_response_payload: false,
        }),
        "app_rate_limited" => Incoming::RateLimited {
            team: text("team_id"),
            minute: value
                .get("minute_rate_limited")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        },
        other => Incoming::Other {
            kind: other.chars().take(64).collect(),
        },
    })
}

fn read_form(body: &[u8]) -> Result<Incoming, Unreadable> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if field("ssl_check").is_some() {
        return Ok(Incoming::SslCheck);
    }
    if let Some(payload) = field("payload") {
        let value: Value =
            serde_json::from_str(payload).map_err(|e| Unreadable::Payload(e.to_string()))?;
        let Some(kind) = value.get("type").and_then(Value::as_str) else {
            return Err(Unreadable::Payload("it has no `type`".to_owned()));
        };
        // Slack reads a body from these answers; from the others it takes only the 200.
        let accepts_response_payload = matches!(
            kind,
            "view_submission" | "block_suggestion" | "dialog_suggestion"
        );
        return Ok(Incoming::Envelope(Delivery {
            kind: "interactive",
            payload: payload.trim().to_owned(),
            accepts_response_payload,
        }));
    }
    if field("command").is_some() {
        let object: serde_json::Map<String, Value> = fields
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        return Ok(Incoming::Envelope(Delivery {
            kind: "slash_commands",
            payload: Value::Object(object).to_string(),
            accepts_response_payload: true,
        }));
    }
    Err(Unreadable::UnknownForm)
}

/// The id of the envelope a request becomes: a digest of its body, so that the same request
/// sent again (Slack's retry, or a replay) has the same id, and different ones never share
/// one. Events are deduplicated by their `event_id` besides.
pub(crate) fn envelope_id(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, body);
    format!("h-{}", crate::hex::encode(&digest.as_ref()[..16]))
}

/// The Socket Mode frame for `delivery`: what the journal keeps and replay reads back.
/// `retry` is Slack's `X-Slack-Retry-Num` and `X-Slack-Retry-Reason` (0 and `""` on a first
/// delivery).
pub(crate) fn frame(delivery: &Delivery, envelope_id: &str, retry: (u32, &str)) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    format!(
        r#"{{"envelope_id":{},"type":{},"accepts_response_payload":{},"retry_attempt":{},"retry_reason":{},"payload":{}}}"#,
        quote(envelope_id),
        quote(delivery.kind),
        delivery.accepts_response_payload,
        retry.0,
        quote(retry.1),
        delivery.payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nonstop_model::{EnvelopeKind, ParsedFrame};

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");

    fn delivery(incoming: Incoming) -> Delivery {
        match incoming {
            Incoming::Envelope(delivery) => delivery,
            other => panic!("not an envelope: {other:?}"),
        }
    }

    #[test]
    fn the_url_check_and_the_ssl_check_are_answered_not_journaled() {
        let body = br#"{"token":"t","challenge":"3eZbrw1aB","type":"url_verification"}"#;
        assert_eq!(
            read(JSON, body),
            Ok(Incoming::UrlVerification {
                challenge: "3eZbrw1aB".to_owned()
            })
        );
        assert_eq!(read(FORM, b"ssl_check=1&token=t"), Ok(Incoming::SslCheck));
    }

    #[test]
    fn an_event_callback_becomes_the_events_api_envelope_socket_mode_carries() {
        let body = br#"{"type":"event_callback","team_id":"T1","event_id":"Ev9","event":{"type":"app_mention","text":"hi","channel":"C1","ts":"1.2","user":"U1"}}"#;
        let delivery = delivery(read(JSON, body).unwrap());
        assert_eq!(delivery.kind, "events_api");
        let text = frame(&delivery, &envelope_id(body), (2, "http_timeout"));
        let ParsedFrame::Envelope {
            kind,
            event_id,
            retry_attempt,
            retry_reason,
            accepts_response_payload,
            ..
        } = ParsedFrame::parse(text.as_bytes()).unwrap()
        else {
            panic!("not an envelope: {text}");
        };
        assert_eq!(kind, EnvelopeKind::EventsApi);
        assert_eq!(event_id.as_deref(), Some("Ev9"));
        assert_eq!(
            (retry_attempt, retry_reason.as_deref()),
            (2, Some("http_timeout"))
        );
        assert!(!accepts_response_payload);
    }

    #[test]
    fn a_command_form_becomes_the_json_object_socket_mode_carries() {
        let body = b"token=t&team_id=T1&channel_id=C1&user_id=U1&command=%2Ftodo&text=buy+milk+%26+eggs&response_url=https%3A%2F%2Fhooks.slack.com%2Fx&trigger_id=1.2.3";
        let delivery = delivery(read(FORM, body).unwrap());
        assert_eq!(delivery.kind, "slash_commands");
        assert!(delivery.accepts_response_payload);
        let payload: Value = serde_json::from_str(&delivery.payload).unwrap();
        assert_eq!(payload["command"], "/todo");
        assert_eq!(payload["text"], "buy milk & eggs");
        assert_eq!(payload["response_url"], "https://hooks.slack.com/x");
    }

    #[test]
    fn interactions_come_in_the_payload_field_and_some_take_a_body() {
        let form = |payload: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", payload)
                .finish()
        };
        let click = form(r#"{"type":"block_actions","actions":[{"action_id":"done"}]}"#);
        let click = delivery(read(FORM, click.as_bytes()).unwrap());
        assert_eq!(click.kind, "interactive");
        assert!(!click.accepts_response_payload);
        for kind in ["view_submission", "block_suggestion"] {
            let body = form(&format!(r#"{{"type":"{kind}"}}"#));
            assert!(delivery(read(FORM, body.as_bytes()).unwrap()).accepts_response_payload);
        }
        assert!(matches!(
            read(FORM, form("[1,2]").as_bytes()),
            Err(Unreadable::Payload(_))
        ));
    }

    #[test]
    fn what_cannot_be_read_is_named() {
        assert!(matches!(read(JSON, b"{nope"), Err(Unreadable::Json(_))));
        assert_eq!(read(JSON, b"{}"), Err(Unreadable::NoType));
        assert_eq!(read(FORM, b"a=b"), Err(Unreadable::UnknownForm));
        assert!(matches!(
            read(Some("text/xml"), b"<x/>"),
            Err(Unreadable::ContentType(_))
        ));
        assert_eq!(
            read(
                JSON,
                br#"{"type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820}"#
            ),
            Ok(Incoming::RateLimited {
                team: "T1".to_owned(),
                minute: 1_518_467_820
            })
        );
    }

    #[test]
    fn the_same_body_has_the_same_envelope_id_and_another_body_another() {
        assert_eq!(envelope_id(b"a=1"), envelope_id(b"a=1"));
        assert_ne!(envelope_id(b"a=1"), envelope_id(b"a=2"));
        assert_eq!(envelope_id(b"a=1").len(), 34);
    }
}
