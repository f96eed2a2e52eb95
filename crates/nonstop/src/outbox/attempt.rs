//! One answer's attempts, what the sender (`sender.rs`) and the socket route (`over_socket.rs`)
//! share: the sender's setup, how a delivery ends, and the marks recorded around a call.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nonstop_web::WebClient;

use tokio::time::Instant;
use tracing::warn;

use crate::identity::BotIdentity;
use crate::journal::{OutputMark, Store};
use crate::status::Status;

use super::door::{WriterDoor, WriterGone};

use super::socket_route::SocketRoute;

/// What the sender needs.
#[derive(Clone)]
pub(crate) struct SenderSetup {
    /// The bot's own token's client; an answer for an installed workspace goes through that
    /// workspace's ([`SenderSetup::workspaces`]).
    pub(crate) web: WebClient,
    /// The installed workspaces, when the app installs in several.
    pub(crate) workspaces: Option<Arc<crate::install::Workspaces>>,
    /// The one way to the journal's writer.
    pub(crate) door: WriterDoor,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) status: Arc<Status>,
    /// How long a call whose answer was lost may still take effect at Slack: a message that
    /// may have been posted is looked for only after this, so a late one is found.
    pub(crate) settle: Duration,
    pub(crate) backoff_base: Duration,
    pub(crate) backoff_cap: Duration,
    /// Where plain-text messages go first, when the app gives one (RTM with
    /// `rtm_send_over_socket`).
    pub(crate) socket: Option<Arc<dyn SocketRoute>>,
    /// Who the bot is: an RTM message is known in history by its author and text.
    pub(crate) me: Arc<BotIdentity>,
    /// With a store other processes share ([`LeaseStore::lease`](crate::journal::LeaseStore::lease)): how long an answer stays this
    /// process's after a mark renewed its lease. Every call is then preceded by a mark, and
    /// made only while the lease surely holds (see [`record_attempt`]).
    pub(crate) lease: Option<Duration>,
}

/// How one answer's delivery ended.
#[derive(Debug)]
pub(super) enum Finished {
    /// Slack took it; its answer as recorded.
    Sent(String),
    /// Slack refused it for good.
    Failed(String),
    /// The runtime is stopping and the attempt could not be recorded: left as it is.
    Abandoned,
    /// Another process owns the answer now (this one was paused or cut off past its lease,
    /// and a live one took its work over): that one delivers it; this one must not.
    HandedOver,
    /// An installed workspace's token was refused (expired, revoked, invalid): the sender
    /// renews it when it rotates and tries again with the workspace's current one.
    TokenRefused(String),
}

pub(super) async fn not_posted(setup: &SenderSetup, id: i64) {
    let _ = setup.door.mark(OutputMark::NotPosted { id }).await;
}

/// Writes that a call is about to be made, and waits until that is durable; returns when it
/// was recorded. [`Finished::Abandoned`] when the journal's writer is gone (the runtime is
/// stopping), [`Finished::HandedOver`] when another process owns the answer now.
///
/// Fencing, with a store other processes share: the mark applies only while this process
/// owns the answer, and renews its lease, so nobody takes the answer for a lease from when
/// the mark was asked for. The call must start early enough in that lease to land before
/// it ends (a call lands within `settle`): when more time than that passed before the
/// mark came back (the process was paused, say), the mark is made again. Returns when the
/// attempt was recorded, and with a shared store the instant by which the call must start
/// ([`WebClient::attempt_by`]).
pub(super) async fn record_attempt(
    setup: &SenderSetup,
    id: i64,
) -> Result<(SystemTime, Option<Instant>), Finished> {
    loop {
        let asked = Instant::now();
        let at = SystemTime::now();
        match setup
            .door
            .mark_durably(OutputMark::Attempt { id, at })
            .await
        {
            Ok(true) => {}
            Ok(false) => return Err(Finished::HandedOver),
            Err(WriterGone) => return Err(Finished::Abandoned),
        }
        let Some(lease) = setup.lease else {
            return Ok((at, None));
        };
        let usable = lease.saturating_sub(setup.settle.min(lease / 2));
        if asked.elapsed() < usable {
            return Ok((at, Some(asked + usable)));
        }
        warn!(
            id,
            waited_ms = asked.elapsed().as_millis() as u64,
            "an answer's attempt took longer to record than its lease allows a call (paused, or a slow journal); recording it again before the call"
        );
    }
}
