//! HTTP delivery, as Slack's Events API does it: once a request URL is set
//! ([`crate::Sim::set_request_url`]), each envelope is POSTed there instead of going over a
//! socket: an event as JSON, a slash command as a form, an interaction as a form's
//! `payload=`, each signed with the app's signing secret. An answer that is not 2xx within
//! Slack's 3 s is sent again on Slack's schedule (compressed: [`crate::SimConfig::http_retry_delays`]),
//! with `X-Slack-Retry-Num` and `X-Slack-Retry-Reason`; a 2xx answer is the ack, its JSON
//! body the ack's payload. The faults of [`HttpFaults`] forge, age, replay or delay requests.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ring::hmac;
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::http_request::{Hits, Job};
use crate::state::Shared;

/// How long Slack waits for an answer.
const SLACK_WAITS: Duration = Duration::from_secs(3);

/// Takes jobs until the simulator stops, each posted (and retried) on a task of its own.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    mut stop: watch::Receiver<bool>,
) {
    let client = match reqwest::Client::builder()
        .timeout(SLACK_WAITS)
        .redirect(reqwest::redirect::Policy::limited(2))
        .build()
    {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "sim: no HTTP client; nothing will be posted");
            return;
        }
    };
    let mut posting = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            job = jobs.recv() => match job {
                Some(job) => { posting.spawn(deliver(Arc::clone(&shared), client.clone(), job)); }
                None => break,
            },
            Some(_) = posting.join_next(), if !posting.is_empty() => {}
            _ = stop.changed() => break,
        }
    }
    posting.abort_all();
}

/// What one attempt came to.
enum Outcome {
    Answered(Option<Value>),
    TurnedAway,
    Failed(&'static str),
}

/// Posts `job` until it is answered or out of retries; first, when a fault says so, a forged
/// or aged copy of it, as an attacker would send beside Slack's own.
async fn deliver(shared: Arc<Shared>, client: reqwest::Client, job: Job) {
    if job.hits.forge || job.hits.age {
        let copy = Hits {
            forge: job.hits.forge,
            age: job.hits.age,
            ..Hits::default()
        };
        let outcome = post_once(&shared, &client, &job, (0, ""), copy).await;
        let mut inner = shared.lock();
        match outcome {
            Outcome::TurnedAway => inner.stats.http_turned_away += 1,
            // A bot that takes what Slack did not sign is broken: counted.
            Outcome::Answered(_) => inner.stats.http_forgeries_taken += 1,
            Outcome::Failed(_) => {}
        }
        drop(inner);
        shared.notify();
    }
    let delays = shared.config.http_retry_delays.clone();
    let mut reason = "";
    for attempt in 0..=delays.len() {
        let hits = match attempt {
            0 => Hits {
                forge: false,
                age: false,
                ..job.hits
            },
            _ => Hits::default(),
        };
        let outcome = post_once(&shared, &client, &job, (attempt as u32, reason), hits).await;
        match outcome {
            Outcome::Answered(payload) => {
                shared.lock().stats.http_answered += 1;
                shared.record_ack(job.envelope_id, payload);
                return;
            }
            Outcome::TurnedAway => {
                shared.lock().stats.http_turned_away += 1;
                shared.notify();
                reason = "http_error";
            }
            Outcome::Failed(why) => {
                shared.lock().stats.http_failed += 1;
                shared.notify();
                reason = why;
            }
        }
        let Some(delay) = delays.get(attempt) else {
            break;
        };
        tokio::time::sleep(*delay).await;
        let mut inner = shared.lock();
        inner.stats.redeliveries += 1;
        if let Some(pending) = inner.pending.get_mut(&job.envelope_id) {
            pending.attempts += 1;
            pending.last_sent = Instant::now();
        }
    }
    let mut inner = shared.lock();
    if inner.pending.remove(&job.envelope_id).is_some() {
        inner.stats.expired += 1;
    }
    drop(inner);
    shared.notify();
}

/// One POST.
async fn post_once(
    shared: &Shared,
    client: &reqwest::Client,
    job: &Job,
    (attempt, reason): (u32, &str),
    hits: Hits,
) -> Outcome {
    let Hits {
        forge,
        age,
        replay,
        late,
    } = hits;
    shared.lock().stats.http_posts += 1;
    let mut timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if age {
        timestamp -= 600;
    }
    let signature = if forge {
        job.request.signature(
            &hmac::Key::new(hmac::HMAC_SHA256, b"not-the-signing-secret"),
            timestamp,
        )
    } else {
        job.request.signature(&job.request.key, timestamp)
    };
    // Where the bot is now: a request URL changed meanwhile (the bot moved) takes the retry;
    // behind a load balancer, each request goes to the next replica.
    let url = shared
        .lock()
        .request_url
        .next()
        .unwrap_or_else(|| job.url.clone());
    let send = || {
        let mut request = client
            .post(&url)
            .header("content-type", job.request.content_type)
            .header("x-slack-request-timestamp", timestamp.to_string())
            .header("x-slack-signature", &signature)
            .body(job.request.body.clone());
        if attempt > 0 {
            request = request
                .header("x-slack-retry-num", attempt.to_string())
                .header("x-slack-retry-reason", reason);
        }
        request.send()
    };
    let outcome = answer(send().await, late).await;
    if replay {
        // The same bytes again: the bot must answer and drop it as a duplicate.
        shared.lock().stats.http_posts += 1;
        let _ = send().await;
    }
    outcome
}

/// What an answer means to Slack.
async fn answer(sent: Result<reqwest::Response, reqwest::Error>, late: bool) -> Outcome {
    let response = match sent {
        Ok(response) => response,
        Err(e) if e.is_timeout() => return Outcome::Failed("http_timeout"),
        Err(_) => return Outcome::Failed("connection_failed"),
    };
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return Outcome::TurnedAway;
    }
    if !status.is_success() {
        return Outcome::Failed("http_error");
    }
    let body = response.bytes().await.unwrap_or_default();
    if late {
        return Outcome::Failed("http_timeout");
    }
    let payload = serde_json::from_slice::<Value>(&body).ok();
    Outcome::Answered(payload)
}
