//! Dev-only helpers the workspace's own tests share (never a dependency of a bot): Redis for
//! tests, processes a test starts and what they say of themselves, and skips that are seen.

// Test code: a failed setup step is a failed test, said by the panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod logs;
mod metrics;
mod process;
mod redis_server;
mod skip;

pub use logs::{capture_logs, Capturing};
pub use metrics::{bot_settled, free_port, metric};
pub use process::{exited_within, signal, Running};
pub use redis_server::{redis_tls_fixtures, redis_url, OwnRedis, RedisPrefix};
pub use skip::{unless_missing, NO_SKIPS, SKIP_LOG};
