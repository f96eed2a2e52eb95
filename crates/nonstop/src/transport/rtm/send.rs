//! Messages the bot sends over its RTM sockets: `{"id":N,"type":"message",…}` frames, each
//! confirmed by a `reply_to` frame with the message's `ts`. This is the outbox's
//! [`SocketRoute`] on RTM: the app hands it to the outbox, which knows no transport.
//!
//! One [`RtmSends`] serves all of the bot's RTM sockets. Ids come from one counter for the
//! whole process (unique per connection, as RTM asks, and unique across connections too), so
//! a confirmation that arrives late on another socket, as Slack may send the last one after a
//! reconnect, still names its message. Confirmations are matched by id in any order. The
//! bot's own message coming back as an event is a confirmation too: it proves the message
//! landed when the socket died before its `reply_to`.
//!
//! Sending never waits for room: with no live socket, over RTM's pace of one message a second,
//! or too large for a frame, [`RtmSends::send`] says so at once and the outbox posts the answer
//! with `chat.postMessage` instead.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::outbox::{PlainMessage, SocketRoute, SocketSendError};

/// RTM disconnects a client that sends a frame larger than 16 KB.
pub(crate) const MAX_FRAME_BYTES: usize = 16 * 1024;
/// RTM allows one message a second, sustained; going over earns an error, then a disconnect.
pub(crate) const PACE: Duration = Duration::from_secs(1);
/// Frames waiting for one socket's writer.
pub(crate) const SOCKET_QUEUE: usize = 16;
/// Confirmed `ts` remembered, so that a late echo of a message confirmed already is not taken
/// for the confirmation of another with the same text.
const REMEMBERED: usize = 256;

/// One message sent and not confirmed yet.
struct Waiting {
    channel: String,
    text: String,
    reply: oneshot::Sender<Result<String, SocketSendError>>,
}

#[derive(Default)]
struct State {
    /// Live sockets' writers, oldest first; a message goes over the newest.
    sockets: Vec<(u64, mpsc::Sender<Message>)>,
    waiting: HashMap<u64, Waiting>,
    /// When the next message may go, by RTM's pace.
    next_at: Option<Instant>,
    confirmed: VecDeque<String>,
}

/// The bot's way to send over whichever RTM socket is live. Shared by the sockets (which
/// attach themselves, and hand in confirmations and the bot's own messages) and the outbox's
/// sender (which sends).
pub(crate) struct RtmSends {
    ids: AtomicU64,
    /// How long a sent message waits for its confirmation before it counts as unconfirmed:
    /// long enough for a dead socket to be found and replaced, and a late `reply_to` to come.
    confirm_within: Duration,
    /// std Mutex: short updates, never held across an await.
    state: Mutex<State>,
}

impl std::fmt::Debug for RtmSends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtmSends")
            .field("confirm_within", &self.confirm_within)
            .finish_non_exhaustive()
    }
}

impl RtmSends {
    pub(crate) fn new(confirm_within: Duration) -> Self {
        Self {
            ids: AtomicU64::new(0),
            confirm_within,
            state: Mutex::new(State::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The next frame id: pings and messages of every socket share the sequence.
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// A socket said `hello`: messages may go over it, until [`Attached`] is dropped.
    pub(crate) fn attach(&self, connection: u64, writer: mpsc::Sender<Message>) -> Attached<'_> {
        self.lock().sockets.push((connection, writer));
        Attached {
            sends: self,
            connection,
        }
    }

    /// Sends `message` over the newest live socket and waits for Slack's confirmation: the
    /// message's `ts`. Fails at once, having sent nothing, when no socket is live, RTM's
    /// pace has no room, or the frame is too large.
    pub(crate) async fn send(&self, message: &PlainMessage) -> Result<String, SocketSendError> {
        let id = self.next_id();
        let frame = frame(message, id);
        if frame.len() > MAX_FRAME_BYTES {
            return Err(SocketSendError::TooLarge { bytes: frame.len() });
        }
        let (reply, confirmation) = oneshot::channel();
        {
            let mut state = self.lock();
            let Some((_, writer)) = state.sockets.last() else {
                return Err(SocketSendError::NoSocket);
            };
            let writer = writer.clone();
            let now = Instant::now();
            if let Some(next_at) = state.next_at.filter(|at| *at > now) {
                return Err(SocketSendError::Paced {
                    wait: next_at - now,
                });
            }
            if writer.try_send(Message::Text(frame.into())).is_err() {
                return Err(SocketSendError::SocketBusy);
            }
            state.next_at = Some(now + PACE);
            state.waiting.insert(
                id,
                Waiting {
                    channel: message.channel.clone(),
                    text: message.text.clone(),
                    reply,
                },
            );
        }
        let waited = tokio::time::timeout(self.confirm_within, confirmation).await;
        // Gone from `waiting` when answered; otherwise taken out here.
        self.lock().waiting.remove(&id);
        match waited {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) | Err(_) => Err(SocketSendError::Unconfirmed {
                waited: self.confirm_within,
            }),
        }
    }

    /// A `reply_to` frame from any socket: true when it confirmed or refused a message we
    /// sent (a pong, or the late reply to a message no longer waited for, is not).
    pub(crate) fn on_reply(&self, frame: &Value) -> bool {
        let Some(id) = frame.get("reply_to").and_then(Value::as_u64) else {
            return false;
        };
        let mut state = self.lock();
        let Some(waiting) = state.waiting.remove(&id) else {
            return false;
        };
        let answer = if frame.get("ok").and_then(Value::as_bool) == Some(true) {
            match frame.get("ts").and_then(Value::as_str) {
                Some(ts) => {
                    remember(&mut state.confirmed, ts);
                    Ok(ts.to_owned())
                }
                None => Err(SocketSendError::Refused {
                    code: 0,
                    msg: "confirmation without a ts".to_owned(),
                }),
            }
        } else {
            let error = &frame["error"];
            Err(SocketSendError::Refused {
                code: error["code"].as_i64().unwrap_or(0),
                msg: nonstop_model::printable(error["msg"].as_str().unwrap_or("no message")),
            })
        };
        let _ = waiting.reply.send(answer);
        true
    }

    /// The bot's own message came back as an event: the message waiting for confirmation
    /// with the same channel and text (the oldest such) landed, with this `ts`.
    pub(crate) fn on_own_message(&self, event: &Value) {
        let field = |name: &str| event.get(name).and_then(Value::as_str);
        let (Some(channel), Some(text), Some(ts)) = (field("channel"), field("text"), field("ts"))
        else {
            return;
        };
        let mut state = self.lock();
        if state.waiting.is_empty() || state.confirmed.iter().any(|c| c == ts) {
            return;
        }
        let Some(id) = state
            .waiting
            .iter()
            .filter(|(_, w)| w.channel == channel && w.text == text)
            .map(|(id, _)| *id)
            .min()
        else {
            return;
        };
        if let Some(waiting) = state.waiting.remove(&id) {
            remember(&mut state.confirmed, ts);
            let _ = waiting.reply.send(Ok(ts.to_owned()));
        }
    }

    /// The `ts` of messages confirmed lately: taken by answers already, so never the one a
    /// lookup by text is after.
    pub(crate) fn confirmed(&self) -> Vec<String> {
        self.lock().confirmed.iter().cloned().collect()
    }
}

fn remember(confirmed: &mut VecDeque<String>, ts: &str) {
    if confirmed.len() == REMEMBERED {
        confirmed.pop_front();
    }
    confirmed.push_back(ts.to_owned());
}

/// A socket's place among those messages may go over; leaving when dropped (the socket task
/// ended, however it ended). Messages it carried keep waiting for a late confirmation.
pub(crate) struct Attached<'a> {
    sends: &'a RtmSends,
    connection: u64,
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        let connection = self.connection;
        self.sends
            .lock()
            .sockets
            .retain(|(attached, _)| *attached != connection);
    }
}

impl SocketRoute for RtmSends {
    fn send<'a>(
        &'a self,
        message: &'a PlainMessage,
    ) -> Pin<Box<dyn Future<Output = Result<String, SocketSendError>> + Send + 'a>> {
        Box::pin(RtmSends::send(self, message))
    }

    fn confirmed(&self) -> Vec<String> {
        RtmSends::confirmed(self)
    }
}

/// The frame that sends `message` with `id`.
fn frame(message: &PlainMessage, id: u64) -> String {
    let mut frame =
        json!({"id": id, "type": "message", "channel": message.channel, "text": message.text});
    if let Some(thread) = &message.thread_ts {
        frame["thread_ts"] = thread.clone().into();
    }
    frame.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn plain(channel: &str, text: &str) -> PlainMessage {
        PlainMessage {
            channel: channel.into(),
            text: text.into(),
            thread_ts: None,
        }
    }

    /// A socket's writer, and what it was given to send.
    fn socket(sends: &RtmSends, connection: u64) -> (Attached<'_>, mpsc::Receiver<Message>) {
        let (tx, rx) = mpsc::channel(SOCKET_QUEUE);
        (sends.attach(connection, tx), rx)
    }

    fn sent_id(frame: Message) -> u64 {
        let frame: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
        frame["id"].as_u64().unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn confirmations_are_matched_by_id_in_any_order() {
        let sends = Arc::new(RtmSends::new(Duration::from_secs(10)));
        let (_live, mut frames) = socket(&sends, 1);
        let first = tokio::spawn({
            let sends = Arc::clone(&sends);
            async move { sends.send(&plain("C1", "one")).await }
        });
        let a = sent_id(frames.recv().await.unwrap());
        tokio::time::advance(PACE).await;
        let second = tokio::spawn({
            let sends = Arc::clone(&sends);
            async move { sends.send(&plain("C1", "two")).await }
        });
        let b = sent_id(frames.recv().await.unwrap());
        assert_ne!(a, b);
        // Second confirmed first.
        assert!(sends.on_reply(&json!({"ok": true, "reply_to": b, "ts": "2.0"})));
        assert!(sends.on_reply(&json!({"ok": true, "reply_to": a, "ts": "1.0"})));
        assert_eq!(second.await.unwrap(), Ok("2.0".to_owned()));
        assert_eq!(first.await.unwrap(), Ok("1.0".to_owned()));
        // A pong is not ours.
        assert!(!sends.on_reply(&json!({"type": "pong", "reply_to": 999})));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_a_typed_error() {
        let sends = Arc::new(RtmSends::new(Duration::from_secs(10)));
        let (_live, mut frames) = socket(&sends, 1);
        let sent = tokio::spawn({
            let sends = Arc::clone(&sends);
            async move { sends.send(&plain("C1", "hi")).await }
        });
        let id = sent_id(frames.recv().await.unwrap());
        sends.on_reply(&json!({"ok": false, "reply_to": id, "error": {"code": 2, "msg": "message text is missing"}}));
        let refused = sent.await.unwrap().unwrap_err();
        assert_eq!(
            refused,
            SocketSendError::Refused {
                code: 2,
                msg: "message text is missing".into()
            }
        );
        assert!(refused.not_posted());
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_is_sent_without_a_socket_room_in_the_pace_or_a_small_enough_frame() {
        let sends = RtmSends::new(Duration::from_secs(10));
        assert_eq!(
            sends.send(&plain("C1", "hi")).await,
            Err(SocketSendError::NoSocket)
        );
        let (_live, mut frames) = socket(&sends, 1);
        // 4,000 characters, each escaped to six bytes (`\u0001`): over 16 KB.
        let huge = plain("C1", &"\u{1}".repeat(4000));
        let too_large = sends.send(&huge).await.unwrap_err();
        assert!(
            matches!(too_large, SocketSendError::TooLarge { bytes } if bytes > MAX_FRAME_BYTES)
        );
        assert!(frames.try_recv().is_err(), "nothing went out");
        let one = plain("C1", "one");
        let first = sends.send(&one);
        tokio::pin!(first);
        assert!(futures_util::FutureExt::now_or_never(first.as_mut()).is_none());
        // Within the second: no room.
        let paced = sends.send(&plain("C1", "two")).await.unwrap_err();
        assert!(matches!(paced, SocketSendError::Paced { wait } if wait <= PACE));
        assert_eq!(frames.len(), 1, "only the first went out");
    }

    #[tokio::test(start_paused = true)]
    async fn a_socket_that_dies_leaves_its_message_to_a_late_reply_the_echo_or_the_timeout() {
        let sends = Arc::new(RtmSends::new(Duration::from_secs(10)));
        let (old, mut frames) = socket(&sends, 1);
        let send = |text: &'static str| {
            let sends = Arc::clone(&sends);
            tokio::spawn(async move { sends.send(&plain("C1", text)).await })
        };
        let late = send("late");
        let id = sent_id(frames.recv().await.unwrap());
        drop(old);
        // The next socket gets the old one's last confirmation after hello.
        let (_new, mut frames) = socket(&sends, 2);
        assert!(sends.on_reply(&json!({"ok": true, "reply_to": id, "ts": "5.0"})));
        assert_eq!(late.await.unwrap(), Ok("5.0".to_owned()));

        tokio::time::advance(PACE).await;
        let echoed = send("echoed");
        frames.recv().await.unwrap();
        // An echo of a message confirmed before, with the same channel, is not this one's.
        sends.on_own_message(&json!({"channel": "C1", "text": "late", "ts": "5.0"}));
        sends.on_own_message(&json!({"channel": "C2", "text": "echoed", "ts": "6.0"}));
        sends.on_own_message(&json!({"channel": "C1", "text": "echoed", "ts": "6.0"}));
        assert_eq!(echoed.await.unwrap(), Ok("6.0".to_owned()));

        tokio::time::advance(PACE).await;
        let silent = send("silent");
        frames.recv().await.unwrap();
        let unconfirmed = silent.await.unwrap().unwrap_err();
        assert!(!unconfirmed.not_posted());
        assert_eq!(sends.confirmed(), vec!["5.0", "6.0"]);
    }
}
