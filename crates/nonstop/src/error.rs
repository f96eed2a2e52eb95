//! Errors that end [`crate::App::run`].

use crate::cause::DisconnectCause;
use crate::config::ConfigError;

/// Why the runtime stopped. Only conditions that retrying cannot fix end up here; everything
/// transient is retried without limit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("invalid configuration: {0}")]
    Config(#[from] ConfigError),
    /// Slack refused the credentials or the app's setup.
    #[error("stopping: {cause} — {fix}")]
    Fatal {
        /// What Slack said, e.g. `apps.connections.open: token_revoked`.
        cause: String,
        /// What the user should do.
        fix: String,
    },
    /// A `hears` pattern is not a regular expression; the message names it.
    #[error("could not start: {0}")]
    Pattern(String),
    /// A listener takes a [`State`](crate::State) whose type no `App::with_state` registered.
    #[error("could not start: the listener for {listener} takes State<{type_name}>, and no value of that type was registered: add .with_state(value) to the App")]
    MissingState {
        type_name: &'static str,
        /// How the listener was registered, e.g. `command "/todo"`.
        listener: String,
    },
    /// The journal could not be opened or read at start (the message names the file and
    /// what to do).
    #[error("could not start: {0}")]
    Journal(#[from] crate::journal::StoreError),
    /// The Web API client could not be built from the settings.
    #[error("could not start: the Web API client: {0}")]
    Client(nonstop_web::WebError),
    /// The operator endpoint could not listen where asked (`NONSTOP_HTTP`).
    #[error("could not start: the operator endpoint cannot listen on {addr}: {detail}; pick a free port in NONSTOP_HTTP, or `off`")]
    Endpoint { addr: String, detail: String },
    /// The bot's own rotating token expired and could not be renewed at start.
    #[error("could not start: the bot's rotating token could not be renewed ({detail}); if Slack refused the refresh token, install the app again and set the new SLACK_BOT_TOKEN and SLACK_REFRESH_TOKEN")]
    TokenRenewal { detail: String },
    /// The HTTP receiver could not listen where asked (`NONSTOP_HTTP_LISTEN`).
    #[error("could not start: the request URL's receiver cannot listen on {addr}: {detail}; pick a free port in NONSTOP_HTTP_LISTEN")]
    Receiver { addr: String, detail: String },
    /// A task the runtime cannot run without ended while the bot ran (a panic, a bug of ours).
    /// Stopping beats running deaf: whatever was journaled is replayed at the next start.
    #[error("stopping: the {task} stopped unexpectedly ({detail}); everything journaled is handled after a restart: restart the bot (a process supervisor does it) and report this")]
    TaskDied {
        /// `journal writer`, `dispatcher` or `outbox sender`.
        task: &'static str,
        detail: String,
    },
}

impl Error {
    pub(crate) fn from_web(error: &nonstop_web::WebError) -> Self {
        let fix = error
            .code()
            .and_then(nonstop_web::fix_for)
            .unwrap_or("check the app's configuration in Slack")
            .to_owned();
        // The web error's own text already carries the fix; say it once.
        let cause = match error {
            nonstop_web::WebError::Slack { method, code, .. } => {
                format!("{method} answered `{code}`")
            }
            other => other.to_string(),
        };
        Self::Fatal { cause, fix }
    }

    /// The error a fatal close ([`DisconnectCause::is_fatal`]) ends the run with.
    pub(crate) fn from_fatal_cause(cause: &DisconnectCause) -> Self {
        Self::Fatal {
            cause: format!("Slack closed the socket with {cause}: Socket Mode is switched off for this app"),
            fix: "turn Socket Mode on in the app settings (Settings → Socket Mode), or serve the Events API over HTTP".to_owned(),
        }
    }
}
