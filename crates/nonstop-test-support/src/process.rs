//! Processes a test starts: killed and reaped when dropped, waited for with a bound, and sent
//! signals.

use std::ops::{Deref, DerefMut};
use std::process::{Child, Command, ExitStatus, Output};
use std::time::Duration;

/// Waits up to `within` for `child` to exit, polling (a child process has nothing to await),
/// then kills it if it still runs; how it ended.
pub async fn exited_within(child: &mut Child, within: Duration) -> ExitStatus {
    let deadline = std::time::Instant::now() + within;
    while child.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    child.wait().unwrap()
}

/// Sends the signal `name` (`STOP`, `CONT`, `TERM`) to `child`, with `kill(1)`.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} failed");
}

/// A process of the test's own, killed (SIGKILL) and reaped when dropped: a test that fails
/// half-way leaves no `nonstop run` or `nonstop sim` behind on the machine.
#[derive(Debug)]
pub struct Running(Option<Child>);

impl Running {
    /// Starts `command`.
    pub fn spawn(command: &mut Command) -> Self {
        Running(Some(command.spawn().expect("the process starts")))
    }

    /// Waits for it to exit and collects what it printed to piped stdout/stderr.
    pub fn wait_with_output(mut self) -> Output {
        let child = self.0.take().expect("not yet waited for");
        child.wait_with_output().expect("its output")
    }
}

impl Deref for Running {
    type Target = Child;
    fn deref(&self) -> &Child {
        self.0.as_ref().expect("not yet waited for")
    }
}

impl DerefMut for Running {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("not yet waited for")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
