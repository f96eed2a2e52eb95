//! The Events API over HTTP: Slack posts each event, slash command and interaction to the
//! bot's request URL. A transport without slots: one listener that checks each request's
//! [`signature`], journals what it holds through the same intake as the sockets, and answers
//! inside Slack's 3 s (`receiver.rs`; what a body holds is read in `request.rs`). It is
//! "live" while its check of itself passes (a signed request to its own listener, every few
//! seconds) or Slack's requests arrive, which is what `/healthz` and catch-up go by.

mod receiver;
mod request;
pub mod signature;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::{info, warn};

pub(crate) use receiver::Receiver;

use crate::cause::DisconnectCause;
use crate::status::{LifecycleChange, SlotPhase, Status};
use crate::task::OwnedTask;

/// How the receiver is served: Slack may hold many connections at once under load.
const LIMITS: crate::serving::Limits = crate::serving::Limits {
    connections: 512,
    lifetime: Duration::from_secs(120),
    name: "request URL",
};
/// How often the receiver checks itself.
const SELF_CHECK_EVERY: Duration = Duration::from_secs(10);
/// How long its check of itself may take.
const SELF_CHECK_WITHIN: Duration = Duration::from_secs(2);

/// Serves `routes` (the receiver's, and the operator endpoint's when they share the
/// listener) until `stop` turns true, keeping the receiver's health in `status` as slot 0.
pub(crate) async fn run(
    receiver: Arc<Receiver>,
    listener: TcpListener,
    routes: Router,
    path: String,
    stop: watch::Receiver<bool>,
) -> Result<(), String> {
    let addr = listener
        .local_addr()
        .map_err(|e| format!("the listener has no address: {e}"))?;
    info!(%addr, path, "receiving Slack's requests: set the app's request URLs (events, interactivity, slash commands) to https://<this bot's public address>{path}");
    let mut serving_stop = stop.clone();
    // A task of its own: it must go on serving while the check below waits for it.
    let mut server = OwnedTask::spawn(crate::serving::serve(
        listener,
        routes,
        LIMITS,
        async move {
            let _ = serving_stop.wait_for(|stopping| *stopping).await;
        },
    ));
    let mut health = Health::new(Arc::clone(&receiver.status));
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut next_check = Instant::now();
    loop {
        tokio::select! {
            served = &mut server => {
                health.down(DisconnectCause::Shutdown);
                return match served {
                    Ok(Ok(())) if *stop.borrow() => Ok(()),
                    Ok(Ok(())) => Err("the receiver stopped serving before shutdown".to_owned()),
                    Ok(Err(e)) => Err(format!("the receiver's listener failed: {e}")),
                    Err(e) => Err(format!("the receiver's server died: {}", e)),
                };
            }
            _ = tick.tick() => {
                receiver.status.beat(0);
                if Instant::now() < next_check {
                    continue;
                }
                let since = next_check - SELF_CHECK_EVERY;
                next_check = Instant::now() + SELF_CHECK_EVERY;
                let checked = receiver::check_itself(reachable(addr), &path, &receiver.secrets, SELF_CHECK_WITHIN).await;
                health.checked(checked, receiver.heard_since(since));
            }
        }
    }
}

/// The address a check of the listener connects to: loopback when it listens on all
/// addresses.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    }
}

/// The receiver's health as the status shows a socket's: live from the first passing
/// check, down (with the check's failure as the cause) while checks fail and Slack's
/// requests do not come either.
struct Health {
    status: Arc<Status>,
    live_since: Option<Instant>,
    down_since: Instant,
    connection: u64,
    /// Live at least once: a later live is a reconnect.
    ever_live: bool,
    /// The failure of this spell down was said already.
    said: bool,
}

impl Health {
    fn new(status: Arc<Status>) -> Self {
        status.set_slot_phase(0, SlotPhase::Opening { failures: 0 });
        Self {
            status,
            live_since: None,
            down_since: Instant::now(),
            connection: 0,
            ever_live: false,
            said: false,
        }
    }

    fn checked(&mut self, checked: Result<(), String>, heard: bool) {
        match checked {
            Ok(()) => self.up(),
            // The check failed but Slack's requests came: the receiver answers Slack.
            Err(_) if heard => self.up(),
            Err(detail) => {
                if !self.said {
                    warn!(error = %detail, "the request URL's receiver failed its check of itself: Slack's requests may not reach the bot either");
                }
                self.said = true;
                self.down(DisconnectCause::SelfCheckFailed { detail });
            }
        }
    }

    fn up(&mut self) {
        if self.live_since.is_some() {
            return;
        }
        self.connection += 1;
        let slot_down_for = self.ever_live.then(|| self.down_since.elapsed());
        self.status.socket_live(self.ever_live);
        self.status.set_slot_phase(0, SlotPhase::Live);
        self.status
            .record(0, self.connection, LifecycleChange::Live { slot_down_for });
        if self.said {
            info!("the request URL's receiver passes its check again");
        }
        self.ever_live = true;
        self.said = false;
        self.live_since = Some(Instant::now());
    }

    fn down(&mut self, cause: DisconnectCause) {
        let Some(since) = self.live_since.take() else {
            return;
        };
        self.down_since = Instant::now();
        self.status.socket_closed(&cause);
        self.status
            .set_slot_phase(0, SlotPhase::Waiting { failures: 1 });
        self.status.record(
            0,
            self.connection,
            LifecycleChange::Closed {
                cause: cause.to_string(),
                cause_kind: cause.kind(),
                planned: cause.is_planned(),
                lifetime: since.elapsed(),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_while_the_check_passes_or_slack_is_heard_and_down_with_the_cause_otherwise() {
        let status = Arc::new(Status::new());
        let mut health = Health::new(Arc::clone(&status));
        health.checked(Err("connecting: refused".to_owned()), false);
        assert_eq!(status.snapshot().live_connections, 0);
        health.checked(Ok(()), false);
        assert_eq!(status.snapshot().live_connections, 1);
        // The check fails, but Slack's requests came: still live.
        health.checked(Err("no answer within 2 s".to_owned()), true);
        assert_eq!(status.snapshot().live_connections, 1);
        health.checked(Err("no answer within 2 s".to_owned()), false);
        let snapshot = status.snapshot();
        assert_eq!(snapshot.live_connections, 0);
        let cause = snapshot
            .last_disconnect
            .map(|d| d.cause)
            .unwrap_or_default();
        assert_eq!(cause, "self_check_failed(no answer within 2 s)");
        health.checked(Ok(()), false);
        assert_eq!(status.snapshot().live_connections, 1);
        assert_eq!(status.snapshot().reconnects, 1);
    }

    #[test]
    fn a_listener_on_every_address_is_checked_on_loopback() {
        let any: SocketAddr = "0.0.0.0:3000"
            .parse()
            .unwrap_or(SocketAddr::from(([0; 4], 0)));
        assert_eq!(reachable(any).to_string(), "127.0.0.1:3000");
        let one: SocketAddr = "10.0.0.5:3000".parse().unwrap_or(any);
        assert_eq!(reachable(one), one);
    }
}
