//! nonstop: a Slack bot runtime that stays online.
//!
//! [`App::run`] keeps several Socket Mode sockets live, replaces them before Slack drops them,
//! notices half-open sockets within seconds, retries every transient failure without limit,
//! acks each envelope within milliseconds, drops duplicates by event id, and runs handlers on
//! their own bounded tasks, so a slow or panicking handler never delays an ack.
//!
//! See `README.md` for the binary and `docs/` for the design.

pub mod app;
pub mod builtin;
pub mod cause;
pub mod config;
pub mod context;
pub mod delivery;
pub mod dispatch;
pub mod error;
pub mod journal;
pub mod listeners;
pub mod router;
pub mod status;
pub mod storage;
mod task;
pub mod transport;

pub use app::{shutdown_signal, App};
pub use cause::{ConnectStage, DisconnectCause};
pub use config::{Config, ConfigError};
pub use context::{BotIdentity, Context, ContextError, EventMeta};
pub use delivery::Envelope;
pub use dispatch::{Handler, HandlerError, HandlerResult};
pub use error::Error;
pub use journal::{MemoryStore, SqliteStore, Store};
pub use listeners::{Flow, Hears, Message, Outcome};
pub use nonstop_model as model;
pub use nonstop_model::{
    BlockAction, MemberJoinedChannel, OptionsRequest, ReactionEvent, Shortcut, SlashCommand,
    ViewPayload,
};
/// Retry delays, shared with the Web API client.
pub use nonstop_web::backoff;
pub use nonstop_web::{Secret, WebClient, WebError};
pub use router::{Request, RequestKind};
pub use status::{LifecycleChange, LifecycleRecord, Status, StatusSnapshot};
pub use storage::{Storage, StorageError};
