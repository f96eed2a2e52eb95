//! Retry delays: the first retry at once, then full-jitter exponential up to a low cap, with
//! Slack's `Retry-After` taking precedence. Unlimited: a transient failure never ends the bot.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    /// Failures since the last success.
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration) -> Self {
        Self {
            base,
            cap: cap.max(base),
            failures: 0,
        }
    }

    /// Forget past failures, after a connection stayed up long enough.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// The delay before the next attempt. `retry_after` is Slack's own word and wins, plus a
    /// little jitter so that replicas don't return in lockstep.
    pub fn next_delay(&mut self, retry_after: Option<Duration>, rng: &mut impl Rng) -> Duration {
        let failures = self.failures;
        self.failures = self.failures.saturating_add(1);
        if let Some(wait) = retry_after {
            return wait + Duration::from_millis(rng.random_range(0..=100));
        }
        if failures == 0 {
            return Duration::ZERO;
        }
        let exponent = (failures - 1).min(16);
        let ceiling = self.base.saturating_mul(1 << exponent).min(self.cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn first_retry_is_immediate_then_capped_jitter() {
        let mut rng = StdRng::seed_from_u64(7);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        assert_eq!(backoff.next_delay(None, &mut rng), Duration::ZERO);
        for _ in 0..200 {
            let delay = backoff.next_delay(None, &mut rng);
            assert!(delay <= Duration::from_secs(5), "{delay:?}");
        }
        // Full jitter spreads delays: not all at the cap.
        let delays: Vec<_> = (0..50)
            .map(|_| backoff.next_delay(None, &mut rng))
            .collect();
        assert!(delays.iter().any(|d| *d < Duration::from_millis(2500)));
    }

    #[test]
    fn growth_is_exponential_before_the_cap() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        let _ = backoff.next_delay(None, &mut rng);
        for ceiling_ms in [500u64, 1000, 2000, 4000, 5000, 5000] {
            let delay = backoff.next_delay(None, &mut rng);
            assert!(
                delay <= Duration::from_millis(ceiling_ms),
                "{delay:?} > {ceiling_ms}"
            );
        }
    }

    #[test]
    fn retry_after_wins_and_reset_restarts() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut backoff = Backoff::new(Duration::from_millis(500), Duration::from_secs(5));
        let delay = backoff.next_delay(Some(Duration::from_secs(30)), &mut rng);
        assert!(delay >= Duration::from_secs(30) && delay <= Duration::from_millis(30_100));
        assert_eq!(backoff.failures(), 1);
        backoff.reset();
        assert_eq!(backoff.next_delay(None, &mut rng), Duration::ZERO);
    }
}
