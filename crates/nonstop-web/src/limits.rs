//! Slack's rate limits, kept on our side: a gate per method that holds every call until a
//! `Retry-After` has passed, and a per-channel pace for `chat.postMessage`.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use crate::WebError;

/// Entries kept before expired ones are swept, so a bot that talked to many channels once
/// does not keep them all.
const SWEEP_AT: usize = 1024;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The maps hold plain instants: a panic elsewhere cannot leave them inconsistent.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Per method: no call before Slack's `Retry-After` is up. A client holds one token and a
/// token belongs to one workspace, so per client is per method and team, as Slack counts.
#[derive(Debug, Default)]
pub(crate) struct RateGate {
    blocked_until: Mutex<HashMap<String, Instant>>,
}

impl RateGate {
    /// Waits until `method` may be called.
    pub(crate) async fn wait(&self, method: &str) {
        loop {
            let until = lock(&self.blocked_until).get(method).copied();
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    /// How long `method` is still held back, if it is.
    pub(crate) fn blocked_for(&self, method: &str) -> Option<Duration> {
        let until = lock(&self.blocked_until).get(method).copied()?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Holds every call to `method` for `wait`.
    pub(crate) fn block(&self, method: &str, wait: Duration) {
        let now = Instant::now();
        let until = now + wait;
        let mut map = lock(&self.blocked_until);
        if map.len() >= SWEEP_AT {
            map.retain(|_, at| *at > now);
        }
        let entry = map.entry(method.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }
}

/// Spaces messages to one channel: `burst` may go at once, then one per `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    pub interval: Duration,
    pub burst: u32,
    /// Messages waiting for their turn in one channel at most; the next is refused.
    pub queue: usize,
}

impl Default for Pace {
    /// Slack's guidance: about one message per second per channel, short bursts allowed.
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(1),
            burst: 3,
            queue: 1000,
        }
    }
}

#[derive(Debug)]
struct Lane {
    /// When the channel would be free again if every reserved message went at its slot.
    free_at: Instant,
    waiting: usize,
}

/// Per-channel slots for `chat.postMessage`.
#[derive(Debug)]
pub(crate) struct Pacer {
    pace: Pace,
    lanes: Mutex<HashMap<String, Lane>>,
}

/// A reserved place in a channel's queue; leaving it (sent or cancelled) frees the place.
pub(crate) struct Turn<'a> {
    pacer: &'a Pacer,
    channel: String,
    at: Instant,
}

impl Turn<'_> {
    pub(crate) async fn wait(&self) {
        tokio::time::sleep_until(self.at).await;
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some(lane) = lock(&self.pacer.lanes).get_mut(&self.channel) {
            lane.waiting = lane.waiting.saturating_sub(1);
        }
    }
}

impl Pacer {
    pub(crate) fn new(pace: Pace) -> Self {
        Self {
            pace,
            lanes: Mutex::new(HashMap::new()),
        }
    }

    /// Reserves the next slot in `channel`, or refuses when its queue is full.
    pub(crate) fn reserve(&self, method: &str, channel: &str) -> Result<Turn<'_>, WebError> {
        let now = Instant::now();
        let interval = self.pace.interval;
        let head_start = interval.saturating_mul(self.pace.burst.saturating_sub(1));
        let mut lanes = lock(&self.lanes);
        if lanes.len() >= SWEEP_AT {
            lanes.retain(|_, lane| lane.waiting > 0 || lane.free_at > now);
        }
        let lane = lanes.entry(channel.to_owned()).or_insert(Lane {
            free_at: now,
            waiting: 0,
        });
        if lane.waiting >= self.pace.queue {
            return Err(WebError::QueueFull {
                method: method.to_owned(),
                channel: channel.to_owned(),
                limit: self.pace.queue,
            });
        }
        let free_at = lane.free_at.max(now);
        let at = free_at.checked_sub(head_start).unwrap_or(now).max(now);
        lane.free_at = free_at + interval;
        lane.waiting += 1;
        Ok(Turn {
            pacer: self,
            channel: channel.to_owned(),
            at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_goes_at_once_then_one_per_interval() {
        let pacer = Pacer::new(Pace {
            interval: Duration::from_millis(100),
            burst: 2,
            queue: 10,
        });
        let start = Instant::now();
        let slots: Vec<Duration> = (0..4)
            .map(|_| {
                let turn = pacer.reserve("chat.postMessage", "C1").unwrap();
                turn.at - start
            })
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(slots, vec![ms(0), ms(0), ms(100), ms(200)]);
        // Another channel has its own lane.
        let other = pacer.reserve("chat.postMessage", "C2").unwrap();
        assert_eq!(other.at, start);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_lane_refuses_and_frees_places_as_turns_end() {
        let pacer = Pacer::new(Pace {
            interval: Duration::from_secs(1),
            burst: 1,
            queue: 2,
        });
        let first = pacer.reserve("chat.postMessage", "C1").unwrap();
        let _second = pacer.reserve("chat.postMessage", "C1").unwrap();
        let refused = pacer.reserve("chat.postMessage", "C1");
        assert!(matches!(refused, Err(WebError::QueueFull { limit: 2, .. })));
        drop(first);
        assert!(pacer.reserve("chat.postMessage", "C1").is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn the_gate_holds_one_method_only() {
        let gate = RateGate::default();
        gate.block("chat.update", Duration::from_secs(7));
        let start = Instant::now();
        gate.wait("reactions.add").await;
        assert_eq!(Instant::now(), start);
        gate.wait("chat.update").await;
        assert_eq!(Instant::now() - start, Duration::from_secs(7));
    }
}
