//! Logging as every nonstop binary does it: `NONSTOP_LOG`, `NONSTOP_LOG_FORMAT`, colour only
//! on a terminal, and no token in a panic message.

use std::io::IsTerminal;

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The WebSocket library traces each handshake's request line, whose URL carries Slack's
/// single-use `ticket`: that target is held at `debug` whatever `NONSTOP_LOG` asks.
const HANDSHAKE_TARGET: &str = "tungstenite::handshake::client";

/// `NONSTOP_LOG` as `tracing` targets and levels (`info`, `warn,nonstop=debug`); `default`
/// when unset, and when unreadable, with a line saying so. Never below `debug` for
/// [`HANDSHAKE_TARGET`].
fn log_filter(default: &str) -> Targets {
    let fallback = || default.parse().unwrap_or_default();
    let filter: Targets = match std::env::var("NONSTOP_LOG") {
        Ok(value) => value.parse().unwrap_or_else(|e| {
            eprintln!("NONSTOP_LOG={value:?} is not a log filter ({e}); using {default:?}");
            fallback()
        }),
        Err(_) => fallback(),
    };
    if filter.would_enable(HANDSHAKE_TARGET, &tracing::Level::TRACE) {
        filter.with_target(HANDSHAKE_TARGET, tracing::Level::DEBUG)
    } else {
        filter
    }
}

/// Logs to stderr as `NONSTOP_LOG` (levels; `default` when unset) and `format` (`text` or
/// `json`) say, in colour only for a person at a terminal; and a panic hook that redacts
/// tokens. Once per process, before anything logs.
pub fn init_logging(format: &str, default: &str) {
    let filter = log_filter(default);
    // Colour only for a person at a terminal: a log file or journald gets plain text.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour);
    let registry = tracing_subscriber::registry().with(filter);
    if format == "json" {
        registry.with(layer.json().with_current_span(false)).init();
    } else {
        registry.with(layer).init();
    }
    // A panic message may quote user data; never let it print a token.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("panic: {}", nonstop_web::redact(&info.to_string()));
    }));
}
