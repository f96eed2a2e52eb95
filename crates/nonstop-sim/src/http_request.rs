//! What the simulator POSTs to a bot's request URL: an envelope as Slack's HTTP request
//! (body, content type, signature) and the faults a request may suffer. The poster
//! (`poster.rs`) sends them.

use ring::hmac;
use serde_json::Value;

/// What the next requests suffer (counts of requests still to be hit).
#[derive(Debug, Default)]
pub(crate) struct HttpFaults {
    pub(crate) bad_signature: u32,
    pub(crate) stale_timestamp: u32,
    pub(crate) replay: u32,
    pub(crate) late_answer: u32,
}

impl HttpFaults {
    /// What the first delivery of the envelope made now suffers: taken in the order
    /// envelopes are made, so a fault hits the next one sent whatever order the posts go in.
    pub(crate) fn take(&mut self) -> Hits {
        let take = |count: &mut u32| {
            let hit = *count > 0;
            *count = count.saturating_sub(1);
            hit
        };
        Hits {
            forge: take(&mut self.bad_signature),
            age: take(&mut self.stale_timestamp),
            replay: take(&mut self.replay),
            late: take(&mut self.late_answer),
        }
    }
}

/// The bot's request URL, or its replicas' behind a round-robin load balancer.
#[derive(Debug, Default)]
pub(crate) struct RequestUrls {
    urls: Vec<String>,
    turn: usize,
}

impl RequestUrls {
    pub(crate) fn set(&mut self, urls: Vec<String>) {
        self.urls = urls;
        self.turn = 0;
    }

    /// The first URL (the app's own, for its OAuth redirect), if any.
    pub(crate) fn first(&self) -> Option<String> {
        self.urls.first().cloned()
    }

    /// Where the next request goes.
    pub(crate) fn next(&mut self) -> Option<String> {
        let url = self.urls.get(self.turn % self.urls.len().max(1)).cloned();
        self.turn = self.turn.wrapping_add(1);
        url
    }
}

/// The faults one request suffers.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Hits {
    pub(crate) forge: bool,
    pub(crate) age: bool,
    pub(crate) replay: bool,
    pub(crate) late: bool,
}

/// One envelope for the request URL.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) envelope_id: String,
    pub(crate) url: String,
    pub(crate) request: Request,
    /// What its first delivery suffers.
    pub(crate) hits: Hits,
}

/// An envelope as an HTTP request: its body and content type, and the key it is signed
/// with.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub(crate) body: String,
    pub(crate) content_type: &'static str,
    pub(crate) key: hmac::Key,
}

impl Request {
    /// The request for an envelope of Socket Mode's `kind` with this payload (JSON text).
    pub(crate) fn new(kind: &str, payload_text: &str, signing_secret: &str) -> Self {
        let payload: Value = serde_json::from_str(payload_text).unwrap_or(Value::Null);
        let form =
            |pairs: Vec<(String, String)>| serde_urlencoded::to_string(pairs).unwrap_or_default();
        let (body, content_type) = match kind {
            "slash_commands" => {
                let pairs = payload
                    .as_object()
                    .map(|fields| {
                        fields
                            .iter()
                            .map(|(k, v)| {
                                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                                (k.clone(), text)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (form(pairs), FORM)
            }
            "interactive" => (
                form(vec![("payload".to_owned(), payload_text.to_owned())]),
                FORM,
            ),
            _ => (payload_text.to_owned(), JSON),
        };
        Self {
            body,
            content_type,
            key: hmac::Key::new(hmac::HMAC_SHA256, signing_secret.as_bytes()),
        }
    }

    /// `X-Slack-Signature` for this body at `timestamp`, under `key`.
    pub(crate) fn signature(&self, key: &hmac::Key, timestamp: u64) -> String {
        let base = format!("v0:{timestamp}:{}", self.body);
        let tag = hmac::sign(key, base.as_bytes());
        let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        format!("v0={hex}")
    }
}

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";
