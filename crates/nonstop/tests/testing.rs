//! `nonstop::testing::TestApp`: an app's listeners run without a socket, a journal or Slack,
//! driven by the inbound builders every kind of interaction has.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nonstop::blocks::{self, ViewResponse};
use nonstop::testing::{inbound, Picked, TestApp, TEST_BOT_USER};
use nonstop::{
    AckRefused, App, BlockAction, Config, Context, ContextError, Flow, HandlerResult, Message,
    OptionsRequest, ReactionAdded, Request, Shortcut, SlashCommand, State, ViewPayload,
};
use serde_json::json;

fn config() -> Config {
    TestApp::config()
}

fn message(channel: &str, user: &str, text: &str) -> inbound::MessageIn {
    inbound::message(text).channel(channel).user(user)
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
        .send(
            inbound::slash_command("/ticket")
                .text("printer on fire")
                .channel("C1")
                .user("U1"),
        )
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

/// Every inbound kind reaches the listener registered for it, with the payload typed.
#[tokio::test]
async fn every_inbound_kind_reaches_its_listener() {
    async fn click(ctx: Context, a: BlockAction) -> HandlerResult {
        let picked = a.action.selected().join(",");
        let at = a.body.message_ts().unwrap_or("-").to_owned();
        ctx.update(&at, format!("picked {picked}")).await?;
        Ok(())
    }
    async fn submit(ctx: Context, p: ViewPayload) -> HandlerResult {
        if p.view.input("title", "title").unwrap_or("").is_empty() {
            ctx.ack_view(ViewResponse::error("title", "A title, please"))?;
        }
        Ok(())
    }
    async fn closed(ctx: Context, p: ViewPayload) -> HandlerResult {
        ctx.send(
            "chat.postMessage",
            &json!({"channel": "C1", "text": format!("{} closed", p.user.id)}),
        )
        .await?;
        Ok(())
    }
    async fn shortcut(ctx: Context, s: Shortcut) -> HandlerResult {
        ctx.respond(format!("shortcut {} by {}", s.callback_id, s.user.id))
            .await?;
        Ok(())
    }
    async fn options(ctx: Context, o: OptionsRequest) -> HandlerResult {
        let option = blocks::SelectOption::new(o.value.clone(), o.value);
        ctx.ack_options(blocks::OptionsResponse::Options(vec![option]))?;
        Ok(())
    }
    async fn reacted(ctx: Context, r: ReactionAdded) -> HandlerResult {
        ctx.react(&r.reaction).await?;
        Ok(())
    }
    async fn mentioned(ctx: Context, m: Message) -> HandlerResult {
        ctx.reply(format!("you said {}", m.text)).await?;
        Ok(())
    }
    let mut bot = App::new(config())
        .action("pick", click)
        .view_submission("new", submit)
        .view_closed("new", closed)
        .shortcut("quote", shortcut)
        .options("team", options)
        .on(reacted)
        .hears_with(nonstop::Hears::new("^deploy").mention(), mentioned)
        .into_test();

    let handled = bot
        .send(
            inbound::block_action("pick", Picked::Options(vec!["a".into(), "b".into()]))
                .channel("C1")
                .message_ts("100.0"),
        )
        .await;
    assert_eq!(handled.result, Ok(()));
    let update = handled.updates()[0];
    assert_eq!(
        (update.text(), update.ts(), update.channel()),
        (Some("picked a,b"), Some("100.0"), Some("C1"))
    );

    let handled = bot
        .send(inbound::view_submission("new").text("title", "title", ""))
        .await;
    assert_eq!(
        handled.ack,
        Some(json!({"response_action": "errors", "errors": {"title": "A title, please"}}))
    );
    let handled = bot.send(inbound::view_closed("new")).await;
    assert_eq!(handled.posts()[0].text(), Some("U0USER closed"));

    let handled = bot
        .send(
            inbound::message_shortcut("quote")
                .user("U7")
                .on_message("C1", "5.0", "hm"),
        )
        .await;
    assert_eq!(handled.responses()[0]["text"], "shortcut quote by U7");

    let handled = bot
        .send(inbound::options_load("team").query("design"))
        .await;
    assert_eq!(handled.ack.unwrap()["options"][0]["value"], "design");

    let handled = bot
        .send(inbound::reaction_added("tada").on_message("C1", "7.0"))
        .await;
    assert_eq!(handled.reactions(), vec!["tada"]);

    let handled = bot.send(inbound::app_mention("deploy now")).await;
    assert_eq!(handled.posts()[0].text(), Some("you said deploy now"));
    assert!(handled.posts()[0].thread_ts().is_some());

    // A block action nobody listens to runs nothing.
    let handled = bot.send(inbound::button("other")).await;
    assert!(handled.answers.is_empty());
}

/// On tokio's paused clock the ack deadline and the handler timeout pass in no time, as they
/// would in a running bot: an answer in the ack after the deadline is refused, and a
/// listener past the timeout is cut off.
#[tokio::test(start_paused = true)]
async fn the_ack_deadline_and_the_handler_timeout_apply_on_a_paused_clock() {
    async fn slow_ack(ctx: Context, _c: SlashCommand) -> HandlerResult {
        tokio::time::sleep(Duration::from_secs(5)).await;
        match ctx.ack_command(blocks::CommandResponse::ephemeral("too late")) {
            Err(ContextError::Ack(AckRefused::AlreadySent)) => {
                ctx.respond("answered through the response_url instead")
                    .await?;
                Ok(())
            }
            other => Err(format!("expected AlreadySent, got {other:?}").into()),
        }
    }
    async fn stuck(_ctx: Context, _c: SlashCommand) -> HandlerResult {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok(())
    }
    let started = std::time::Instant::now();
    let mut bot = App::new(config())
        .command("/slow", slow_ack)
        .command("/stuck", stuck)
        .into_test();

    let handled = bot.send(inbound::slash_command("/slow")).await;
    assert_eq!(handled.result, Ok(()));
    assert!(handled.ack_timed_out, "the deadline sent a plain ack");
    assert_eq!(handled.ack, None);
    assert_eq!(
        handled.responses()[0]["text"],
        "answered through the response_url instead"
    );

    let handled = bot.send(inbound::slash_command("/stuck")).await;
    let error = handled.result.unwrap_err();
    assert!(error.contains("handler_timeout"), "{error}");
    // An hour and five seconds of the bot's time passed in much less of ours.
    assert!(started.elapsed() < Duration::from_secs(60));
}
