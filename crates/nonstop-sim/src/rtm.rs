//! RTM's side of the simulator (events go, bare, to every live RTM socket from `inject.rs`; RTM
//! has no acks and no redelivery: an event that finds no live socket is gone): what a client
//! sends over the socket (`ping`, `message`, `typing`) is answered as Slack does, with
//! `reply_to`: messages beyond Slack's pace get an error reply, and a client that keeps
//! going over is disconnected; with [`crate::Fault::ReorderReplies`], each message's
//! confirmation comes after the next frame's answer.

use serde_json::{json, Map, Value};
use tokio::time::Instant;

use crate::state::{PostedMessage, Shared};
use crate::MessageSpec;

/// Messages a client may send at once before Slack's pace of one a second applies, and the
/// refused messages in a row after which it is disconnected.
const MESSAGE_BURST: f64 = 5.0;
const OVER_LIMIT_DISCONNECT: u32 = 3;

/// One RTM socket's state: its message pace, and a confirmation held back to be sent out of
/// order.
#[derive(Debug)]
pub(crate) struct Session {
    tokens: f64,
    at: Instant,
    over: u32,
    held: Option<String>,
}

impl Session {
    pub(crate) fn new() -> Self {
        Self {
            tokens: MESSAGE_BURST,
            at: Instant::now(),
            over: 0,
            held: None,
        }
    }

    /// Takes one message's room: false when the client is over the pace.
    fn take(&mut self, now: Instant) -> bool {
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64()).min(MESSAGE_BURST);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            self.over = 0;
            true
        } else {
            self.over += 1;
            false
        }
    }
}

/// What the server does about one client frame.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    /// Frames to send, in order.
    pub(crate) replies: Vec<String>,
    /// The client went over the message pace once too often: disconnect it.
    pub(crate) disconnect: bool,
    /// End the socket abruptly, before sending `replies` ([`crate::Fault::DropBeforeReply`]).
    pub(crate) drop: bool,
}

/// The answer to one frame a client sent over RTM on the socket of `session`.
pub(crate) fn answer(shared: &Shared, session: &mut Session, text: &str) -> Answer {
    let is_message = serde_json::from_str::<Value>(text)
        .ok()
        .is_some_and(|f| f["type"] == "message");
    let mut answer = Answer::default();
    if is_message && !session.take(Instant::now()) {
        shared.lock().stats.rtm_rate_limited += 1;
        let id = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|f| f["id"].as_u64());
        answer.replies.push(error_reply(
            id,
            -1,
            "rate limited: more than one message a second",
        ));
        answer.disconnect = session.over >= OVER_LIMIT_DISCONNECT;
        return answer;
    }
    if is_message {
        let refuse = {
            let mut inner = shared.lock();
            let refuse = inner.faults.refuse_rtm_messages > 0;
            inner.faults.refuse_rtm_messages = inner.faults.refuse_rtm_messages.saturating_sub(1);
            refuse
        };
        if refuse {
            let id = serde_json::from_str::<Value>(text)
                .ok()
                .and_then(|f| f["id"].as_u64());
            answer.replies.push(error_reply(id, 2, "simulated refusal"));
            return answer;
        }
        let armed = shared.lock().faults.drop_before_reply.take();
        if let Some((posted, late_reply)) = armed {
            if posted {
                let reply = on_client_text(shared, text);
                if late_reply {
                    shared.lock().faults.late_rtm_reply = reply;
                }
            }
            answer.drop = true;
            return answer;
        }
    }
    let reply = on_client_text(shared, text);
    let reorder = shared.lock().faults.reorder_rtm_replies;
    match reply {
        Some(reply) if is_message && reorder && session.held.is_none() => {
            session.held = Some(reply);
        }
        Some(reply) => {
            answer.replies.push(reply);
            answer.replies.extend(session.held.take());
        }
        None => answer.replies.extend(session.held.take()),
    }
    answer
}

/// The answer to one frame a client sent over RTM, if it gets one.
fn on_client_text(shared: &Shared, text: &str) -> Option<String> {
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
        team: Some(shared.config.team_id.clone()),
        channel: channel.to_owned(),
        text: text.to_owned(),
        thread_ts: thread_ts.clone(),
        ts: ts.clone(),
        requested_at_ms: now,
        recorded_at_ms: now,
        metadata: None,
        over_rtm: true,
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

fn error_reply(id: Option<u64>, code: i32, msg: &str) -> String {
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

    fn message(id: u64) -> String {
        format!(r#"{{"id":{id},"type":"message","channel":"C1","text":"hi {id}"}}"#)
    }

    #[test]
    fn confirmations_can_come_out_of_order() {
        let shared = Shared::new(crate::SimConfig::default());
        shared.lock().faults.reorder_rtm_replies = true;
        let mut session = Session::new();
        assert!(answer(&shared, &mut session, &message(1))
            .replies
            .is_empty());
        let replies = answer(&shared, &mut session, &message(2)).replies;
        let ids: Vec<u64> = replies
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(r).unwrap()["reply_to"]
                    .as_u64()
                    .unwrap()
            })
            .collect();
        assert_eq!(ids, vec![2, 1]);
        // A held confirmation also goes out behind the next pong.
        assert!(answer(&shared, &mut session, &message(3))
            .replies
            .is_empty());
        let replies = answer(&shared, &mut session, r#"{"id":4,"type":"ping"}"#).replies;
        assert_eq!(replies.len(), 2);
    }

    #[test]
    fn more_than_a_message_a_second_is_refused_then_disconnected() {
        let shared = Shared::new(crate::SimConfig::default());
        let mut session = Session::new();
        for id in 1..=5 {
            let answered = answer(&shared, &mut session, &message(id));
            let reply: Value = serde_json::from_str(&answered.replies[0]).unwrap();
            assert_eq!(reply["ok"], true, "the burst is allowed");
        }
        let over = answer(&shared, &mut session, &message(6));
        let reply: Value = serde_json::from_str(&over.replies[0]).unwrap();
        assert_eq!(
            (reply["ok"].clone(), reply["reply_to"].clone()),
            (json!(false), json!(6))
        );
        assert!(!over.disconnect);
        assert!(!answer(&shared, &mut session, &message(7)).disconnect);
        assert!(answer(&shared, &mut session, &message(8)).disconnect);
        assert_eq!(shared.stats().rtm_rate_limited, 3);
        // Pings are not messages: never limited.
        let mut session = Session::new();
        for id in 1..=20 {
            let ping = format!(r#"{{"id":{id},"type":"ping"}}"#);
            assert!(!answer(&shared, &mut session, &ping).disconnect);
        }
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

    #[test]
    fn refused_messages_are_answered_ok_false_with_their_id_and_not_posted() {
        let shared = Shared::new(crate::SimConfig::default());
        let mut session = Session::new();
        shared.lock().faults.refuse_rtm_messages = 1;
        let refused = answer(&shared, &mut session, &message(4));
        let reply: Value = serde_json::from_str(&refused.replies[0]).unwrap();
        assert_eq!(
            (reply["ok"].clone(), reply["reply_to"].clone()),
            (json!(false), json!(4))
        );
        assert!(shared.lock().posted.is_empty());
        let next: Value =
            serde_json::from_str(&answer(&shared, &mut session, &message(5)).replies[0]).unwrap();
        assert_eq!(next["ok"], true);
    }

    #[test]
    fn a_message_can_be_taken_or_lost_before_its_socket_drops() {
        let shared = Shared::new(crate::SimConfig::default());
        let mut session = Session::new();
        shared.lock().faults.drop_before_reply = Some((false, false));
        let lost = answer(&shared, &mut session, &message(1));
        assert!(lost.drop && lost.replies.is_empty());
        assert!(shared.lock().posted.is_empty(), "lost on the way");
        // Armed once: the next message is confirmed as usual.
        assert!(!answer(&shared, &mut session, &message(2)).drop);
        shared.lock().faults.drop_before_reply = Some((true, true));
        let taken = answer(&shared, &mut session, &message(3));
        assert!(taken.drop && taken.replies.is_empty());
        let inner = shared.lock();
        assert_eq!(inner.posted.len(), 2, "taken before the drop");
        assert!(inner.posted.iter().all(|p| p.over_rtm));
        let late: Value =
            serde_json::from_str(inner.faults.late_rtm_reply.as_ref().unwrap()).unwrap();
        assert_eq!(
            (late["ok"].clone(), late["reply_to"].clone()),
            (json!(true), json!(3))
        );
    }
}
