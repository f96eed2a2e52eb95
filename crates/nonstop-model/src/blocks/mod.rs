//! Block Kit as Rust types: blocks, elements and composition objects, messages, modals and
//! the Home tab, with short builders.
//!
//! - **An element a block does not take does not compile.** Each block that holds elements
//!   has its own enum of the elements it allows ([`Accessory`], [`ActionElement`],
//!   [`ContextElement`], [`InputElement`]).
//! - **Slack's limits are checked when a message or view is built** ([`Message::build`],
//!   [`Modal::build`], [`Home::build`]): a [`LimitError`] names the field, its length and
//!   the limit. Nothing is cut silently and nothing panics.
//! - **Kinds this version does not know pass through.** Every enum of kinds has an
//!   `Unknown` variant holding the JSON as Slack sent it, written back unchanged; known
//!   kinds keep fields they have no name for in `extra`. Slack adds blocks every quarter.
//!
//! ```
//! use nonstop_model::blocks::{Block, Button, Message, Style};
//!
//! let message = Message::new("Deploy 1.4 to production?")
//!     .block(Block::section("*Deploy 1.4* to production?"))
//!     .block(Block::actions([
//!         Button::new("Deploy", "deploy").value("1.4").style(Style::Primary),
//!         Button::new("Cancel", "cancel"),
//!     ]))
//!     .build()
//!     .expect("within Slack's limits");
//! assert_eq!(message.blocks.len(), 2);
//! ```
//!
//! A button is not something a context block shows, so this does not compile:
//!
//! ```compile_fail
//! use nonstop_model::blocks::{Block, Button};
//! let _ = Block::context([Button::new("Go", "go")]);
//! ```

mod block;
mod composition;
mod elements;
mod limit_error;
mod limits;
pub(crate) mod open_enum;
mod responses;
mod surface;
mod text;

pub use block::{
    Actions, Block, Context, ContextActions, Divider, Header, Image, Input, Markdown, Section,
};
pub use composition::{Confirm, OptionGroup, SelectOption, Style};
pub use elements::{
    Accessory, ActionElement, Button, Choices, ContextActionElement, ContextElement,
    FeedbackButton, FeedbackButtons, ImageElement, InputElement, Overflow, Picker, PlainTextInput,
    Select,
};
pub use limit_error::{LimitError, Unit};
pub use limits::{MESSAGE_BLOCKS, MESSAGE_TEXT, VIEW_BLOCKS};
pub use responses::{
    CommandResponse, OptionsResponse, ResponseBody, ResponseMessage, ViewResponse,
};
pub use surface::{Home, Message, Modal, View};
pub use text::{Mrkdwn, PlainText, Text};
