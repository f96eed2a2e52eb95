//! The receiver at the request URL: each request's signature is checked over its raw body
//! before anything reads it, then what it holds is answered (a URL or SSL check) or made an
//! envelope and handed to the intake; the HTTP answer waits for the journal to hold it and
//! carries the listener's ack payload when there is one, inside Slack's 3 s. A request turned
//! away runs nothing and is logged with its reason, a few lines a minute at most.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use nonstop_model::socket_mode::FrameError;
use nonstop_model::{printable, Ack, ParsedFrame};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, error, warn};

use super::request::{self, Delivery, Incoming};
use super::signature::{SigningSecrets, SIGNATURE_HEADER, TIMESTAMP_HEADER};
use crate::delivery::Intake;
use crate::envelope::Envelope;
use crate::log_limit::LogLimit;
use crate::status::Status;

/// The time the signatures are checked against; tests pass another.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// How long a request's body may take to arrive once its headers have.
const BODY_WITHIN: Duration = Duration::from_secs(10);
/// Slack's deadline for the answer; the receiver answers before it.
const SLACK_WAITS: Duration = Duration::from_millis(2950);
/// Said to Slack on an answer that retrying cannot change (a body that cannot be read).
const NO_RETRY: &str = "x-slack-no-retry";

/// What every request reads.
pub(crate) struct Receiver {
    pub(crate) secrets: SigningSecrets,
    pub(crate) intake: Arc<Intake>,
    pub(crate) status: Arc<Status>,
    /// Bodies larger than this are turned away unread.
    pub(crate) max_body: usize,
    /// How long a request waits for its ack (the journal, then a listener's payload, or the
    /// plain ack at the ack deadline).
    pub(crate) answer_within: Duration,
    pub(crate) clock: Clock,
    /// When a request of Slack's was last taken: the receiver's health reads it.
    heard: Mutex<Option<Instant>>,
    /// Turned-away requests logged: a few lines a minute, the rest counted.
    rejections: Mutex<LogLimit>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("max_body", &self.max_body)
            .field("answer_within", &self.answer_within)
            .finish_non_exhaustive()
    }
}

impl Receiver {
    pub(crate) fn new(
        secrets: SigningSecrets,
        intake: Arc<Intake>,
        status: Arc<Status>,
        max_body: usize,
        ack_deadline: Duration,
    ) -> Self {
        Self {
            secrets,
            intake,
            status,
            max_body,
            // The plain ack goes out at the ack deadline; the answer waits a little past it.
            answer_within: (ack_deadline + Duration::from_millis(300)).min(SLACK_WAITS),
            clock: Arc::new(SystemTime::now),
            heard: Mutex::new(None),
            rejections: Mutex::new(LogLimit::new(5, Duration::from_secs(60))),
        }
    }

    /// The route Slack posts to.
    pub(crate) fn routes(self: &Arc<Self>, path: &str) -> Router {
        Router::new()
            .route(path, post(receive))
            .with_state(Arc::clone(self))
    }

    /// Whether a request of Slack's was taken since `since`.
    pub(crate) fn heard_since(&self, since: Instant) -> bool {
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some_and(|at| at >= since)
    }

    fn heard_now(&self) {
        *self.heard.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    /// `Some(folded)` when a line about a refused request may be written now.
    fn may_log(&self) -> Option<u64> {
        self.rejections
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .admit(Instant::now())
    }

    /// Turns a request away with `status`, logging why (rate-limited).
    fn turn_away(&self, status: StatusCode, why: &str) -> Response {
        self.status.count_request_rejected();
        if let Some(folded) = self.may_log() {
            warn!(
                status = status.as_u16(),
                why, folded, "request to the request URL turned away; nothing of it ran"
            );
        }
        status.into_response()
    }

    /// A signed request that cannot be read: Slack is told not to send it again.
    fn unreadable(&self, why: &dyn std::fmt::Display) -> Response {
        self.status.count_bad_frame();
        if let Some(folded) = self.may_log() {
            error!(error = %why, folded, "signed request could not be read; answered 400");
        }
        let mut response = StatusCode::BAD_REQUEST.into_response();
        response
            .headers_mut()
            .insert(NO_RETRY, HeaderValue::from_static("1"));
        response
    }

    /// Journals the envelope `delivery` makes, and answers once it is held.
    async fn deliver(&self, delivery: &Delivery, body: &[u8], retry: (u32, &str)) -> Response {
        let received_at = Instant::now();
        let envelope_id = request::envelope_id(body);
        let text = request::frame(delivery, &envelope_id, retry);
        let (acks, answer) = mpsc::channel(1);
        let frame = match ParsedFrame::parse(text.as_bytes()) {
            Ok(frame) => frame,
            Err(FrameError::UnreadableEnvelope { detail, .. }) => {
                // Journaled as failed, so `nonstop journal` shows it, and answered 200:
                // Slack would send it again for nothing.
                self.status.count_bad_frame();
                let why = format!("request could not be read: {detail}");
                error!(envelope_id, kind = delivery.kind, error = %detail, "unreadable request: recorded as failed");
                if self
                    .intake
                    .reject(&envelope_id, delivery.kind, &text, why, &acks)
                    .is_err()
                {
                    return StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                drop(acks);
                return self.answer(answer, received_at).await;
            }
            Err(e) => return self.unreadable(&e),
        };
        if self.intake.is_own_message(&frame) {
            debug!(envelope_id, "the bot's own message: answered and dropped");
            self.intake.ack_and_drop(&envelope_id, &acks);
            return StatusCode::OK.into_response();
        }
        let Some(envelope) = Envelope::from_frame(frame, Arc::from(text), received_at, 0) else {
            return self.unreadable(&"not an envelope");
        };
        if let Err(refused) = self.intake.submit(envelope, &acks) {
            // Not journaled: a 503 has Slack send it again (its retries are deduplicated).
            warn!(
                envelope_id,
                why = refused.as_str(),
                "request answered 503; Slack will send it again"
            );
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        drop(acks);
        self.answer(answer, received_at).await
    }

    /// The HTTP answer: 200 once the journal holds the envelope, with the listener's ack
    /// payload as its body when there is one; 503 when the journal did not take it in time
    /// (Slack sends it again, and a copy that was written after all is dropped as a
    /// duplicate).
    async fn answer(&self, mut answer: mpsc::Receiver<Ack>, received_at: Instant) -> Response {
        match tokio::time::timeout_at(received_at + self.answer_within, answer.recv()).await {
            Ok(Some(Ack {
                payload: Some(payload),
                ..
            })) => (StatusCode::OK, Json(payload)).into_response(),
            Ok(Some(_)) => StatusCode::OK.into_response(),
            Ok(None) => {
                warn!("request not journaled (the journal refused it); answered 503, Slack will send it again");
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
            Err(_) => {
                warn!(
                    within_ms = self.answer_within.as_millis() as u64,
                    "request not journaled in time; answered 503, Slack will send it again"
                );
                StatusCode::SERVICE_UNAVAILABLE.into_response()
            }
        }
    }
}

/// One request to the request URL.
async fn receive(State(receiver): State<Arc<Receiver>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match tokio::time::timeout(
        BODY_WITHIN,
        axum::body::to_bytes(body, receiver.max_body),
    )
    .await
    {
        Ok(Ok(body)) => body,
        Ok(Err(_)) => {
            let why = format!(
                "the body is larger than {} bytes, or broke off",
                receiver.max_body
            );
            return receiver.turn_away(StatusCode::PAYLOAD_TOO_LARGE, &why);
        }
        Err(_) => {
            return receiver.turn_away(
                StatusCode::REQUEST_TIMEOUT,
                "the body did not arrive within 10 s",
            )
        }
    };
    let headers = &parts.headers;
    let verified = receiver.secrets.verify(
        header_text(headers, TIMESTAMP_HEADER),
        header_text(headers, SIGNATURE_HEADER),
        &body,
        (receiver.clock)(),
    );
    if let Err(why) = verified {
        return receiver.turn_away(StatusCode::UNAUTHORIZED, &why.to_string());
    }
    let incoming = match request::read(header_text(headers, "content-type"), &body) {
        Ok(incoming) => incoming,
        Err(why) => return receiver.unreadable(&why),
    };
    if incoming != Incoming::SslCheck {
        // Slack reached the bot (the self-check's `ssl_check` is not Slack's traffic).
        receiver.status.count_request();
        receiver.heard_now();
    }
    match incoming {
        Incoming::UrlVerification { challenge } => {
            tracing::info!("request URL verified: Slack's challenge answered");
            Json(serde_json::json!({ "challenge": challenge })).into_response()
        }
        Incoming::SslCheck => StatusCode::OK.into_response(),
        Incoming::RateLimited { team, minute } => {
            warn!(team = %printable(&team), minute_rate_limited = minute, "Slack is holding back this workspace's events for a minute (over 30,000 an hour): they are not sent again, catch-up reads what it can from history");
            StatusCode::OK.into_response()
        }
        Incoming::Other { kind } => {
            debug!(kind = %printable(&kind), "request of a type nonstop does not take; answered 200");
            StatusCode::OK.into_response()
        }
        Incoming::Envelope(delivery) => {
            let retry = (
                header_text(headers, "x-slack-retry-num")
                    .and_then(|n| n.trim().parse().ok())
                    .unwrap_or(0),
                header_text(headers, "x-slack-retry-reason")
                    .filter(|r| {
                        r.len() <= 64 && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                    })
                    .unwrap_or(""),
            );
            receiver.deliver(&delivery, &body, retry).await
        }
    }
}

fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A signed `ssl_check` POSTed to the receiver's own listener, as Slack would: true when it
/// answered 200 within `within`. The same socket, route, signature check and server Slack's
/// requests go through; not the journal.
pub(crate) async fn check_itself(
    addr: std::net::SocketAddr,
    path: &str,
    secrets: &SigningSecrets,
    within: Duration,
) -> Result<(), String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = "ssl_check=1&token=nonstop-self-check";
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let signature = secrets.sign(now, body.as_bytes());
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\n{}: application/x-www-form-urlencoded\r\n{TIMESTAMP_HEADER}: {now}\r\n{SIGNATURE_HEADER}: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        header::CONTENT_TYPE,
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connecting to {addr}: {e}"))?;
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("sending: {e}"))?;
        let mut head = [0u8; 12];
        stream
            .read_exact(&mut head)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        match &head {
            b"HTTP/1.1 200" => Ok(()),
            other => Err(format!(
                "answered {:?} instead of 200",
                String::from_utf8_lossy(other)
            )),
        }
    };
    match tokio::time::timeout(within, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {} s", within.as_secs_f64())),
    }
}
