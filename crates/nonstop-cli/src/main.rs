//! The `nonstop` binary: run a bot, read its journal; with the `simulator` feature (on by
//! default, off in the deployed build) also run the Slack simulator or watch the demo.

#[cfg(feature = "simulator")]
mod demo;
#[cfg(feature = "simulator")]
mod demo_http;
#[cfg(feature = "simulator")]
mod sim_control;
#[cfg(feature = "simulator")]
mod simulator;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "nonstop",
    version,
    about = "A Slack bot runtime that stays online"
)]
struct Cli {
    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        default_value = "text",
        env = "NONSTOP_LOG_FORMAT"
    )]
    log_format: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The operator's subcommands every nonstop bot has (`run`, `doctor`, `health`,
    /// `journal`), here for the built-in bot (`ping`, `status`).
    #[command(flatten)]
    Operator(nonstop::cli::Command),
    /// Run the Slack simulator; or, with a subcommand, drive a running one (send any inbound
    /// kind, read the bot's calls, acks and responses).
    #[cfg(feature = "simulator")]
    Sim {
        /// Port on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 3030)]
        port: u16,
        /// Also send `ping N` messages into channel C0DEMO at this rate (per second).
        #[arg(long)]
        rate: Option<f64>,
        /// POST every envelope, signed, to this request URL (a bot on
        /// NONSTOP_TRANSPORT=http, e.g. http://127.0.0.1:3000/slack/events) instead of
        /// sending it over a socket.
        #[arg(long)]
        request_url: Option<String>,
        #[command(subcommand)]
        action: Option<sim_control::SimAction>,
    },
    /// Start the simulator and a bot, play every fault, and report what the bot lost.
    #[cfg(feature = "simulator")]
    Demo {
        /// Length of the fault schedule in seconds.
        #[arg(long, default_value_t = 60)]
        secs: u64,
        /// Messages per second the simulated users send.
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        /// `socket` (Socket Mode) or `rtm`: the classic bot of nonstop's story, kept online,
        /// with what was said while it could not hear caught up from history.
        /// `http`: the bot at a request URL, installed in two more workspaces through OAuth.
        #[arg(long, default_value = "socket", value_parser = ["socket", "rtm", "http"])]
        transport: String,
    },
    /// The HTTP demo's bot, as a process of its own that the demo can SIGKILL.
    #[cfg(feature = "simulator")]
    #[command(name = "demo-bot", hide = true)]
    DemoBot,
    /// `sim` or `demo` asked of a build without them: said in words, not "unrecognized".
    #[cfg(not(feature = "simulator"))]
    #[command(name = "sim", hide = true, aliases = ["demo"], disable_help_flag = true)]
    LeftOut {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_levels = match cli.command {
        #[cfg(feature = "simulator")]
        Command::Demo { .. } => "warn,nonstop_cli=info",
        _ => "info",
    };
    nonstop::cli::init_logging(&cli.log_format, default_levels);
    match cli.command {
        Command::Operator(command) => nonstop::cli::exit_code(nonstop::cli::block_on(
            nonstop::cli::execute(builtin_bot, command),
        )),
        #[cfg(feature = "simulator")]
        Command::Sim {
            port,
            rate,
            request_url,
            action,
        } => tool(async move {
            match action {
                None => simulator::run(port, rate, request_url).await,
                Some(action) => sim_control::run(action).await,
            }
        }),
        #[cfg(feature = "simulator")]
        Command::Demo {
            secs,
            rate,
            transport,
        } => match transport.as_str() {
            "http" => tool(demo_http::run(secs, rate)),
            _ => tool(demo::run(secs, rate, transport == "rtm")),
        },
        #[cfg(feature = "simulator")]
        Command::DemoBot => tool(demo_http::bot_process()),
        #[cfg(not(feature = "simulator"))]
        Command::LeftOut { .. } => {
            eprintln!(
                "error: this nonstop is the deployed build, which leaves out the simulator and the demo; \
                 run them from a build with default features: cargo run --release -p nonstop-cli -- sim"
            );
            ExitCode::FAILURE
        }
    }
}

/// The bot `nonstop run` runs: the built-in commands (`ping`, `status`).
fn builtin_bot(config: nonstop::Config) -> nonstop::App {
    nonstop::App::new(config).with_builtin_commands()
}

/// Runs one of the simulator's tools and turns its outcome into the exit status.
#[cfg(feature = "simulator")]
fn tool(future: impl std::future::Future<Output = anyhow::Result<()>>) -> ExitCode {
    let result = nonstop::cli::block_on(async { Ok::<_, nonstop::cli::CliError>(future.await) });
    match result {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("error: {}", nonstop_web::redact(&format!("{e:#}")));
            ExitCode::FAILURE
        }
        Err(e) => nonstop::cli::exit_code(Err(e)),
    }
}
