//! What a test's own thread logs, captured: a `#[tokio::test]` runs the bot on that thread, so
//! a test can assert what the bot said (a close named, a secret never shown).

use std::cell::RefCell;

use nonstop_sim::CapturedLog;

thread_local! {
    /// Where this thread's log lines go while a test captures them.
    static CAPTURE: RefCell<Option<CapturedLog>> = const { RefCell::new(None) };
}

/// Writes a line to the capture of the thread that logs it, or nowhere.
struct ByThread;

impl std::io::Write for ByThread {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        CAPTURE.with(|capture| match capture.borrow_mut().as_mut() {
            Some(log) => log.write(buf),
            None => Ok(buf.len()),
        })
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stops the capture of its thread when dropped.
#[derive(Debug)]
pub struct Capturing;

impl Drop for Capturing {
    fn drop(&mut self) {
        CAPTURE.with(|capture| capture.borrow_mut().take());
    }
}

/// Captures what this test's thread logs, without colour, until the guard is dropped. One
/// global subscriber for the whole test binary, writing each line to the capture of the
/// thread that logs it: a subscriber per test (`set_default`) races with tests running beside
/// it over tracing's cached interest in each log line's callsite, and a span another test
/// met first could be lost.
pub fn capture_logs() -> (CapturedLog, Capturing) {
    static GLOBAL: std::sync::Once = std::sync::Once::new();
    GLOBAL.call_once(|| {
        let subscriber = tracing_subscriber::fmt()
            .with_writer(|| ByThread)
            .with_ansi(false)
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
    });
    let captured = CapturedLog::default();
    CAPTURE.with(|capture| *capture.borrow_mut() = Some(captured.clone()));
    (captured, Capturing)
}
