//! Events API events as types that name them: `App::on::<ReactionAdded>(…)` routes
//! `reaction_added` events to a listener that takes a `ReactionAdded`, and a listener of
//! another type does not compile.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::agents::AgentThreadEvent;
use crate::events::MessageEvent;
use crate::interactions::{MemberJoinedChannel, ReactionEvent};

/// An event payload a type stands for: events whose `type` is [`EventType::TYPE`] are read
/// into it.
pub trait EventType: DeserializeOwned + Send + 'static {
    /// The event's `type` on the wire.
    const TYPE: &'static str;
}

macro_rules! named_event {
    ($(#[$meta:meta])* $name:ident($inner:ty) = $kind:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
        #[serde(transparent)]
        pub struct $name(pub $inner);

        impl std::ops::Deref for $name {
            type Target = $inner;

            fn deref(&self) -> &$inner {
                &self.0
            }
        }

        impl EventType for $name {
            const TYPE: &'static str = $kind;
        }
    };
}

named_event!(
    /// `reaction_added`: someone reacted to a message.
    ReactionAdded(ReactionEvent) = "reaction_added"
);
named_event!(
    /// `reaction_removed`: someone took a reaction back.
    ReactionRemoved(ReactionEvent) = "reaction_removed"
);
named_event!(
    /// `app_mention`: a message that mentions the bot.
    AppMention(MessageEvent) = "app_mention"
);

named_event!(
    /// `assistant_thread_started`: a person opened a thread with the app (its split view or
    /// its messages tab): the moment to greet them and set suggested prompts.
    AssistantThreadStarted(AgentThreadEvent) = "assistant_thread_started"
);
named_event!(
    /// `assistant_thread_context_changed`: the person moved to another channel while the
    /// thread was open; its new context is in `assistant_thread.context`.
    AssistantThreadContextChanged(AgentThreadEvent) = "assistant_thread_context_changed"
);

impl EventType for MemberJoinedChannel {
    const TYPE: &'static str = "member_joined_channel";
}

/// `app_home_opened`: a user opened the app's Home tab (or its Messages tab): the moment to
/// publish their Home view.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct AppHomeOpened {
    /// Who opened it: the Home view to publish is theirs.
    pub user: String,
    /// The direct message channel between the user and the app.
    #[serde(default)]
    pub channel: Option<String>,
    /// `home` or `messages`.
    #[serde(default)]
    pub tab: String,
    /// The Home view published before, if any.
    #[serde(default)]
    pub view: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl EventType for AppHomeOpened {
    const TYPE: &'static str = "app_home_opened";
}
