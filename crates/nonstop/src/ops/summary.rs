//! A one-line summary in the log at a steady interval, so that a quiet log still shows the
//! bot is alive, and what it has done: the line the story's author added timestamps by hand
//! to find.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::info;

use crate::status::Status;

/// Logs the summary every `every` until `stop` turns true.
pub(crate) async fn run(status: Arc<Status>, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => log(&status),
            _ = stop.wait_for(|stopping| *stopping) => return,
        }
    }
}

fn log(status: &Status) {
    let s = status.snapshot();
    let last_cause = s
        .last_disconnect
        .as_ref()
        .map_or_else(|| "none".to_owned(), |d| d.cause.clone());
    info!(
        uptime_s = s.uptime.as_secs(),
        live_sockets = s.live_connections,
        reconnects = s.reconnects,
        handled = s.handled,
        failed = s.failed + s.panicked + s.timed_out,
        caught_up = s.caught_up,
        answers_sent = s.answers_sent,
        answers_waiting = s.answers_waiting,
        last_cause = %last_cause,
        "still running"
    );
}
