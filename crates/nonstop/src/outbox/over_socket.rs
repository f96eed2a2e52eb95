//! Answers over the socket route the app injected (RTM's): a plain-text message goes as a
//! socket frame when the route has room for it, and is confirmed by Slack with its `ts`; everything else, and a message the socket
//! could not take, goes through `chat.postMessage`.
//!
//! A message whose confirmation never comes (its socket died) may or may not have landed.
//! Before it is sent again, the channel's history is read for it (the bot's message with the
//! same text, whose `ts` no other answer has: an RTM message carries no metadata), and it is
//! sent over the socket once more only when it is not there; a second unconfirmed send leaves
//! it to `chat.postMessage`, whose metadata makes any further retry exactly once.

use std::collections::HashSet;
use std::sync::Arc;

use nonstop_web::Backoff;
use serde_json::{json, Value};
use tracing::{debug, info, warn};

use super::attempt::{not_posted, record_attempt, Finished, SenderSetup};
use super::lookup::{self, ByText};
use super::socket_route::{PlainMessage, SocketRoute, SocketSendError};
use crate::journal::{Output, OutputState};

/// Sends over the socket at most this many times before the Web API takes over.
const SOCKET_TRIES: usize = 2;
/// Answers whose recorded `ts` a lookup by text skips.
const TAKEN_LOOKBACK: usize = 1000;

/// What became of an answer offered to the socket.
pub(super) enum Route {
    Done(Finished),
    /// Not over the socket (no room, refused, or unconfirmed twice and not found): post it
    /// with `chat.postMessage`. Nothing it sent is known to have landed.
    Web,
}

/// Offers `message` (the answer `output`) to the RTM socket.
pub(super) async fn deliver(
    setup: &SenderSetup,
    socket: &dyn SocketRoute,
    output: &Output,
    message: &PlainMessage,
) -> Route {
    for _ in 0..SOCKET_TRIES {
        if let Err(end) = record_attempt(setup, output.id).await {
            return Route::Done(end);
        }
        let error = match socket.send(message).await {
            Ok(ts) => {
                setup.status.count_answer_over_rtm();
                let placed = json!({"channel": message.channel, "ts": ts});
                return Route::Done(Finished::Sent(placed.to_string()));
            }
            Err(error) => error,
        };
        if error.not_posted() {
            not_posted(setup, output.id).await;
            match &error {
                SocketSendError::Refused { .. } | SocketSendError::TooLarge { .. } => {
                    warn!(lane = %output.lane, key = %output.key, %error, "answer not taken over RTM; posting it with chat.postMessage");
                }
                _ => {
                    debug!(lane = %output.lane, key = %output.key, %error, "answer goes by chat.postMessage")
                }
            }
            return Route::Web;
        }
        warn!(lane = %output.lane, key = %output.key, %error, "answer sent over RTM was not confirmed; looking for it in the channel before sending it again");
        match find(setup, socket, output, message).await {
            Some(found) => {
                info!(lane = %output.lane, key = %output.key, "unconfirmed answer found posted; not sent again");
                return Route::Done(Finished::Sent(found.to_string()));
            }
            None => not_posted(setup, output.id).await,
        }
    }
    Route::Web
}

/// Looks for the message in its channel (or thread) by its text: its `channel` and `ts`, or
/// `None` when it is not there or cannot be looked for (then it is sent again: at least once).
async fn find(
    setup: &SenderSetup,
    socket: &dyn SocketRoute,
    output: &Output,
    message: &PlainMessage,
) -> Option<Value> {
    let taken = taken(setup, socket).await;
    let by_text = ByText {
        text: &message.text,
        me: &setup.me,
        taken: &taken,
    };
    let mut args = json!({"channel": message.channel});
    if let Some(thread) = &message.thread_ts {
        args["thread_ts"] = thread.clone().into();
    }
    let mut backoff = Backoff::new(setup.backoff_base, setup.backoff_cap);
    loop {
        let found = lookup::find_posted(
            &setup.web,
            &args,
            &output.key,
            output.created_at,
            Some(&by_text),
        )
        .await;
        match found {
            Ok(found) => return found,
            Err(e) if e.is_transient() || e.rate_limit_wait().is_some() => {
                let delay = backoff.next_delay(e.retry_after(), &mut rand::rng());
                tokio::time::sleep(delay.max(setup.backoff_base)).await;
            }
            Err(e) => {
                warn!(lane = %output.lane, key = %output.key, error = %e,
                    "cannot look for an unconfirmed RTM answer; sending it again (at least once; give the app the channel's history scope for exactly once)");
                return None;
            }
        }
    }
}

/// The `ts` of messages other answers posted: those confirmed over RTM lately, and those the
/// outbox recorded as sent (across restarts).
pub(super) async fn taken(setup: &SenderSetup, socket: &dyn SocketRoute) -> HashSet<String> {
    let mut taken: HashSet<String> = socket.confirmed().into_iter().collect();
    let store = Arc::clone(&setup.store);
    let sent = tokio::task::spawn_blocking(move || {
        store.outbox_recent(TAKEN_LOOKBACK, Some(OutputState::Sent))
    })
    .await;
    if let Ok(Ok(sent)) = sent {
        taken.extend(sent.into_iter().filter_map(|output| {
            let result: Value = serde_json::from_str(output.result.as_deref()?).ok()?;
            result.get("ts")?.as_str().map(str::to_owned)
        }));
    }
    taken
}

/// The plain message an answer is, when the bot is on RTM and sends such answers over it.
pub(super) fn plain_message(setup: &SenderSetup, output: &Output) -> Option<PlainMessage> {
    setup.socket.as_ref()?;
    if output.method != "chat.postMessage" {
        return None;
    }
    let args = serde_json::from_str(&output.args).ok()?;
    PlainMessage::from_args(&args)
}
