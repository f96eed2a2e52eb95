//! The simulator's workspace state: sockets, envelopes awaiting acks, what the bot posted, and
//! the lasting faults. One `std::sync::Mutex` guards it all: every critical section is short
//! and never awaits, and one lock keeps routing, acks and redelivery consistent.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::SimConfig;

/// Records (acks, ack latencies) kept at most, so a long run stays bounded.
const MAX_RECORDS: usize = 2_000_000;

/// An order for one socket's task.
#[derive(Debug)]
pub(crate) enum SocketCommand {
    Text(String),
    Binary(Vec<u8>),
    /// Close the TCP connection with no close frame.
    Drop,
    /// Stop all traffic, keep the socket.
    HalfOpen,
    /// Stop reading the client's frames; keep sending.
    StopReading,
    /// Send a close frame, then end.
    Close {
        code: u16,
        reason: String,
    },
    /// RTM: send `goodbye`, then a close frame after `close_after`.
    Goodbye {
        close_after: Duration,
    },
    /// Send a `disconnect` frame, then a close frame after `close_after`.
    Disconnect {
        reason: String,
        close_after: Duration,
    },
}

pub(crate) struct SocketEntry {
    pub(crate) commands: mpsc::Sender<SocketCommand>,
    /// True once `hello` went out; only such sockets get envelopes.
    pub(crate) live: bool,
    /// An RTM socket: it gets every event (bare), and no envelopes.
    pub(crate) rtm: bool,
}

pub(crate) struct Pending {
    pub(crate) envelope: EnvelopeText,
    /// Deliveries made so far; the next redelivery carries this as `retry_attempt`.
    pub(crate) attempts: u32,
    pub(crate) last_sent: Instant,
    pub(crate) socket: Option<u64>,
}

/// An envelope as it goes on the wire, with its payload serialized once: a redelivery
/// changes only `retry_attempt` and `retry_reason`.
pub(crate) struct EnvelopeText {
    envelope_id: String,
    kind: String,
    accepts_response_payload: bool,
    payload: String,
}

impl EnvelopeText {
    /// Socket Mode's name for the envelope's kind (`events_api`, `slash_commands`, …).
    pub(crate) fn kind(&self) -> &str {
        &self.kind
    }

    /// The payload as JSON text.
    pub(crate) fn payload(&self) -> &str {
        &self.payload
    }

    pub(crate) fn new(
        envelope_id: &str,
        kind: &str,
        accepts_response_payload: bool,
        payload: &serde_json::Value,
    ) -> Self {
        Self {
            envelope_id: envelope_id.to_owned(),
            kind: kind.to_owned(),
            accepts_response_payload,
            // Serializing a `Value` cannot fail: its keys are strings.
            payload: serde_json::to_string(payload).unwrap_or_default(),
        }
    }

    /// The frame for delivery number `attempt` (0 for the first).
    pub(crate) fn frame(&self, attempt: u32) -> String {
        // A `&str` always serializes.
        let quoted = |s: &str| serde_json::to_string(s).unwrap_or_default();
        format!(
            r#"{{"envelope_id":{},"type":{},"accepts_response_payload":{},"retry_attempt":{attempt},"retry_reason":"{}","payload":{}}}"#,
            quoted(&self.envelope_id),
            quoted(&self.kind),
            self.accepts_response_payload,
            if attempt == 0 { "" } else { "timeout" },
            self.payload,
        )
    }
}

/// A message the bot posted through `chat.postMessage`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PostedMessage {
    pub channel: String,
    pub text: String,
    pub thread_ts: Option<String>,
    pub ts: String,
    /// When the request arrived and when it was recorded (after any slow_web_api delay), in
    /// milliseconds since the Unix epoch: a reply is "in flight" between the two.
    pub requested_at_ms: u64,
    pub recorded_at_ms: u64,
    /// The message's metadata (`event_type`, `event_payload`), when it was posted with some.
    pub metadata: Option<serde_json::Value>,
    /// Sent over an RTM socket rather than with `chat.postMessage`.
    pub over_rtm: bool,
    /// The workspace whose token posted it (see [`ApiCall::team`]).
    pub team: Option<String>,
}

/// One Web API call as the simulator received it (any method, including those it refused).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ApiCall {
    pub method: String,
    /// JSON and form arguments alike, as a JSON object (form values as strings).
    pub args: serde_json::Map<String, serde_json::Value>,
    /// When it arrived, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    #[serde(skip)]
    pub at: Instant,
    /// The HTTP status answered (429 for a rate limit); 299 for a 200 that said `ok:false`
    /// (Slack did not take the call).
    pub status: u16,
    /// The workspace whose bot token made the call (an installed workspace's, or the
    /// configured token's team); `None` for another token or none.
    pub team: Option<String>,
}

/// What [`crate::Sim::send`] queued: the envelope's id, the event's for an event, and for
/// a command or an interaction its `trigger_id` and `response_url` (to match the bot's
/// `views.open` or `respond` against).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Sent {
    pub envelope_id: String,
    pub event_id: Option<String>,
    pub trigger_id: Option<String>,
    pub response_url: Option<String>,
}

/// A body POSTed to a `response_url` the simulator handed out.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Response {
    /// The id in the URL: `/_sim/respond/{id}`.
    pub id: String,
    pub body: serde_json::Value,
}

impl Response {
    /// Whether this was POSTed to the `response_url` of the item `sent`.
    pub fn is_for(&self, sent: &Sent) -> bool {
        sent.response_url
            .as_deref()
            .and_then(|url| url.rsplit('/').next())
            .is_some_and(|id| id == self.id)
    }
}

/// Milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// An ack as the simulator received it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AckRecord {
    pub envelope_id: String,
    pub payload: Option<serde_json::Value>,
}

/// Counters a test or the demo reads.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SimStats {
    /// Sockets that completed the WebSocket upgrade, ever.
    pub sockets_opened: u64,
    /// Sockets open right now with `hello` sent.
    pub live_sockets: usize,
    /// `apps.connections.open` calls, ever, and how many were refused.
    pub connect_calls: u64,
    pub connect_refusals: u64,
    /// Envelopes created (first deliveries) and redelivered.
    pub envelopes_sent: u64,
    pub redeliveries: u64,
    pub acks: u64,
    /// Acks for envelope ids the simulator was not waiting for (already acked, or unknown).
    pub stray_acks: u64,
    /// Envelopes not acked after every redelivery: lost from Slack's side.
    pub expired: u64,
    /// Envelopes waiting for an ack, or for a socket.
    pub pending: usize,
    pub posted: usize,
    /// Frames from the client that were not acks.
    pub other_client_frames: u64,
    /// RTM sockets that completed the upgrade, ever.
    pub rtm_sockets_opened: u64,
    /// RTM: events sent to live RTM sockets (each socket counted), and frames from the
    /// client over RTM's 16 KB limit (each cost the client its socket).
    pub rtm_events_sent: u64,
    pub oversized_client_frames: u64,
    /// RTM: events that happened while no RTM socket was live (RTM never sends them later).
    pub rtm_events_missed: u64,
    /// RTM: messages refused for going over one a second.
    pub rtm_rate_limited: u64,
    /// Times the app went from at least one live Socket Mode socket to none: what a rolling
    /// restart of several replicas must never do.
    pub deaf_spells: u64,
    /// Sockets sent `too_many_websockets` because the app held `max_sockets` already.
    pub refused_over_limit: u64,
    /// Rotating tokens refreshed (`oauth.v2.access` with a refresh token), and calls made
    /// with a token past its expiry (answered `token_expired`).
    pub token_refreshes: u64,
    pub expired_token_calls: u64,
    /// HTTP delivery: requests posted to the bot's request URL (retries and replays
    /// included), those it answered 2xx in time, those it turned away as not Slack's (401),
    /// and those that failed otherwise (late, not 2xx, unreachable) and were sent again.
    pub http_posts: u64,
    pub http_answered: u64,
    pub http_turned_away: u64,
    pub http_failed: u64,
    /// Forged or aged copies (faults `bad_signature`, `stale_timestamp`) the bot answered
    /// 2xx instead of turning away: a bot that counts any is broken.
    pub http_forgeries_taken: u64,
}

#[derive(Default)]
pub(crate) struct Faults {
    pub(crate) outage: Option<(Instant, Instant)>,
    pub(crate) rate_limited_until: Option<Instant>,
    /// The latest moment a `Retry-After` we sent told a client to wait until.
    pub(crate) retry_after_told_until: Option<Instant>,
    pub(crate) revoked: Option<String>,
    pub(crate) slow_web_api: Option<Duration>,
    /// Sockets still to be opened without a `hello`.
    pub(crate) withhold_hello: u32,
    /// Sockets still to get an odd `hello`, and its lifetime value (`None`: garbled).
    pub(crate) odd_hello: (u32, Option<serde_json::Value>),
    /// `disconnect` `refresh_requested` after every `hello`.
    pub(crate) refresh_after_hello: bool,
    /// RTM: each message's confirmation is held back until the next frame is answered.
    pub(crate) reorder_rtm_replies: bool,
    /// RTM: the next client message ends its socket before its confirmation (`posted`,
    /// `late_reply`: see [`crate::Fault::DropBeforeReply`]).
    pub(crate) drop_before_reply: Option<(bool, bool)>,
    /// Sockets still to go half-open right after their `hello`.
    pub(crate) half_open_after_hello: u32,
    /// RTM: client messages still to be refused.
    pub(crate) refuse_rtm_messages: u32,
    /// RTM: a confirmation owed from a dropped socket, sent after the next `hello`.
    pub(crate) late_rtm_reply: Option<String>,
    /// Per method: answer 429 until then.
    pub(crate) method_limits: HashMap<String, Instant>,
    /// Per method: when the current limit was first told, and the latest moment a
    /// `Retry-After` told a client to wait until.
    pub(crate) method_told_until: HashMap<String, (Instant, Instant)>,
    /// Per method: the next answers are these failures (an HTTP status; 200 means `ok:false`
    /// with the code).
    pub(crate) method_failures: HashMap<String, VecDeque<(u16, String)>>,
    /// Per method: a warning added to every successful answer.
    pub(crate) method_warnings: HashMap<String, String>,
    /// Calls still to be carried out with their answer lost, by method.
    pub(crate) lost_replies: HashMap<String, u32>,
    /// Slack's per-channel limit on `chat.postMessage`, with each channel's bucket.
    pub(crate) channel_limit: Option<ChannelLimit>,
    /// What the next requests of HTTP delivery suffer.
    pub(crate) http: crate::http_request::HttpFaults,
}

/// A token bucket per channel: `burst` messages at once, refilled at `per_sec`.
#[derive(Debug)]
pub(crate) struct ChannelLimit {
    pub(crate) burst: f64,
    pub(crate) per_sec: f64,
    /// Per channel: tokens left, when they were counted, and until when a 429 told the
    /// client to wait (with when it was first told).
    pub(crate) channels: HashMap<String, ChannelBucket>,
}

#[derive(Debug)]
pub(crate) struct ChannelBucket {
    pub(crate) tokens: f64,
    pub(crate) at: Instant,
    pub(crate) told: Option<(Instant, Instant)>,
}

impl ChannelLimit {
    pub(crate) fn new(burst: u32, per_sec: f64) -> Self {
        ChannelLimit {
            burst: f64::from(burst.max(1)),
            per_sec: per_sec.clamp(0.001, 1_000_000.0),
            channels: HashMap::new(),
        }
    }

    /// Takes a message for `channel` at `now`: `Ok` when it has room, else the whole seconds
    /// to wait. The second value is true when the call came while a `Retry-After` already
    /// told (more than `grace` ago) was still running: a client that obeys would not call.
    pub(crate) fn take(
        &mut self,
        channel: &str,
        now: Instant,
        grace: Duration,
    ) -> (Result<(), u64>, bool) {
        let (burst, per_sec) = (self.burst, self.per_sec);
        let bucket = self
            .channels
            .entry(channel.to_owned())
            .or_insert(ChannelBucket {
                tokens: burst,
                at: now,
                told: None,
            });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.at).as_secs_f64() * per_sec).min(burst);
        bucket.at = now;
        let early = bucket
            .told
            .is_some_and(|(told_at, until)| told_at + grace < now && now < until);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            return (Ok(()), early);
        }
        let secs = ((1.0 - bucket.tokens) / per_sec).ceil().max(1.0) as u64;
        let until = now + Duration::from_secs(secs);
        bucket.told = match bucket.told {
            Some((told_at, old)) if old > now => Some((told_at, old.max(until))),
            _ => Some((now, until)),
        };
        (Err(secs), early)
    }
}

/// An install approved, waiting for its code to be exchanged.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) team_id: Option<String>,
    pub(crate) team_name: String,
    pub(crate) enterprise_id: Option<String>,
    pub(crate) scopes: String,
}

/// A refresh token as Slack holds it.
#[derive(Debug, Clone)]
pub(crate) struct Refresh {
    pub(crate) team: String,
    /// The refresh token of the pair last made from this one, and its access token.
    pub(crate) successor: Option<(String, String)>,
    pub(crate) spent: bool,
}

/// A message a simulated user said, kept for `conversations.history`.
#[derive(Debug, Clone)]
pub(crate) struct Said {
    pub(crate) channel: String,
    pub(crate) user: String,
    pub(crate) text: String,
    pub(crate) ts: String,
    pub(crate) thread_ts: Option<String>,
    /// The workspace it was said in.
    pub(crate) team: String,
}

pub(crate) struct Inner {
    pub(crate) sockets: BTreeMap<u64, SocketEntry>,
    /// What users said, in order: the channels' history besides the bot's own posts.
    pub(crate) said: Vec<Said>,
    pub(crate) tickets: HashMap<String, Instant>,
    pub(crate) pending: HashMap<String, Pending>,
    /// Envelopes made while no socket was live, delivered when one is.
    pub(crate) undelivered: VecDeque<String>,
    pub(crate) posted: Vec<PostedMessage>,
    /// Streamed messages, in the order they were started.
    pub(crate) streams: Vec<crate::streamed::StreamedMessage>,
    /// Agent threads the bot set a status, prompts or a title in.
    pub(crate) agent_threads: Vec<crate::streamed::AgentThread>,
    pub(crate) acks: Vec<AckRecord>,
    /// Time from sending an envelope to receiving its ack, for acks of pending envelopes.
    pub(crate) ack_latencies: Vec<Duration>,
    pub(crate) faults: Faults,
    pub(crate) stats: SimStats,
    round_robin: usize,
    pub(crate) calls: Vec<ApiCall>,
    pub(crate) responses: Vec<Response>,
    /// Calls that came before a `Retry-After` the simulator gave for their method ran out.
    pub(crate) early_calls: u64,
    /// Files by id: uploaded bytes (None until the upload step).
    pub(crate) files: HashMap<String, Option<usize>>,
    /// Where envelopes go as signed HTTP requests instead of over sockets, once set.
    pub(crate) request_url: crate::http_request::RequestUrls,
    /// Installs approved whose code was not exchanged yet, by code.
    pub(crate) oauth_codes: HashMap<String, Grant>,
    /// Bot tokens `oauth.v2.access` gave, and the team (or organization) each is for.
    pub(crate) issued_tokens: HashMap<String, String>,
    /// With rotation: when each issued token expires.
    pub(crate) token_expiry: HashMap<String, Instant>,
    /// With rotation: each refresh token's team, the pair made from it last (its refresh
    /// token), and whether it is spent (its successor was used).
    pub(crate) refresh_tokens: HashMap<String, Refresh>,
}

pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    inner: Mutex<Inner>,
    /// Bumped on every change a waiter may care about.
    changed: watch::Sender<u64>,
    next_id: AtomicU64,
    /// The last message timestamp handed out, in microseconds.
    last_ts: AtomicU64,
    /// Envelopes to post to the request URL, to the poster's loop (unbounded: the
    /// simulator's own sends fill it, as fast as a test sends).
    pub(crate) posts: mpsc::UnboundedSender<crate::http_request::Job>,
    /// The loop's end of it, until the simulator starts the loop.
    pub(crate) posts_rx: Mutex<Option<mpsc::UnboundedReceiver<crate::http_request::Job>>>,
}

impl Shared {
    pub(crate) fn new(config: SimConfig) -> Self {
        let (posts, posts_rx) = mpsc::unbounded_channel();
        Self {
            posts,
            posts_rx: Mutex::new(Some(posts_rx)),
            config,
            inner: Mutex::new(Inner {
                sockets: BTreeMap::new(),
                said: Vec::new(),
                tickets: HashMap::new(),
                pending: HashMap::new(),
                undelivered: VecDeque::new(),
                posted: Vec::new(),
                streams: Vec::new(),
                agent_threads: Vec::new(),
                acks: Vec::new(),
                ack_latencies: Vec::new(),
                faults: Faults::default(),
                stats: SimStats::default(),
                round_robin: 0,
                calls: Vec::new(),
                responses: Vec::new(),
                early_calls: 0,
                files: HashMap::new(),
                request_url: crate::http_request::RequestUrls::default(),
                oauth_codes: HashMap::new(),
                issued_tokens: HashMap::new(),
                token_expiry: HashMap::new(),
                refresh_tokens: HashMap::new(),
            }),
            changed: watch::channel(0).0,
            next_id: AtomicU64::new(first_id()),
            last_ts: AtomicU64::new(0),
        }
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves plain data behind; keep serving it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Ids of envelopes, events, views and files: unique across starts of the simulator, so
    /// that a bot whose journal outlives a simulator restart never takes a new envelope for
    /// one it saw before (issue 27: a click after a restart was dropped as a duplicate).
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn notify(&self) {
        self.changed.send_modify(|generation| *generation += 1);
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    pub(crate) fn stats(&self) -> SimStats {
        let inner = self.lock();
        let mut stats = inner.stats.clone();
        stats.live_sockets = inner.sockets.values().filter(|s| s.live).count();
        stats.pending = inner.pending.len();
        stats.posted = inner.posted.len();
        stats
    }

    /// Forgets socket `id`; when it was the last live Socket Mode socket, the app is deaf
    /// from now on, and that is counted.
    pub(crate) fn remove_socket(&self, id: u64) {
        let mut inner = self.lock();
        let removed = inner.sockets.remove(&id);
        if removed.is_some_and(|s| s.live && !s.rtm) && Self::live_ids(&inner).is_empty() {
            inner.stats.deaf_spells += 1;
        }
    }

    /// Live Socket Mode socket ids, oldest first: the sockets envelopes go to.
    pub(crate) fn live_ids(inner: &Inner) -> Vec<u64> {
        inner
            .sockets
            .iter()
            .filter(|(_, s)| s.live && !s.rtm)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Every live socket, Socket Mode and RTM, oldest first: what faults aim at.
    pub(crate) fn live_any(inner: &Inner) -> Vec<u64> {
        inner
            .sockets
            .iter()
            .filter(|(_, s)| s.live)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Creates an envelope and delivers it now, or when a socket is live.
    pub(crate) fn enqueue_envelope(
        &self,
        kind: &str,
        payload: serde_json::Value,
        accepts_response_payload: bool,
    ) -> String {
        if !self.config.duplicate_delivery || kind != "events_api" {
            return self.enqueue_once(kind, payload, accepts_response_payload);
        }
        let envelope_id = self.enqueue_once(kind, payload.clone(), accepts_response_payload);
        {
            // As after a missed ack: the same envelope again, marked as a retry, on another
            // socket, whether or not the first was acked.
            let mut inner = self.lock();
            if let Some(pending) = inner.pending.get(&envelope_id) {
                let first = pending.socket;
                let again = pending.envelope.frame(1);
                let target = Self::live_ids(&inner)
                    .into_iter()
                    .find(|id| Some(*id) != first)
                    .or(first);
                if let Some(socket) = target.and_then(|id| inner.sockets.get(&id)) {
                    let _ = socket.commands.try_send(SocketCommand::Text(again));
                    inner.stats.redeliveries += 1;
                }
            }
        }
        // And the same event in an envelope of its own, as Slack may send on another socket.
        self.enqueue_once(kind, payload, accepts_response_payload);
        envelope_id
    }

    fn enqueue_once(
        &self,
        kind: &str,
        payload: serde_json::Value,
        accepts_response_payload: bool,
    ) -> String {
        let envelope_id = format!("{:08x}-sim-env", self.next_id());
        let envelope = EnvelopeText::new(&envelope_id, kind, accepts_response_payload, &payload);
        let mut inner = self.lock();
        inner.stats.envelopes_sent += 1;
        // Over HTTP, the request is made now: its faults are the next ones in order.
        let post = inner
            .request_url
            .first()
            .map(|url| crate::http_request::Job {
                envelope_id: envelope_id.clone(),
                url,
                request: crate::http_request::Request::new(
                    envelope.kind(),
                    envelope.payload(),
                    &self.config.signing_secret,
                ),
                hits: inner.faults.http.take(),
            });
        inner.pending.insert(
            envelope_id.clone(),
            Pending {
                envelope,
                attempts: 0,
                last_sent: Instant::now(),
                socket: None,
            },
        );
        match post {
            // The poster's loop ends only with the simulator.
            Some(job) => drop(self.posts.send(job)),
            None => {
                if !Self::deliver(&mut inner, &envelope_id, None) {
                    inner.undelivered.push_back(envelope_id.clone());
                }
            }
        }
        drop(inner);
        self.notify();
        envelope_id
    }

    /// Sends a pending envelope on a live socket, avoiding `avoid` when another is live.
    /// Returns false when no socket could take it.
    pub(crate) fn deliver(inner: &mut Inner, envelope_id: &str, avoid: Option<u64>) -> bool {
        let live = Self::live_ids(inner);
        if live.is_empty() {
            return false;
        }
        let candidates: Vec<u64> = match avoid {
            Some(bad) if live.len() > 1 => live.into_iter().filter(|id| *id != bad).collect(),
            _ => live,
        };
        inner.round_robin = inner.round_robin.wrapping_add(1);
        let socket_id = candidates[inner.round_robin % candidates.len()];
        let Some(pending) = inner.pending.get_mut(envelope_id) else {
            return true;
        };
        pending.last_sent = Instant::now();
        pending.socket = Some(socket_id);
        let text = pending.envelope.frame(pending.attempts);
        match inner.sockets.get(&socket_id) {
            // A full command queue behaves like a lost frame: the redelivery timer covers it.
            Some(socket) => {
                let _ = socket.commands.try_send(SocketCommand::Text(text));
                true
            }
            None => false,
        }
    }

    /// Hands queued envelopes to a socket that just went live.
    pub(crate) fn flush_undelivered(&self) {
        let mut inner = self.lock();
        while let Some(envelope_id) = inner.undelivered.pop_front() {
            if !Self::deliver(&mut inner, &envelope_id, None) {
                inner.undelivered.push_front(envelope_id);
                break;
            }
        }
    }

    /// Redelivers envelopes unacked for `redelivery_after`; gives up after `max_redeliveries`.
    pub(crate) fn redeliver_due(&self) {
        let now = Instant::now();
        let after = self.config.redelivery_after;
        let max = self.config.max_redeliveries;
        let mut inner = self.lock();
        let due: Vec<String> = inner
            .pending
            .iter()
            .filter(|(_, p)| p.socket.is_some() && now.duration_since(p.last_sent) >= after)
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = false;
        for envelope_id in due {
            let Some(pending) = inner.pending.get_mut(&envelope_id) else {
                continue;
            };
            if pending.attempts >= max {
                inner.pending.remove(&envelope_id);
                inner.stats.expired += 1;
                changed = true;
                continue;
            }
            pending.attempts += 1;
            let avoid = pending.socket;
            inner.stats.redeliveries += 1;
            if !Self::deliver(&mut inner, &envelope_id, avoid) {
                if let Some(p) = inner.pending.get_mut(&envelope_id) {
                    p.socket = None;
                }
                inner.undelivered.push_back(envelope_id);
            }
            changed = true;
        }
        drop(inner);
        if changed {
            self.notify();
        }
    }

    /// Records what a user said, bounded like the other records.
    pub(crate) fn record_said(&self, said: Said) {
        let mut inner = self.lock();
        if inner.said.len() < MAX_RECORDS {
            inner.said.push(said);
        }
    }

    /// Records a Web API call, bounded like the other records.
    pub(crate) fn record_call(inner: &mut Inner, call: ApiCall) {
        if inner.calls.len() < MAX_RECORDS {
            inner.calls.push(call);
        }
    }

    pub(crate) fn record_ack(&self, envelope_id: String, payload: Option<serde_json::Value>) {
        let mut inner = self.lock();
        if let Some(pending) = inner.pending.remove(&envelope_id) {
            inner.stats.acks += 1;
            if inner.ack_latencies.len() < MAX_RECORDS {
                inner.ack_latencies.push(pending.last_sent.elapsed());
            }
        } else {
            inner.stats.stray_acks += 1;
        }
        if inner.acks.len() < MAX_RECORDS {
            inner.acks.push(AckRecord {
                envelope_id,
                payload,
            });
        }
        drop(inner);
        self.notify();
    }

    /// A message timestamp as Slack makes them: the time in microseconds, unique and
    /// rising within the workspace.
    pub(crate) fn next_ts(&self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        let micros = self
            .last_ts
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(now.max(last + 1))
            })
            .map_or(now, |last| now.max(last + 1));
        format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
    }
}

/// Waits until `check` holds or `timeout` passes; true when it held.
pub(crate) async fn wait_until(
    shared: &Shared,
    timeout: Duration,
    mut check: impl FnMut(&Shared) -> bool,
) -> bool {
    let mut changes = shared.subscribe();
    let deadline = Instant::now() + timeout;
    loop {
        changes.borrow_and_update();
        if check(shared) {
            return true;
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return check(shared),
        }
    }
}

/// What every request handler of the simulator's server shares.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) shared: Arc<Shared>,
    pub(crate) addr: SocketAddr,
    pub(crate) shutdown: watch::Receiver<bool>,
}

/// Where a simulator's ids start: a random block of a million, so that two starts (in one
/// test, or a restart against the same journal) do not share ids.
fn first_id() -> u64 {
    u64::from(rand::random::<u32>()) * 1_000_000 + 1
}
