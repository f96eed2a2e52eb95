//! Test helpers that are not the simulator but go with it: log lines captured in memory, for
//! tests that assert what a bot logged (or never logged), and a journal file that cleans up.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

/// A `tracing_subscriber` writer that keeps everything written to it:
/// `fmt().with_writer(move || captured.clone())`. Clones share one buffer.
#[derive(Debug, Clone, Default)]
pub struct CapturedLog(Arc<Mutex<Vec<u8>>>);

impl CapturedLog {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for CapturedLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A journal file for one test under the temporary directory, named after the test and the
/// process, removed (with its WAL, shared-memory and lock files) when dropped, also when the
/// test fails.
#[derive(Debug)]
pub struct TempJournal(pub std::path::PathBuf);

impl TempJournal {
    pub fn new(name: &str) -> Self {
        let file = format!("nonstop-{name}-{}.db", std::process::id());
        let journal = Self(std::env::temp_dir().join(file));
        journal.remove();
        journal
    }

    fn remove(&self) {
        for suffix in ["", "-wal", "-shm", "-lock"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", self.0.display()));
        }
    }
}

impl Drop for TempJournal {
    fn drop(&mut self) {
        self.remove();
    }
}
