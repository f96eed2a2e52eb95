//! systemd's notify protocol, when the bot runs as a `Type=notify` service (`NOTIFY_SOCKET`
//! set): `READY=1` once a socket is live, `WATCHDOG=1` every half of `WATCHDOG_USEC` while the
//! supervisor's slot loops are turning (each beats every second), and `STOPPING=1` at
//! shutdown. A wedged supervisor stops the pings, and systemd restarts the process; what was
//! journaled is handled after the restart.
//!
//! The protocol is one datagram per message on a Unix socket; on other systems, and without
//! `NOTIFY_SOCKET`, this does nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{info, warn};

use crate::status::Status;

/// Where to notify, from the environment systemd gives a service; `None` outside systemd.
pub(crate) struct Notifier {
    #[cfg(unix)]
    socket: std::os::unix::net::UnixDatagram,
    #[cfg(unix)]
    address: std::os::unix::net::SocketAddr,
    /// Half of `WATCHDOG_USEC`, when systemd watches this process.
    watchdog_every: Option<Duration>,
}

impl Notifier {
    #[cfg(unix)]
    pub(crate) fn from_env() -> Option<Self> {
        let path = std::env::var_os("NOTIFY_SOCKET")?;
        let address = unix_address(&path)?;
        let socket = std::os::unix::net::UnixDatagram::unbound().ok()?;
        let ours = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_none_or(|pid| pid == std::process::id());
        let watchdog_every = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|usec| usec.parse::<u64>().ok())
            .filter(|usec| *usec > 0 && ours)
            .map(|usec| Duration::from_micros(usec) / 2);
        Some(Self {
            socket,
            address,
            watchdog_every,
        })
    }

    #[cfg(not(unix))]
    pub(crate) fn from_env() -> Option<Self> {
        None
    }

    fn send(&self, message: &str) {
        #[cfg(unix)]
        if let Err(e) = self.socket.send_to_addr(message.as_bytes(), &self.address) {
            warn!(error = %e, message, "could not notify systemd");
        }
        #[cfg(not(unix))]
        let _ = message;
    }
}

#[cfg(unix)]
fn unix_address(path: &std::ffi::OsStr) -> Option<std::os::unix::net::SocketAddr> {
    use std::os::unix::ffi::OsStrExt;
    let bytes = path.as_bytes();
    match bytes.first() {
        // An abstract socket (Linux): `@name`.
        #[cfg(any(target_os = "linux", target_os = "android"))]
        Some(b'@') => {
            use std::os::linux::net::SocketAddrExt;
            std::os::unix::net::SocketAddr::from_abstract_name(&bytes[1..]).ok()
        }
        Some(b'/') => std::os::unix::net::SocketAddr::from_pathname(path).ok(),
        _ => None,
    }
}

/// True while every slot loop beat within `within`: the supervisor is turning.
pub(crate) fn supervisor_turning(status: &Status, within: Duration) -> bool {
    status.slowest_beat().is_none_or(|age| age <= within)
}

/// Notifies systemd until `stop` turns true.
pub(crate) async fn run(notifier: Notifier, status: Arc<Status>, mut stop: watch::Receiver<bool>) {
    let ready = async {
        // In hour-long waits: a deadline must be a time the clock can hold.
        while !status
            .wait_for(Duration::from_secs(3600), |s| s.live_connections > 0)
            .await
        {}
    };
    let watchdog = async {
        let Some(every) = notifier.watchdog_every else {
            return std::future::pending().await;
        };
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stalled = false;
        loop {
            ticks.tick().await;
            // Slot loops beat once a second: a shorter watchdog must still allow a beat's age.
            if supervisor_turning(&status, every.max(crate::supervisor::HEARTBEAT * 3)) {
                if stalled {
                    info!("the supervisor turns again: pinging systemd's watchdog again");
                    stalled = false;
                }
                notifier.send("WATCHDOG=1");
            } else if !stalled {
                warn!("the supervisor has stopped turning: not pinging systemd's watchdog, which restarts the bot if this lasts");
                stalled = true;
            }
        }
    };
    tokio::pin!(ready, watchdog);
    let mut told_ready = false;
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopping| *stopping) => {
                notifier.send("STOPPING=1");
                return;
            }
            _ = &mut ready, if !told_ready => {
                told_ready = true;
                notifier.send("READY=1");
            }
            () = &mut watchdog => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_fed_only_while_every_slot_loop_beats() {
        let status = Status::new();
        // Before the first beat (start-up): nothing to hold against it.
        assert!(supervisor_turning(&status, Duration::from_millis(10)));
        status.beat(0);
        status.beat(1);
        assert!(supervisor_turning(&status, Duration::from_secs(60)));
        std::thread::sleep(Duration::from_millis(30));
        status.beat(0);
        // Slot 1 has not turned for 30 ms: stalled, for a 10 ms watchdog.
        assert!(!supervisor_turning(&status, Duration::from_millis(10)));
        assert!(supervisor_turning(&status, Duration::from_secs(60)));
    }
}
