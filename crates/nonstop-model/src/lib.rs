//! Slack wire types shared by the nonstop runtime and its simulator.
//!
//! Everything here is plain data: serde types with no I/O and no async runtime. Types are
//! lenient on purpose. Slack adds fields and envelope types without notice, so unknown fields
//! are ignored and unknown kinds land in an `Other`/`Unknown` variant instead of failing.

pub mod agents;
pub mod blocks;
pub mod events;
pub mod inbound;
pub mod interactions;
pub mod manifest;
pub mod socket_mode;
pub mod typed_events;
pub mod web;

pub use agents::{AgentThread, AgentThreadEvent, SuggestedPrompt, ThreadContext};
pub use events::{EventCallback, MessageEvent};
pub use interactions::{
    Action, BlockAction, BlockActions, ElementKind, MemberJoinedChannel, OptionsRequest,
    ReactionEvent, Ref, Shortcut, SlashCommand, View, ViewPayload,
};
pub use socket_mode::{
    printable, Ack, DisconnectReason, EnvelopeKind, EventHead, FrameHead, ParsedFrame,
};
pub use typed_events::{
    AppHomeOpened, AppMention, AssistantThreadContextChanged, AssistantThreadStarted, EventType,
    ReactionAdded, ReactionRemoved,
};
