//! A bot process's own account of itself, read from its `/metrics` (the bot started with
//! `NONSTOP_HTTP=127.0.0.1:<port>`): what a test of a child process waits on instead of a
//! span of wall-clock time.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A loopback port nothing listens on right now, for a bot's `NONSTOP_HTTP`.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// One value of the bot's `/metrics` on `port` (a counter or gauge without labels); `None`
/// when nothing answers there or the metric is missing.
pub async fn metric(port: u16, name: &str) -> Option<f64> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .await
        .ok()?;
    let mut body = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut body))
        .await
        .ok()?
        .ok()?;
    body.lines().find_map(|line| {
        line.strip_prefix(name)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// Waits (up to `wait`) until the bot on `port` has settled: every envelope it took has an
/// outcome (handled, failed, panicked or timed out) and no answer waits in its outbox. With
/// the simulator holding no envelope unacked, an absence asserted after this (no second
/// answer) cannot still be on its way. False when `wait` ran out first.
pub async fn bot_settled(port: u16, wait: Duration) -> bool {
    const OUTCOMES: [&str; 4] = [
        "nonstop_events_handled_total",
        "nonstop_events_failed_total",
        "nonstop_events_panicked_total",
        "nonstop_events_timed_out_total",
    ];
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let mut outcomes = 0.0;
        for name in OUTCOMES {
            outcomes += metric(port, name).await.unwrap_or(0.0);
        }
        let taken = metric(port, "nonstop_events_received_total").await;
        let waiting = metric(port, "nonstop_answers_waiting").await;
        if let (Some(taken), Some(0.0)) = (taken, waiting) {
            if outcomes >= taken {
                return true;
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        // Polled: the bot is another process, with nothing to await across it.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
