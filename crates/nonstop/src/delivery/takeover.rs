//! With a journal several replicas share (Redis): what a replica left unfinished when it died
//! (or stopped with handlers cut short) is claimed by a live replica once its lease ran out,
//! and run here as replays (`ctx.attempt() >= 1`), with the crash-loop guard of a restart;
//! its undelivered answers go to this replica's outbox (through the journal's writer, which
//! counts them waiting like its own).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use super::writer::Op;
use super::Envelope;
use crate::journal::{replay, Store, StoreError};
use crate::status::Status;

/// Entries (and answers) claimed in one round at most; more wait for the next round.
const CLAIM_AT_MOST: usize = 1_000;

/// What the loop needs.
pub(crate) struct Takeover {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) dispatch: mpsc::Sender<Envelope>,
    /// The journal's writer, for the answers claimed.
    pub(crate) writer: mpsc::Sender<Op>,
    pub(crate) status: Arc<Status>,
    /// How often to look: a dead replica's work is handled within its lease plus this.
    pub(crate) every: Duration,
}

impl std::fmt::Debug for Takeover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Takeover")
            .field("every", &self.every)
            .finish_non_exhaustive()
    }
}

/// How often a replica looks for work left by others: a third of the lease, at most a second
/// (so that work is picked up within the lease and a second), at least 50 ms.
pub(crate) fn interval(lease: Duration) -> Duration {
    (lease / 3).clamp(Duration::from_millis(50), Duration::from_secs(1))
}

/// Looks for abandoned work every `every` until `stop`; ends then.
pub(crate) async fn run(takeover: Takeover, mut stop: watch::Receiver<bool>) {
    let mut failing = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(takeover.every) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let store = Arc::clone(&takeover.store);
        let claimed = tokio::task::spawn_blocking(move || {
            let taken = store.take_over(CLAIM_AT_MOST)?;
            let entries = replay::prepare(store.as_ref(), taken.entries);
            Ok::<_, StoreError>((entries, taken.outputs))
        })
        .await;
        let (entries, outputs) = match claimed {
            Ok(Ok(claimed)) => {
                if failing {
                    failing = false;
                    info!("journal: looking for work other replicas left works again");
                }
                claimed
            }
            Ok(Err(e)) => {
                if !failing {
                    failing = true;
                    warn!(error = %e, "journal: could not look for work other replicas left; retrying");
                }
                continue;
            }
            Err(e) => {
                warn!(error = %e, "journal: the takeover lookup died; retrying");
                continue;
            }
        };
        if entries.is_empty() && outputs.is_empty() {
            continue;
        }
        info!(
            events = entries.len(),
            answers = outputs.len(),
            "took over what a stopped replica left unfinished; running it here as replays"
        );
        if !outputs.is_empty() {
            tokio::select! {
                sent = takeover.writer.send(Op::Adopt(outputs)) => if sent.is_err() { return },
                _ = stop.changed() => return,
            }
        }
        for entry in &entries {
            let Some(envelope) = super::replayed_envelope(entry) else {
                warn!(seq = entry.seq, key = %entry.key, "journal entry unreadable; not replayed");
                continue;
            };
            if !replay::given_up(entry.attempts) {
                takeover.status.count_replayed();
            }
            tokio::select! {
                sent = takeover.dispatch.send(envelope) => if sent.is_err() { return },
                _ = stop.changed() => return,
            }
        }
    }
}
