//! What the client did, per method: calls by outcome and time spent waiting for Slack's rate
//! limits. Read by the runtime's `/metrics`.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::WebError;

/// Methods counted by name at most; calls to more go under `other` (a bot calling ever new
/// method names must not grow this without bound).
const NAMED: usize = 128;

/// One method's calls since the client was made.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodStats {
    /// Answered `ok:true`.
    pub ok: u64,
    /// Answered `ok:false` (Slack's refusal, with a code).
    pub refused: u64,
    /// Answered 429.
    pub rate_limited: u64,
    /// No answer Slack meant: a transport error, a timeout, an HTTP status other than 2xx/429.
    pub failed: u64,
    /// Time calls waited before they were made because Slack had limited the method.
    pub waited: Duration,
}

#[derive(Debug, Default)]
pub(crate) struct Stats {
    /// std Mutex: one short update per call, never held across an await.
    methods: Mutex<BTreeMap<String, MethodStats>>,
}

impl Stats {
    fn update(&self, method: &str, change: impl FnOnce(&mut MethodStats)) {
        let mut methods = self
            .methods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // The common case, a method seen before, allocates nothing.
        if let Some(stats) = methods.get_mut(method) {
            change(stats);
            return;
        }
        let name = if methods.len() < NAMED {
            method
        } else {
            "other"
        };
        change(methods.entry(name.to_owned()).or_default());
    }

    pub(crate) fn record<T>(&self, method: &str, result: &Result<T, WebError>) {
        self.update(method, |stats| match result {
            Ok(_) => stats.ok += 1,
            Err(WebError::Slack { .. }) => stats.refused += 1,
            Err(WebError::RateLimited { .. }) => stats.rate_limited += 1,
            Err(_) => stats.failed += 1,
        });
    }

    pub(crate) fn waited(&self, method: &str, waited: Duration) {
        // Below a millisecond it is the gate's own bookkeeping, not a limit.
        if waited >= Duration::from_millis(1) {
            self.update(method, |stats| stats.waited += waited);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<(String, MethodStats)> {
        let methods = self
            .methods
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        methods
            .iter()
            .map(|(name, stats)| (name.clone(), stats.clone()))
            .collect()
    }
}
