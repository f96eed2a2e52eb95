//! Testing a bot (feature `test-util`, as a dev-dependency): two ways, for two questions.
//!
//! - **What do my listeners do?** [`App::into_test`](crate::App::into_test) gives a
//!   [`TestApp`]: the app's listeners and middleware run one inbound item at a time in the
//!   test's task, with no socket, journal or Slack, and [`TestApp::send`] returns what they
//!   did ([`Handled`]: the calls they made, the ack's payload, the result). Axum's `oneshot`
//!   for a Slack bot; it runs on tokio's paused clock, so a listener's sleeps and retries
//!   take no time.
//! - **Does it work as Slack will see it?** [`TestBot`] starts the simulator and the whole
//!   app against it over loopback (sockets, journal, acks, outbox, Web API), sends items as
//!   Slack would, and reads back every call, ack, `response_url` post and view.
//!
//! Both take the same descriptions of what reaches a bot, from [`inbound`]: a message, a
//! mention, a reaction, any event, a slash command, a block action, a view submitted or
//! closed, a global or message shortcut, an options load, each with named fields and
//! defaults. Both report what the bot did as [`Call`]s with typed accessors (text, channel,
//! thread, blocks, view).
//!
//! ```
//! use nonstop::testing::{inbound, TestApp};
//! use nonstop::{App, Config, Context, HandlerResult, Message};
//!
//! async fn greet(ctx: Context, message: Message) -> HandlerResult {
//!     ctx.say(format!("hello, {}", message.capture(1).unwrap_or("there"))).await?;
//!     Ok(())
//! }
//!
//! fn app(config: Config) -> App {
//!     App::new(config).hears(r"^hello (\w+)", greet)
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let mut bot = app(TestApp::config()).into_test();
//! let handled = bot.send(inbound::message("hello ada").user("U1")).await;
//! assert_eq!(handled.posts()[0].text(), Some("hello, ada"));
//! # }
//! ```

mod call;
mod in_process;
mod with_sim;

pub use call::Call;
pub use in_process::{Handled, TestApp, TEST_BOT_ID, TEST_BOT_USER, TEST_TEAM};
pub use nonstop_model::inbound::{self, Inbound, Picked};
pub use nonstop_sim::{
    AgentThread, Fault, Sent, Sim, SimConfig, StreamedMessage, Target, TempJournal,
};
pub use with_sim::TestBot;
