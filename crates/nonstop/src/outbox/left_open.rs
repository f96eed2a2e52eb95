//! Streams a handler left unfinished, held by its run (a file of its own: the run and the
//! stream writer both name it, and it names neither).

/// A stream its handler left unfinished (an error, a panic, a timeout), kept until the
/// handler's run has ended and then stopped with what it has and a note. A run cut off by a
/// crash or a shutdown never ends: its event is replayed, and the replay continues the
/// stream.
#[derive(Debug)]
pub(crate) struct LeftOpen {
    pub(crate) channel: String,
    pub(crate) thread_ts: String,
    /// The start's answer key.
    pub(crate) key: String,
    /// Text not written yet.
    pub(crate) buffer: String,
    pub(crate) start: Option<i64>,
    pub(crate) pieces: u32,
    pub(crate) written: usize,
}
