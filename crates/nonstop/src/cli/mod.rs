//! The operator interface for any bot (feature `cli`, on by default): one call in `main`
//! gives a bot's own binary the subcommands of the `nonstop` binary, with the same
//! settings, logging and exit codes.
//!
//! ```no_run
//! use nonstop::{App, Config, Context, HandlerResult, SlashCommand};
//!
//! async fn todo(ctx: Context, command: SlashCommand) -> HandlerResult {
//!     ctx.say(format!("added: {}", command.text)).await?;
//!     Ok(())
//! }
//!
//! fn app(config: Config) -> App {
//!     App::new(config).command("/todo", todo)
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     nonstop::cli::run(app)
//! }
//! ```
//!
//! `mybot` (or `mybot run`) runs the bot until SIGTERM or Ctrl-C (a second one exits at
//! once); `mybot doctor` walks the setup step by step and checks the scopes *these*
//! listeners need (a `/todo` listener needs `commands`, which `nonstop doctor` cannot know);
//! `mybot journal` shows the journal; `mybot health [URL]` asks a running bot's `/healthz`;
//! `mybot manifest` prints the app manifest these listeners need (`--yaml`, and `--check`
//! against the installed app).
//! Settings come from the environment as for `nonstop` (`SLACK_APP_TOKEN`,
//! `SLACK_BOT_TOKEN`, `NONSTOP_DB`, …); `NONSTOP_LOG` sets the levels and
//! `NONSTOP_LOG_FORMAT=json` (or `--log-format json`) the format. Exit status 0 on success,
//! 1 on any failure, with the cause (and the fix) on stderr, never a token.

mod doctor_view;
mod error;
mod health;
mod journal_view;
mod logging;
mod manifest_view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use error::CliError;
pub use logging::init_logging;
pub use manifest_view::{ENV_APP_ID, ENV_CONFIG_TOKEN};

use crate::{App, Config};

/// A bot's command line: the operator's subcommands, `run` when none is given.
#[derive(Parser, Debug)]
#[command(version, about = "A Slack bot on nonstop")]
pub struct Operator {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "NONSTOP_LOG_FORMAT"
    )]
    pub log_format: String,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The operator's subcommands, as every nonstop bot has them (the `nonstop` binary adds its
/// simulator and demo).
#[derive(Subcommand, Debug, Clone)]
#[non_exhaustive]
pub enum Command {
    /// Run the bot with SLACK_APP_TOKEN, SLACK_BOT_TOKEN and optional SLACK_API_URL.
    Run,
    /// Walk from the settings to a live socket step by step (DNS, TCP, TLS, auth.test and the
    /// scopes this bot's listeners need, the socket URL, the upgrade, hello, a ping), then
    /// the journal; a verdict per step and the fix when one fails. Exits 0 only when none
    /// failed.
    Doctor {
        /// Also post a test message to this channel (its id, e.g. C0123ABCD).
        #[arg(long, value_name = "CHANNEL")]
        post_to: Option<String>,
    },
    /// Ask a running bot's /healthz (its operator endpoint, NONSTOP_HTTP) and exit 0 when it
    /// answers 200: a container's health check, in an image with no shell or curl.
    Health {
        /// The endpoint's health URL (plain http, as the endpoint serves).
        #[arg(default_value = "http://127.0.0.1:9090/healthz")]
        url: String,
    },
    /// Print the app manifest these listeners need (scopes, bot events, slash commands,
    /// shortcuts, interactivity, Socket Mode) as JSON, to create the app from or paste into
    /// its settings (App Manifest); `--check` compares it with the installed app's.
    Manifest {
        /// YAML instead of JSON.
        #[arg(long)]
        yaml: bool,
        /// Compare with the installed app's manifest (apps.manifest.export, with
        /// SLACK_CONFIG_TOKEN and SLACK_APP_ID) and exit 1 when they differ.
        #[arg(long)]
        check: bool,
    },
    /// Show the journal (NONSTOP_DB, or REDIS_URL): counts by state, recent events, failures
    /// with their errors, and the outbox.
    Journal {
        /// How many recent events and failures to show.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// Runs the subcommand the process's arguments name for the bot `build` makes from the
/// settings, and returns the exit status: the whole `main` of a bot.
pub fn run(build: impl FnOnce(Config) -> App) -> ExitCode {
    let operator = Operator::parse();
    init_logging(&operator.log_format, "info");
    let command = operator.command.unwrap_or(Command::Run);
    exit_code(block_on(execute(build, command)))
}

/// Runs `future` on a new multi-threaded runtime (what `run` does for a subcommand).
///
/// # Errors
/// When the runtime cannot start (no threads), or as `future` fails.
pub fn block_on<T>(
    future: impl std::future::Future<Output = Result<T, CliError>>,
) -> Result<T, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    runtime.block_on(future)
}

/// The exit status for `result`, having printed an error on stderr (tokens redacted).
pub fn exit_code(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", nonstop_web::redact(&e.to_string()));
            ExitCode::FAILURE
        }
    }
}

/// Runs one operator subcommand for the bot `build` makes.
///
/// # Errors
/// [`CliError`]: what failed and what to do.
pub async fn execute(build: impl FnOnce(Config) -> App, command: Command) -> Result<(), CliError> {
    match command {
        Command::Run => run_bot(build).await,
        Command::Doctor { post_to } => doctor_view::doctor(build, post_to).await,
        Command::Health { url } => health::health(&url).await,
        Command::Journal { limit } => journal_view::journal(limit),
        Command::Manifest { yaml, check } => manifest_view::manifest(build, yaml, check).await,
    }
}

/// `run`: the bot until a signal. The first signal drains (handlers finish, the journal is
/// flushed, sockets close); a second one exits at once: what was journaled is handled after
/// the next start.
async fn run_bot(build: impl FnOnce(Config) -> App) -> Result<(), CliError> {
    let app = build(Config::from_env()?);
    let shutdown = async {
        crate::shutdown_signal().await;
        tokio::spawn(async {
            crate::shutdown_signal().await;
            eprintln!(
                "second signal: exiting now without draining; what was journaled is handled after the next start"
            );
            std::process::exit(130);
        });
    };
    app.run(shutdown).await?;
    Ok(())
}
