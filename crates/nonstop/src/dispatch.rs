//! Runs handlers off the read loop: bounded concurrency, a timeout, panics caught, and every
//! outcome counted and logged once, here.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tracing::{error, warn, Instrument};

use crate::context::Context;
use crate::delivery::writer::Op;
use crate::envelope::Envelope;
use crate::handler::Handler;
use crate::journal::Mark;
use crate::status::Status;

/// Takes envelopes from the journal until it closes the queue, then waits for running
/// handlers (each bounded by `timeout`). Each outcome is written back to the journal.
pub(crate) async fn run(
    mut queue: mpsc::Receiver<Envelope>,
    journal: mpsc::Sender<Op>,
    handler: Arc<dyn Handler>,
    ctx: Context,
    max_concurrent: usize,
    timeout: Duration,
    status: Arc<Status>,
) {
    let permits = Arc::new(Semaphore::new(max_concurrent));
    let mut running = JoinSet::new();
    while let Some(envelope) = queue.recv().await {
        let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
            break;
        };
        while running.try_join_next().is_some() {}
        let handler = Arc::clone(&handler);
        let ack = envelope.ack.clone();
        let ctx = ctx.for_envelope(&envelope);
        if envelope.is_catch_up() && envelope.attempt == 0 {
            // A message from history that the journal did not have: caught up.
            status.count_caught_up();
        }
        let status = Arc::clone(&status);
        let journal = journal.clone();
        // Every line a handler, a listener or the runtime writes about this envelope carries
        // these; the router fills in team and channel once it has read the payload.
        let span = tracing::info_span!(
            "envelope",
            envelope_id = %nonstop_model::printable(&envelope.envelope_id),
            event_id = %nonstop_model::printable(envelope.event_id.as_deref().unwrap_or("")),
            attempt = envelope.attempt,
            team = tracing::field::Empty,
            channel = tracing::field::Empty,
        );
        running.spawn(
            async move {
                let _permit = permit;
                if crate::journal::replay::given_up(envelope.attempt) {
                    // Recorded as failed, not run again: only its streams are stopped.
                    crate::streaming::stop_abandoned(&ctx).await;
                    return;
                }
                // Starts were recorded before this: by the journal's writer for fresh envelopes,
                // at startup for replays.
                let key = envelope.dedup_key().to_owned();
                let ended = ctx.clone();
                let outcome = match run_one(handler.as_ref(), ctx, envelope, timeout, &status).await
                {
                    Ok(()) => Mark::Done { key },
                    Err(error) => Mark::Failed { key, error },
                };
                // The listener gave no response payload: the plain ack goes out now, if its
                // deadline did not send it already.
                if let Some(ack) = ack {
                    ack.send(None);
                }
                // Before the mark: once the event is done, nothing replays it.
                crate::streaming::stop_left_open(&ended).await;
                if ended.attempt() > 0 {
                    crate::streaming::stop_abandoned(&ended).await;
                }
                let _ = journal.send(Op::Mark(outcome)).await;
            }
            .instrument(span),
        );
    }
    while running.join_next().await.is_some() {}
}

/// Runs `call` for at most `timeout` of its own time: time it spent waiting for its answers'
/// delivery (which rate limits and outages lengthen), or streaming an answer, is not counted
/// (`uncounted`, given when it started).
async fn within<F: Future>(
    timeout: Duration,
    call: F,
    uncounted: impl Fn(tokio::time::Instant) -> Duration,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    let started = tokio::time::Instant::now();
    let deadline = || started + timeout + uncounted(started);
    tokio::pin!(call);
    loop {
        match tokio::time::timeout_at(deadline(), &mut call).await {
            Ok(output) => return Ok(output),
            Err(elapsed) if deadline() <= tokio::time::Instant::now() => return Err(elapsed),
            // It waited for a delivery or streamed meanwhile: the deadline moved.
            Err(_) => {}
        }
    }
}

/// Runs one handler; the error, for the journal, when it did not succeed.
async fn run_one(
    handler: &dyn Handler,
    ctx: Context,
    envelope: Envelope,
    timeout: Duration,
    status: &Status,
) -> Result<(), String> {
    let envelope_id = envelope.envelope_id.clone();
    let event_id = envelope.event_id.clone().unwrap_or_default();
    let clock = ctx.clone();
    let call = AssertUnwindSafe(handler.handle(ctx, envelope)).catch_unwind();
    let started = tokio::time::Instant::now();
    let ran = within(timeout, call, |started| clock.uncounted(started)).await;
    status.observe_handler(started.elapsed());
    match ran {
        Ok(Ok(Ok(()))) => {
            status.count_handled();
            Ok(())
        }
        Ok(Ok(Err(e))) => {
            status.count_failed();
            let detail = nonstop_web::redact(&e.to_string());
            warn!(%envelope_id, %event_id, error = %detail, "handler failed");
            Err(detail)
        }
        Ok(Err(panic)) => {
            status.count_panicked();
            let message = crate::task::panic_message(&*panic);
            error!(%envelope_id, %event_id, panic = %message, "handler panicked");
            Err(format!("panicked: {message}"))
        }
        Err(_) => {
            status.count_timed_out();
            error!(%envelope_id, %event_id, timeout_ms = timeout.as_millis() as u64, "handler timed out and was cancelled");
            Err(format!("timed out after {} ms", timeout.as_millis()))
        }
    }
}
