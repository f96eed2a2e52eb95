//! What a subcommand can fail with.

/// What went wrong in a subcommand; printed on stderr (redacted) before a non-zero exit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    #[error("invalid configuration: {0}")]
    Settings(#[from] crate::ConfigError),
    #[error("the bot stopped: {0}")]
    Stopped(#[from] crate::Error),
    #[error("{why}")]
    DoctorFailed { why: String },
    #[error("{0}")]
    Health(String),
    #[error("the journal: {0}")]
    Journal(#[from] crate::journal::StoreError),
    #[error("no journal at {path}; set NONSTOP_DB to the bot's journal file (or REDIS_URL for a journal in Redis)")]
    NoJournal { path: String },
    #[error("manifest: {0}")]
    Manifest(String),
    #[error("could not write the output: {0}")]
    Output(#[from] std::io::Error),
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
}
