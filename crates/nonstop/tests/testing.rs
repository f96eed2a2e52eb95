//! `nonstop::testing`: an app's listeners run without a socket, a journal or Slack.
#![allow(clippy::unwrap_used)]

use nonstop::testing::{message, slash_command, TestApp, TEST_BOT_USER};
use nonstop::{App, Config, Context, Flow, HandlerResult, Message, Request, SlashCommand, State};
use serde_json::json;

fn config() -> Config {
    Config::new("xapp-1-A0TEST-1-test", "xoxb-1-test").unwrap()
}

async fn greet(ctx: Context, message: Message) -> HandlerResult {
    let name = message.capture(1).unwrap_or("there");
    let sent = ctx.say(&format!("hello, {name}")).await?;
    // The made-up delivery answers with the channel and a ts, as Slack would.
    let delivered = sent.delivered().await?;
    ctx.reply(&format!(
        "posted in {} at {}",
        delivered.channel().unwrap_or("?"),
        delivered.ts().unwrap_or("?")
    ))
    .await?;
    ctx.react("wave").await?;
    Ok(())
}

async fn ticket(ctx: Context, command: SlashCommand) -> HandlerResult {
    ctx.ack(json!({"text": format!("opening a ticket: {}", command.text)}));
    Ok(())
}

async fn fail(_ctx: Context, _message: Message) -> HandlerResult {
    Err("the ticket system is down".into())
}

fn app() -> App {
    App::new(config())
        .hears(r"^hello (\w+)", greet)
        .hears(r"^break$", fail)
        .command("/ticket", ticket)
}

#[tokio::test]
async fn listeners_answer_without_a_socket_and_their_answers_are_recorded_in_order() {
    let mut bot: TestApp = app().into_test();
    let handled = bot.send(message("C1", "U1", "hello ada")).await;
    assert_eq!(handled.result, Ok(()));
    let answers = &handled.answers;
    assert_eq!(answers.len(), 3, "{answers:?}");
    assert_eq!(answers[0].method, "chat.postMessage");
    assert_eq!(answers[0].text(), Some("hello, ada"));
    assert_eq!(answers[0].channel(), Some("C1"));
    assert_eq!(answers[1].text(), Some("posted in C1 at 1700000000.000001"));
    assert!(
        answers[1].thread_ts().is_some(),
        "a reply goes to the thread"
    );
    assert_eq!(answers[2].method, "reactions.add");
    assert_eq!(answers[2].args["name"], "wave");

    // Each send returns only its own answers.
    let handled = bot.send(message("C2", "U2", "hello grace")).await;
    assert_eq!(handled.answers[0].text(), Some("hello, grace"));
    assert_eq!(handled.answers.len(), 3);
}

#[tokio::test]
async fn acks_errors_and_messages_nobody_listens_to() {
    let mut bot = app().into_test();
    let handled = bot
        .send(slash_command("/ticket", "printer on fire", "C1", "U1"))
        .await;
    assert_eq!(
        handled.ack,
        Some(json!({"text": "opening a ticket: printer on fire"}))
    );
    assert!(handled.answers.is_empty());

    let handled = bot.send(message("C1", "U1", "break")).await;
    assert_eq!(handled.result, Err("the ticket system is down".to_owned()));

    let handled = bot.send(message("C1", "U1", "nothing to see")).await;
    assert_eq!(handled.result, Ok(()));
    assert!(handled.answers.is_empty());

    // The bot's own messages reach no listener.
    let handled = bot.send(message("C1", TEST_BOT_USER, "hello me")).await;
    assert!(handled.answers.is_empty(), "{:?}", handled.answers);
}

#[tokio::test]
async fn middleware_and_state_take_part() {
    struct Prefix(&'static str);
    let mut bot = App::new(config())
        .with_state(Prefix(">>"))
        .before(|_ctx: Context, request: Request| async move {
            let blocked = request.meta().user.as_deref() == Some("U0SPAM");
            Ok(if blocked { Flow::Stop } else { Flow::Continue })
        })
        .hears(
            r"^echo (.*)$",
            |ctx: Context, message: Message, prefix: State<Prefix>| async move {
                ctx.say(&format!(
                    "{} {}",
                    prefix.0,
                    message.capture(1).unwrap_or("")
                ))
                .await?;
                Ok(())
            },
        )
        .into_test();
    let handled = bot.send(message("C1", "U1", "echo hi")).await;
    assert_eq!(handled.answers[0].text(), Some(">> hi"));
    let handled = bot.send(message("C1", "U0SPAM", "echo buy now")).await;
    assert!(handled.answers.is_empty());
}

#[tokio::test]
async fn a_state_never_registered_is_an_error_naming_its_type() {
    struct Database;
    let mut bot = App::new(config())
        .hears(r"^lookup$", |ctx: Context, _m: Message| async move {
            let _db = ctx.require_state::<Database>()?;
            Ok(())
        })
        .into_test();
    let handled = bot.send(message("C1", "U1", "lookup")).await;
    let error = handled.result.unwrap_err();
    assert!(
        error.contains("no state of type") && error.contains("Database"),
        "{error}"
    );
}

#[test]
fn a_listener_state_never_registered_is_found_before_any_event() {
    struct Database;
    let app = App::new(config()).hears(
        r"^lookup$",
        |_ctx: Context, _m: Message, _db: State<Database>| async move { Ok(()) },
    );
    let error = app.check().unwrap_err().to_string();
    assert!(
        error.contains("Database") && error.contains("hears \"^lookup$\""),
        "{error}"
    );
    // Registered after the listener is as good as before it.
    assert!(app.with_state(Database).check().is_ok());
}

#[tokio::test]
#[should_panic(expected = "takes State<")]
async fn a_missing_state_fails_the_test_as_it_would_fail_the_start() {
    struct Database;
    let _ = App::new(config())
        .hears(
            r"^lookup$",
            |_c: Context, _m: Message, _db: State<Database>| async move { Ok(()) },
        )
        .into_test();
}

#[tokio::test]
#[should_panic(expected = "the app would not start")]
async fn a_bad_pattern_fails_the_test_as_it_would_fail_the_start() {
    let _ = App::new(config()).hears(r"(unclosed", greet).into_test();
}
