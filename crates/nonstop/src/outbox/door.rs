//! The outbox's one door to the journal's writer, both ways. An answer is written through
//! it, and every mark of an answer's progress (an attempt about to be made, posted or not,
//! sent or refused) goes through it; the writer hands the sender each answer it wrote
//! through it ([`answers_to`]). No other file of the outbox names the writer's operations,
//! so what passes between the outbox and the writer, and which marks wait to be durable, is
//! read here.

use tokio::sync::{mpsc, oneshot};

use super::{Command, Feed};
use crate::delivery::writer::{Op, OutputSubmission};
use crate::delivery::{AnswerFeed, Handed};
use crate::journal::{NewOutput, OutputAppended, OutputMark};

/// The journal's writer is gone: the runtime is stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriterGone;

/// See the module's doc. Cheap to clone: every handler context and the sender hold one.
#[derive(Debug, Clone)]
pub(crate) struct WriterDoor {
    ops: mpsc::Sender<Op>,
}

impl WriterDoor {
    pub(crate) fn new(ops: mpsc::Sender<Op>) -> Self {
        WriterDoor { ops }
    }

    /// Writes one answer and waits until it is durable: what was written (a fresh answer, or
    /// the one a replayed handler wrote before under the same key).
    pub(crate) async fn write(&self, output: NewOutput) -> Result<OutputAppended, WriterGone> {
        let (written, outcome) = oneshot::channel();
        self.ops
            .send(Op::Output(Box::new(OutputSubmission { output, written })))
            .await
            .map_err(|_| WriterGone)?;
        outcome.await.map_err(|_| WriterGone)
    }

    /// Records `mark` with the next commit, without waiting for it.
    pub(crate) async fn mark(&self, mark: OutputMark) -> Result<(), WriterGone> {
        self.mark_all(vec![mark]).await
    }

    /// Records `marks` with the next commit, without waiting for it.
    pub(crate) async fn mark_all(&self, marks: Vec<OutputMark>) -> Result<(), WriterGone> {
        let op = Op::OutputMarks {
            marks,
            durable: None,
        };
        self.ops.send(op).await.map_err(|_| WriterGone)
    }

    /// Records `mark` and waits until it is durable (an attempt must be on disk before its
    /// call is made): false when it did not apply because another process owns the answer
    /// now (a shared store's fencing).
    pub(crate) async fn mark_durably(&self, mark: OutputMark) -> Result<bool, WriterGone> {
        let (durable, written) = oneshot::channel();
        let op = Op::OutputMarks {
            marks: vec![mark],
            durable: Some(durable),
        };
        self.ops.send(op).await.map_err(|_| WriterGone)?;
        written.await.map_err(|_| WriterGone)
    }
}

/// The writer's way to hand the sender each answer it wrote.
pub(crate) fn answers_to(feed: Feed) -> AnswerFeed {
    Box::new(move |output, handed| {
        let output = Box::new(output);
        let command = match handed {
            Handed::Written => Command::Written(output),
            Handed::Adopted => Command::Deliver(output),
        };
        // Gone only when the sender ended; the answer is in the outbox for the next start.
        let _ = feed.send(command);
    })
}
