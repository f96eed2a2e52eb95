//! Repeated log lines folded: a peer that sends a bad frame every millisecond gets a few lines
//! and a count of the rest, not thousands of lines that bury everything else in the log.

use std::time::Duration;

use tokio::time::Instant;

/// Lets `burst` lines through per `window` and counts the others; the next line let through
/// carries how many were folded before it.
#[derive(Debug)]
pub(crate) struct LogLimit {
    burst: u32,
    window: Duration,
    window_start: Option<Instant>,
    in_window: u32,
    folded: u64,
}

impl LogLimit {
    pub(crate) const fn new(burst: u32, window: Duration) -> Self {
        Self {
            burst,
            window,
            window_start: None,
            in_window: 0,
            folded: 0,
        }
    }

    /// `Some(folded)` when a line may be written now (`folded` lines were held back since the
    /// last one written); `None` when this one is folded.
    pub(crate) fn admit(&mut self, now: Instant) -> Option<u64> {
        let window_over = self
            .window_start
            .is_none_or(|start| now.saturating_duration_since(start) >= self.window);
        if window_over {
            self.window_start = Some(now);
            self.in_window = 0;
        }
        if self.in_window < self.burst {
            self.in_window += 1;
            Some(std::mem::take(&mut self.folded))
        } else {
            self.folded += 1;
            None
        }
    }

    /// Lines folded since the last one written.
    pub(crate) fn folded(&self) -> u64 {
        self.folded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_per_window_then_the_next_line_says_how_many_were_folded() {
        let t0 = Instant::now();
        let mut limit = LogLimit::new(3, Duration::from_secs(10));
        let admitted: Vec<Option<u64>> = (0..1000)
            .map(|i| limit.admit(t0 + Duration::from_millis(i)))
            .collect();
        assert_eq!(&admitted[..4], &[Some(0), Some(0), Some(0), None]);
        assert_eq!(admitted.iter().filter(|a| a.is_some()).count(), 3);
        assert_eq!(limit.folded(), 997);
        // The next window lets a line through, carrying the count.
        assert_eq!(limit.admit(t0 + Duration::from_secs(10)), Some(997));
        assert_eq!(limit.folded(), 0);
    }
}
