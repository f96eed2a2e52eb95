//! The outbox's backlog as the journal's writer sees it: answers it writes go to the sender,
//! finished ones are counted off, and while the backlog is at its bound new envelopes are left
//! with Slack.

use std::sync::Arc;
use std::time::Instant;

use tracing::warn;

use crate::journal::{NewOutput, Output, OutputAppended, OutputMark};
use crate::status::Status;

/// Where the writer hands each answer it wrote for the first time: the outbox's sender. A
/// function, so that delivery knows nothing of the sender's commands.
pub(crate) type AnswerFeed = Box<dyn Fn(Output, Handed) + Send>;

/// Where an answer handed to the sender comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Handed {
    /// Written by this process just now (with its attempt cover, if any).
    Written,
    /// Claimed from another replica: as the journal holds it.
    Adopted,
}

/// The writer's side of the outbox: where written answers go, and how many may wait before
/// new envelopes are left with Slack.
pub(crate) struct OutboxLink {
    pub(crate) feed: AnswerFeed,
    /// Answers not delivered yet, when the writer starts.
    pub(crate) waiting: u64,
    /// From this many waiting answers on, new envelopes are not journaled nor acked.
    pub(crate) bound: u64,
}

impl std::fmt::Debug for OutboxLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxLink")
            .field("waiting", &self.waiting)
            .field("bound", &self.bound)
            .finish_non_exhaustive()
    }
}

/// Answers and their progress gathered for the next commit, kept until one works.
#[derive(Debug, Default)]
pub(crate) struct Carried {
    /// Answers to write, and beside each, who hears what was written.
    pub(crate) outputs: Vec<NewOutput>,
    pub(crate) written: Vec<tokio::sync::oneshot::Sender<OutputAppended>>,
    pub(crate) output_marks: Vec<OutputMark>,
    /// Who waits for marks to be written: the answers they are about, and where to say
    /// whether they applied (false: another process owns an answer now, [`Written::fenced`]).
    ///
    /// [`Written::fenced`]: crate::journal::Written::fenced
    pub(crate) durable: Vec<(Vec<i64>, tokio::sync::oneshot::Sender<bool>)>,
}

impl Carried {
    pub(crate) fn is_empty(&self) -> bool {
        self.outputs.is_empty() && self.output_marks.is_empty() && self.durable.is_empty()
    }
}

/// The outbox's backlog as the writer sees it: every answer it writes and every answer it
/// records as finished. It hands written answers to the sender and holds intake back while
/// the backlog is at its bound.
pub(crate) struct Backlog {
    link: OutboxLink,
    status: Arc<Status>,
    /// Set while envelopes are held back, for one log line per streak.
    holding_since: Option<Instant>,
}

impl Backlog {
    pub(crate) fn new(link: OutboxLink, status: Arc<Status>) -> Self {
        status.set_answers_waiting(link.waiting);
        Backlog {
            link,
            status,
            holding_since: None,
        }
    }

    pub(crate) fn full(&self) -> bool {
        self.link.waiting >= self.link.bound
    }

    pub(crate) fn held_back(&mut self, count: usize) {
        for _ in 0..count {
            self.status.count_held_back();
        }
        if count > 0 && self.holding_since.is_none() {
            self.holding_since = Some(Instant::now());
            warn!(
                waiting = self.link.waiting,
                bound = self.link.bound,
                "answers are waiting for Slack: new events are left unacked with Slack until the outbox drains"
            );
        }
        if count == 0 && !self.full() {
            if let Some(since) = self.holding_since.take() {
                warn!(
                    held_for_ms = since.elapsed().as_millis() as u64,
                    "the outbox drained below its bound: taking new events again"
                );
            }
        }
    }

    /// Answers another replica left, claimed by this one: waiting like those it wrote.
    pub(crate) fn adopt(&mut self, outputs: Vec<Output>) {
        for output in outputs {
            self.link.waiting += 1;
            (self.link.feed)(output, Handed::Adopted);
        }
        self.status.set_answers_waiting(self.link.waiting);
    }

    /// After a commit: counts what it wrote, hands fresh answers to the sender in the order
    /// they were written, then tells each handler what became of its answer.
    ///
    /// An answer whose attempt was fenced (`fenced`: another process took it over) ends here
    /// for this process: its sender drops it, so it no longer counts as waiting.
    pub(crate) fn written(
        &mut self,
        carried: Carried,
        outcomes: Vec<OutputAppended>,
        fenced: &[i64],
    ) {
        for mark in &carried.output_marks {
            let ends = match mark {
                OutputMark::Sent { .. } | OutputMark::Failed { .. } => true,
                OutputMark::Attempt { id, .. } => fenced.contains(id),
                OutputMark::NotPosted { .. } => false,
            };
            if ends {
                self.link.waiting = self.link.waiting.saturating_sub(1);
            }
        }
        let written = carried.outputs.into_iter().zip(carried.written);
        for ((output, heard), outcome) in written.zip(outcomes) {
            if let OutputAppended::Fresh { id } = outcome {
                self.link.waiting += 1;
                // Before the handler hears of it: its wait for delivery comes after this.
                (self.link.feed)(output.written_as(id), Handed::Written);
            }
            let _ = heard.send(outcome);
        }
        for (ids, durable) in carried.durable {
            let _ = durable.send(!ids.iter().any(|id| fenced.contains(id)));
        }
        self.status.set_answers_waiting(self.link.waiting);
    }
}
