//! RTM's side of the simulator: every event goes, bare, to every live RTM socket (RTM has no
//! acks and no redelivery: an event that finds no live socket is gone), and what a client
//! sends over the socket (`ping`, `message`, `typing`) is answered as Slack does, with
//! `reply_to`.

use serde_json::{json, Map, Value};

use crate::state::{PostedMessage, Shared, SocketCommand};
use crate::MessageSpec;

/// Sends `event` to every live RTM socket. Counts the sends, or the miss when none is live
/// and an RTM socket was ever open.
pub(crate) fn broadcast(shared: &Shared, event: &Value) {
    let mut inner = shared.lock();
    if inner.stats.rtm_sockets_opened == 0 {
        return;
    }
    let text = event.to_string();
    let mut sent = 0;
    for socket in inner.sockets.values().filter(|s| s.live && s.rtm) {
        // A full queue behaves like a lost frame, as on a real socket that fell behind.
        if socket
            .commands
            .try_send(SocketCommand::Text(text.clone()))
            .is_ok()
        {
            sent += 1;
        }
    }
    if sent == 0 {
        inner.stats.rtm_events_missed += 1;
    }
    inner.stats.rtm_events_sent += sent;
}

/// The answer to one frame a client sent over RTM, if it gets one.
pub(crate) fn on_client_text(shared: &Shared, text: &str) -> Option<String> {
    let Ok(Value::Object(frame)) = serde_json::from_str::<Value>(text) else {
        shared.lock().stats.other_client_frames += 1;
        return Some(error_reply(None, 1, "could not parse the frame"));
    };
    let id = frame.get("id").and_then(Value::as_u64).filter(|id| *id > 0);
    let kind = frame.get("type").and_then(Value::as_str).unwrap_or("");
    let Some(id) = id else {
        shared.lock().stats.other_client_frames += 1;
        return Some(error_reply(
            None,
            1,
            "every frame needs a positive integer id",
        ));
    };
    match kind {
        "ping" => Some(pong(id, &frame)),
        "typing" => None,
        "message" => Some(post(shared, id, &frame)),
        _ => {
            shared.lock().stats.other_client_frames += 1;
            Some(error_reply(Some(id), 3, "unsupported type"))
        }
    }
}

/// `{"reply_to":id,"type":"pong"}` with the ping's other flat fields echoed, as Slack does.
fn pong(id: u64, frame: &Map<String, Value>) -> String {
    let mut pong = Map::new();
    for (key, value) in frame {
        if key != "id" && key != "type" && !value.is_object() && !value.is_array() {
            pong.insert(key.clone(), value.clone());
        }
    }
    pong.insert("reply_to".into(), id.into());
    pong.insert("type".into(), "pong".into());
    Value::Object(pong).to_string()
}

/// A message the bot sends over the socket: posted as `chat.postMessage` would, confirmed
/// with its `ts`.
fn post(shared: &Shared, id: u64, frame: &Map<String, Value>) -> String {
    let channel = frame.get("channel").and_then(Value::as_str).unwrap_or("");
    let text = frame.get("text").and_then(Value::as_str).unwrap_or("");
    if channel.is_empty() {
        return error_reply(Some(id), 2, "channel is missing");
    }
    if text.is_empty() {
        return error_reply(Some(id), 2, "message text is missing");
    }
    let thread_ts = frame
        .get("thread_ts")
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    let ts = shared.next_ts();
    let now = crate::state::unix_ms();
    shared.lock().posted.push(PostedMessage {
        channel: channel.to_owned(),
        text: text.to_owned(),
        thread_ts: thread_ts.clone(),
        ts: ts.clone(),
        requested_at_ms: now,
        recorded_at_ms: now,
        metadata: None,
    });
    shared.notify();
    let config = &shared.config;
    if config.echo_bot_messages {
        crate::enqueue_message(
            shared,
            &MessageSpec {
                channel: channel.to_owned(),
                user: config.bot_user_id.clone(),
                text: text.to_owned(),
                thread_ts,
            },
            Some(config.bot_id.clone()),
            Some(ts.clone()),
        );
    }
    json!({"ok": true, "reply_to": id, "ts": ts, "text": text}).to_string()
}

fn error_reply(id: Option<u64>, code: u32, msg: &str) -> String {
    let mut reply = json!({"ok": false, "error": {"code": code, "msg": msg}});
    if let Some(id) = id {
        reply["reply_to"] = id.into();
    }
    reply.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_is_answered_with_its_fields() {
        let shared = Shared::new(crate::SimConfig::default());
        let reply = on_client_text(&shared, r#"{"id":9,"type":"ping","time":1403299273342}"#);
        let reply: Value = serde_json::from_str(&reply.unwrap()).unwrap();
        assert_eq!(
            reply,
            json!({"reply_to": 9, "type": "pong", "time": 1403299273342u64})
        );
    }

    #[test]
    fn a_message_without_text_is_refused_with_its_id() {
        let shared = Shared::new(crate::SimConfig::default());
        let reply = on_client_text(&shared, r#"{"id":7,"type":"message","channel":"C1"}"#);
        let reply: Value = serde_json::from_str(&reply.unwrap()).unwrap();
        assert_eq!(reply["ok"], false);
        assert_eq!(reply["reply_to"], 7);
        assert_eq!(reply["error"]["msg"], "message text is missing");
    }
}
