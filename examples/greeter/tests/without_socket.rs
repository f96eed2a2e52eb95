//! The greeter's listeners on their own (`nonstop::testing`): no socket, no simulator, the
//! way a bot's author tests what the bot says. tests/greeter.rs runs the same bot for real.
#![allow(clippy::unwrap_used)]

use nonstop::testing::{inbound, TestApp};

fn message(user: &str, text: &str) -> inbound::MessageIn {
    inbound::message(text).channel("C1").user(user)
}

#[tokio::test]
async fn greets_counts_visits_and_forgets() {
    let mut bot = nonstop_example_greeter::app(TestApp::config()).into_test();

    let handled = bot.send(message("U1", "hello")).await;
    assert_eq!(handled.posts()[0].text(), Some("Nice to meet you, <@U1>!"));
    let handled = bot.send(message("U1", "hey there")).await;
    assert_eq!(
        handled.posts()[0].text(),
        Some("Welcome back, <@U1>: visit number 2.")
    );
    // Someone else's visits are their own.
    let handled = bot.send(message("U2", "hi")).await;
    assert_eq!(handled.posts()[0].text(), Some("Nice to meet you, <@U2>!"));
    // The built-in ping escapes what it echoes.
    let handled = bot.send(message("U1", "ping <!channel>")).await;
    assert_eq!(handled.posts()[0].text(), Some("pong &lt;!channel&gt;"));
}
