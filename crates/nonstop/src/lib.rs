//! nonstop: a Slack bot runtime that stays online.
//!
//! Register listeners on an [`App`] and run it. [`App::run`] keeps several Socket Mode
//! sockets live, replaces them before Slack drops them, notices half-open sockets within
//! seconds, retries every transient failure without limit, journals each envelope before
//! acking it within milliseconds, drops duplicates by event id across sockets, redeliveries
//! and restarts, and runs listeners on their own bounded tasks, so a slow or panicking one
//! never delays an ack. With [`TransportKind::Http`] Slack posts to the bot's request URL
//! instead, with the same guarantees (`docs/http.md`).
//!
//! ```no_run
//! use nonstop::{App, Config, Context, HandlerResult, Message, SlashCommand};
//!
//! async fn greet(ctx: Context, message: Message) -> HandlerResult {
//!     let name = message.capture(1).unwrap_or("there");
//!     ctx.say(&format!("hello, {name}")).await?;
//!     Ok(())
//! }
//!
//! async fn ticket(ctx: Context, command: SlashCommand) -> HandlerResult {
//!     // Answered in the command's ack: the user sees it at once.
//!     ctx.ack(serde_json::json!({"text": format!("opening a ticket: {}", command.text)}));
//!     Ok(())
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! App::new(Config::from_env()?)
//!     .hears(r"^hello (\w+)", greet)
//!     .command("/ticket", ticket)
//!     .run(nonstop::shutdown_signal())
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! - Listeners: [`App::hears`], [`App::event`], [`App::command`], [`App::action`],
//!   [`App::view_submission`], [`App::view_closed`], [`App::shortcut`], [`App::options`],
//!   [`App::on_envelope`]; middleware with [`App::before`] and [`App::after`].
//! - What a listener can do: [`Context`].
//! - The Web API client: [`WebClient`] (re-exported from `nonstop-web`).
//! - Wire types: [`model`].
//!
//! `README.md` covers the binary and the simulator; `docs/` the design, the connection
//! lifecycle and the bot API.

mod agent;
mod app;
mod builtin;
mod cause;
#[cfg(feature = "cli")]
pub mod cli;
pub mod config;
mod context;
mod delivery;
mod dispatch;
pub mod doctor;
mod envelope;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod handler;
mod hex;
mod html;
mod identity;
mod install;
pub mod journal;
mod listeners;
mod log_limit;
mod ops;
mod outbox;
mod request;
mod router;
mod running;
pub mod scopes;
mod serving;
mod status;
mod storage;
mod streaming;
mod supervisor;
mod task;
#[cfg(feature = "test-util")]
pub mod testing;
mod transport;

pub use app::{shutdown_signal, App, AppInfo};
pub use builtin::escape;
pub use cause::{ConnectStage, DisconnectCause};
pub use config::{Config, ConfigError, TransportKind};
pub use context::{AckRefused, BotIdentity, Context, ContextError, EventMeta};
pub use envelope::Envelope;
pub use error::Error;
pub use handler::{Handler, HandlerError, HandlerFuture, HandlerResult};
pub use journal::{MemoryStore, SqliteStore, Store};
pub use listeners::{
    After, AfterFuture, Before, Flow, FlowFuture, Hears, Listener, Message, Outcome, State,
    StateNeed,
};
pub use nonstop_model as model;
/// Block Kit as Rust types: what [`Context::say`] and the other answers take.
pub use nonstop_model::blocks;
pub use nonstop_model::{
    AgentThread, AppHomeOpened, AppMention, AssistantThreadContextChanged, AssistantThreadStarted,
    BlockAction, EventType, MemberJoinedChannel, OptionsRequest, ReactionAdded, ReactionEvent,
    ReactionRemoved, Shortcut, SlashCommand, SuggestedPrompt, ThreadContext, ViewPayload,
};
/// Retry delays, shared with the Web API client.
pub use nonstop_web::backoff;
pub use nonstop_web::{Secret, WebClient, WebError};
pub use outbox::{Delivered, DeliveryError, Outgoing, METADATA_KEY};
pub use router::{Request, RequestKind};
pub use status::{
    Counts, LastDisconnect, LifecycleChange, LifecycleRecord, SlotPhase, Status, StatusSnapshot,
};
pub use storage::{Storage, StorageError};
pub use streaming::{AnswerStream, FLUSH_AFTER, FLUSH_AT};
/// Slack's request signatures, as the HTTP receiver checks them; usable from a server of
/// your own.
pub use transport::http::signature;

/// Compiles the Rust examples in README.md, so that they stay true.
#[doc = include_str!("../../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Compiles the example of this crate's own README (what crates.io shows).
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct CrateReadmeDoctests;
