//! What every group of the benchmarks shares: the simulator's settings, and how a figure is
//! read and written.

use std::time::Duration;

use nonstop_sim::SimConfig;

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub(crate) fn sim_config() -> SimConfig {
    SimConfig {
        echo_bot_messages: false,
        half_open_hold: Duration::from_secs(10),
        ..SimConfig::default()
    }
}

pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}
