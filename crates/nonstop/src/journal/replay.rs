//! Replay on start, with a guard against crash loops.
//!
//! An event whose handler brings the whole process down (an abort, a stack overflow, running
//! out of memory: things `catch_unwind` cannot stop) would otherwise be replayed on every
//! start and take the bot down every time, for good. So each replay's start is written to the
//! journal before any handler runs, and an event already started
//! [`MAX_INTERRUPTED_STARTS`] times without finishing is recorded as failed instead.

use tracing::{error, warn};

use super::{Entry, Mark, Store};

/// Starts cut off by the process stopping, after which an event is not started again.
pub const MAX_INTERRUPTED_STARTS: u32 = 3;

/// Records a start for every entry of `backlog` that will be replayed, and a failure for
/// every entry that was cut off too often; returns the ones to replay, in order, then the ones
/// given up ([`given_up`]): the dispatcher runs no handler for those, and only stops the
/// streamed answers their cut-off runs left open.
pub(crate) fn prepare(store: &dyn Store, backlog: Vec<Entry>) -> Vec<Entry> {
    let (given_up, replay): (Vec<Entry>, Vec<Entry>) = backlog
        .into_iter()
        .partition(|entry| given_up(entry.attempts));
    let mut marks: Vec<Mark> = given_up
        .iter()
        .map(|entry| Mark::Failed {
            key: entry.key.clone(),
            error: format!(
                "started {} times and the process stopped each time before it finished; \
                 not started again",
                entry.attempts
            ),
        })
        .collect();
    marks.extend(replay.iter().map(|entry| Mark::Dispatched {
        key: entry.key.clone(),
    }));
    for entry in &given_up {
        error!(
            seq = entry.seq,
            key = %entry.key,
            starts = entry.attempts,
            "event not replayed: its handler was cut off by every one of the last {} stops \
             (a crash loop?); recorded as failed, see `nonstop journal`",
            entry.attempts
        );
    }
    if let Err(e) = store.commit(&[], &marks) {
        // Replaying without the record only loses the count of this start.
        warn!(error = %e, "journal: replay starts not recorded; replaying anyway");
    }
    let mut replay = replay;
    replay.extend(given_up);
    replay
}

/// Whether a stored event (`attempts`: its handler's starts) was given up: not run again.
pub(crate) fn given_up(attempts: u32) -> bool {
    attempts >= MAX_INTERRUPTED_STARTS
}
