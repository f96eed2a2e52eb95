//! The bot API end to end: the simulator sends each kind of payload over a real socket, and
//! the test asserts what the bot posted, acked, answered or called.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Harness, WAIT};
use nonstop::{
    blocks, AckRefused, App, AppMention, BlockAction, Context, ContextError, Flow, HandlerResult,
    Hears, MemberJoinedChannel, Message, OptionsRequest, Outcome, ReactionAdded, ReactionRemoved,
    Request, Shortcut, SlashCommand, State, ViewPayload,
};
use nonstop_sim::inbound;
use serde_json::{json, Value};

fn message(channel: &str, channel_type: &str, user: &str, text: &str, ts: &str) -> Value {
    json!({"type": "message", "channel": channel, "channel_type": channel_type, "user": user,
           "text": text, "ts": ts, "event_ts": ts, "team": "T0SIM"})
}

fn posts_in(h: &Harness, channel: &str) -> Vec<(String, Option<String>)> {
    h.sim()
        .posted()
        .into_iter()
        .filter(|p| p.channel == channel)
        .map(|p| (p.text, p.thread_ts))
        .collect()
}

#[tokio::test]
async fn hears_passes_captures_and_answers_where_the_message_was() {
    async fn deploy(ctx: Context, m: Message) -> HandlerResult {
        let app = m.named("app").unwrap_or("?");
        let env = m.capture(2).unwrap_or("?");
        ctx.say(&format!("deploying {app} to {env}")).await?;
        Ok(())
    }
    async fn thread_me(ctx: Context, _m: Message) -> HandlerResult {
        ctx.reply("in a thread").await?;
        Ok(())
    }
    let h = Harness::start_app(|config| {
        App::new(config)
            .hears(r"^deploy (?P<app>\w+) to (\w+)$", deploy)
            .hears("^thread me$", thread_me)
    })
    .await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "deploy api to prod", "10.0"));
    let post = h.expect_post("deploying api to prod").await;
    assert_eq!((post.channel.as_str(), post.thread_ts), ("C1", None));

    // A leading mention of the bot is not part of what the pattern sees.
    h.sim().send_event(message(
        "C1",
        "channel",
        "U1",
        "<@U0BOT> deploy web to staging",
        "11.0",
    ));
    h.expect_post("deploying web to staging").await;

    h.sim()
        .send_event(message("C1", "channel", "U1", "thread me", "12.0"));
    let post = h.expect_post("in a thread").await;
    assert_eq!(post.thread_ts.as_deref(), Some("12.0"));

    // `say` stays in the thread a message came in.
    let mut in_thread = message("C1", "channel", "U1", "deploy db to dev", "13.0");
    in_thread["thread_ts"] = "12.0".into();
    h.sim().send_event(in_thread);
    let post = h.expect_post("deploying db to dev").await;
    assert_eq!(post.thread_ts.as_deref(), Some("12.0"));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn the_bots_own_messages_never_reach_listeners() {
    async fn echo(ctx: Context, m: Message) -> HandlerResult {
        ctx.say(&format!("heard: {}", m.text)).await?;
        Ok(())
    }
    let h = Harness::start_app(|config| App::new(config).hears(".*", echo)).await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "hello", "20.0"));
    h.expect_post("heard: hello").await;
    // The simulator delivers the bot's post back as a message event, as Slack does, and a
    // bot post by bot_id alone (no user) too.
    let mut by_bot_id = message("C1", "channel", "", "from my bot id", "21.0");
    by_bot_id["bot_id"] = "B0BOT".into();
    by_bot_id.as_object_mut().unwrap().remove("user");
    h.sim().send_event(by_bot_id);
    h.settled().await;
    let posts = posts_in(&h, "C1");
    assert_eq!(posts.len(), 1, "the bot answered itself: {posts:?}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn hears_filters_by_place_and_ignores_subtypes_unless_asked() {
    fn answer(
        label: &'static str,
    ) -> impl Fn(Context, Message) -> futures_util::future::BoxFuture<'static, HandlerResult>
           + Send
           + Sync
           + 'static {
        move |ctx, _m| {
            Box::pin(async move {
                ctx.say(label).await?;
                Ok(())
            })
        }
    }
    let h = Harness::start_app(|config| {
        App::new(config)
            .hears_with(Hears::new("^where$").direct(), answer("direct"))
            .hears_with(Hears::new("^where$").mention(), answer("mention"))
            .hears_with(Hears::new("^where$").channel(), answer("channel"))
            .hears_with(Hears::new("^where$").thread(), answer("thread"))
            .hears_with(
                Hears::new("^also where$").subtype("thread_broadcast"),
                answer("broadcast"),
            )
    })
    .await;
    h.sim()
        .send_event(message("D1", "im", "U1", "where", "30.0"));
    h.sim()
        .send_event(message("C2", "channel", "U1", "<@U0BOT> where", "31.0"));
    // The same mention also arrives as app_mention: each listener answers it once.
    let mut mention = message("C2", "channel", "U1", "<@U0BOT> where", "31.0");
    mention["type"] = "app_mention".into();
    h.sim().send_event(mention);
    let mut reply = message("C3", "channel", "U1", "where", "33.0");
    reply["thread_ts"] = "32.0".into();
    h.sim().send_event(reply);
    let mut edited = message("C4", "channel", "U1", "where", "34.0");
    edited["subtype"] = "message_changed".into();
    h.sim().send_event(edited);
    let mut broadcast = message("C5", "channel", "U1", "also where", "35.0");
    broadcast["subtype"] = "thread_broadcast".into();
    h.sim().send_event(broadcast);

    h.expect_post("broadcast").await;
    h.settled().await;
    let texts = |channel: &str| {
        let mut t: Vec<String> = posts_in(&h, channel).into_iter().map(|p| p.0).collect();
        t.sort();
        t
    };
    assert_eq!(texts("D1"), vec!["direct"]);
    assert_eq!(texts("C2"), vec!["channel", "mention"]);
    assert_eq!(texts("C3"), vec!["channel", "thread"]);
    assert!(texts("C4").is_empty(), "subtypes are ignored by default");
    assert_eq!(texts("C5"), vec!["broadcast"]);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn events_by_type_typed_or_raw() {
    async fn reaction(ctx: Context, e: ReactionAdded) -> HandlerResult {
        ctx.reply(&format!(":{}: from {}", e.reaction, e.user))
            .await?;
        Ok(())
    }
    async fn unreacted(ctx: Context, e: ReactionRemoved) -> HandlerResult {
        ctx.say(&format!("took back :{}:", e.reaction)).await?;
        Ok(())
    }
    async fn joined(ctx: Context, e: MemberJoinedChannel) -> HandlerResult {
        ctx.say(&format!("welcome <@{}>", e.user)).await?;
        Ok(())
    }
    async fn mention(ctx: Context, _e: AppMention) -> HandlerResult {
        ctx.react("eyes").await?;
        Ok(())
    }
    async fn anything(ctx: Context, e: Value) -> HandlerResult {
        let text = format!("raw {}", e["type"].as_str().unwrap_or("?"));
        let request = nonstop::model::web::PostMessageRequest::text("C0LOG", text);
        ctx.post(&request).await?;
        Ok(())
    }
    let h = Harness::start_app(|config| {
        // By the type that names the event, and by name for one nonstop has no type for.
        App::new(config)
            .on(reaction)
            .on(unreacted)
            .on(joined)
            .on(mention)
            .event("team_join", anything)
    })
    .await;
    h.sim().send_event(
        json!({"type": "reaction_added", "user": "U1", "reaction": "tada",
        "item_user": "U2", "item": {"type": "message", "channel": "C1", "ts": "40.0"},
        "event_ts": "41.0"}),
    );
    let post = h.expect_post(":tada: from U1").await;
    assert_eq!(
        post.thread_ts.as_deref(),
        Some("40.0"),
        "replied on the reacted message"
    );
    h.sim().send_event(
        json!({"type": "reaction_removed", "user": "U1", "reaction": "wave",
        "item": {"type": "message", "channel": "C1", "ts": "40.0"}, "event_ts": "41.5"}),
    );
    h.expect_post("took back :wave:").await;

    h.sim().send_event(
        json!({"type": "member_joined_channel", "user": "U9", "channel": "C7",
        "channel_type": "C", "team": "T0SIM"}),
    );
    let post = h.expect_post("welcome <@U9>").await;
    assert_eq!(post.channel, "C7");

    let mut app_mention = message("C1", "channel", "U1", "<@U0BOT> look", "42.0");
    app_mention["type"] = "app_mention".into();
    h.sim().send_event(app_mention);
    let call = h
        .sim()
        .wait_for_call("reactions.add", WAIT, |_| true)
        .await
        .unwrap();
    assert_eq!(
        (
            &call.args["channel"],
            &call.args["timestamp"],
            &call.args["name"]
        ),
        (&json!("C1"), &json!("42.0"), &json!("eyes"))
    );

    h.sim()
        .send_event(json!({"type": "team_join", "user": {"id": "U5"}, "brand_new": true}));
    h.expect_post("raw team_join").await;
    // The removal reached only its own listener.
    h.settled().await;
    assert_eq!(h.count_posts(":wave: from U1"), 0);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn slash_commands_answer_in_the_ack_then_through_response_url() {
    async fn ticket(ctx: Context, cmd: SlashCommand) -> HandlerResult {
        let answer = blocks::Message::new(format!("opening a ticket: {}", cmd.text))
            .block(blocks::Block::section(format!("*{}*", cmd.text)));
        ctx.ack_command(blocks::CommandResponse::ephemeral(answer))?;
        // A second answer in the same ack is refused as such.
        let again = ctx.ack_command(blocks::CommandResponse::ephemeral("twice"));
        assert!(
            matches!(again, Err(ContextError::Ack(AckRefused::AlreadySent))),
            "{again:?}"
        );
        ctx.respond(blocks::ResponseMessage::in_channel("ticket T-1 created"))
            .await?;
        Ok(())
    }
    async fn slow(ctx: Context, _cmd: SlashCommand) -> HandlerResult {
        // A handler that is slow on purpose: past the ack deadline.
        tokio::time::sleep(Duration::from_millis(800)).await;
        // Past the deadline a plain ack already went out: this payload can't be sent.
        let late = ctx.ack_command(blocks::CommandResponse::ephemeral("too late"));
        let refused = matches!(late, Err(ContextError::Ack(AckRefused::AlreadySent)));
        ctx.respond(&json!({"text": format!("slow done, refused as sent already: {refused}")}))
            .await?;
        Ok(())
    }
    let sim = nonstop_sim::Sim::start(common::sim_config()).await.unwrap();
    let mut config = common::bot_config(&sim);
    config.ack_deadline = Duration::from_millis(300);
    let h = Harness::launch(
        sim,
        App::new(config)
            .command("/ticket", ticket)
            .command("slow", slow),
    );
    h.wait_live(2).await;

    let sent = h.sim().send(
        inbound::slash_command("/ticket")
            .text("printer on fire")
            .channel("C1")
            .user("U1"),
    );
    let ack = h.sim().wait_for_ack(&sent.envelope_id, WAIT).await.unwrap();
    let payload = ack.payload.unwrap();
    assert_eq!(payload["text"], "opening a ticket: printer on fire");
    assert_eq!(payload["response_type"], "ephemeral");
    assert_eq!(payload["blocks"][0]["text"]["text"], "*printer on fire*");
    let response = h
        .sim()
        .wait_for_response(WAIT, |r| r.body["text"] == "ticket T-1 created")
        .await
        .unwrap();
    assert!(
        response.is_for(&sent),
        "posted to the command's response_url"
    );
    assert_eq!(response.body["response_type"], "in_channel");

    let sent = h.sim().send(inbound::slash_command("/slow"));
    let ack = h.sim().wait_for_ack(&sent.envelope_id, WAIT).await.unwrap();
    assert!(ack.payload.is_none());
    // The deadline sent the ack: it came while the handler was still asleep, before its
    // answer (an order, not a span of time).
    let slow_done = |r: &nonstop_sim::Response| {
        r.body["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("slow done"))
    };
    assert!(
        !h.sim().responses().iter().any(slow_done),
        "{:?}",
        h.sim().responses()
    );
    h.sim()
        .wait_for_response(WAIT, |r| {
            r.body["text"] == "slow done, refused as sent already: true"
        })
        .await
        .unwrap();

    // A command nobody listens to is acked plainly.
    let sent = h.sim().send(inbound::slash_command("/nobody"));
    let ack = h.sim().wait_for_ack(&sent.envelope_id, WAIT).await.unwrap();
    assert!(ack.payload.is_none());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn interactions_route_by_action_and_callback_id() {
    async fn approve(ctx: Context, a: BlockAction) -> HandlerResult {
        let value = a.action.value.unwrap_or_default();
        ctx.respond(blocks::ResponseMessage::replacing(format!(
            "approved {value}"
        )))
        .await?;
        Ok(())
    }
    async fn reject(ctx: Context, _a: BlockAction) -> HandlerResult {
        ctx.respond("rejected").await?;
        Ok(())
    }
    async fn new_ticket(ctx: Context, s: Shortcut) -> HandlerResult {
        let view = nonstop::blocks::Modal::new("New ticket")
            .callback_id("ticket_modal")
            .private_metadata(s.user.id)
            .build()?;
        ctx.open_view(&view).await?;
        Ok(())
    }
    async fn submit(ctx: Context, v: ViewPayload) -> HandlerResult {
        if v.view
            .input("title", "title_input")
            .unwrap_or_default()
            .is_empty()
        {
            ctx.ack_view(blocks::ViewResponse::error("title", "A title, please"))?;
        }
        Ok(())
    }
    async fn closed(ctx: Context, v: ViewPayload) -> HandlerResult {
        let text = format!("{} closed {}", v.user.id, v.view.callback_id);
        ctx.post(&nonstop::model::web::PostMessageRequest::text(
            "C0LOG", text,
        ))
        .await?;
        Ok(())
    }
    async fn teams(ctx: Context, o: OptionsRequest) -> HandlerResult {
        let matching = ["engineering", "design", "ops"]
            .iter()
            .filter(|t| t.starts_with(&o.value))
            .map(|t| blocks::SelectOption::new(*t, *t))
            .collect();
        ctx.ack_options(blocks::OptionsResponse::Options(matching))?;
        Ok(())
    }
    let h = Harness::start_app(|config| {
        App::new(config)
            .action("approve", approve)
            .action("reject", reject)
            .shortcut("new_ticket", new_ticket)
            .view_submission("ticket_modal", submit)
            .view_closed("ticket_modal", closed)
            .options("pick_team", teams)
    })
    .await;
    h.wait_live(2).await;

    let click = h.sim().send(
        inbound::button("approve")
            .value("42")
            .user("U1")
            .channel("C1")
            .message_ts("50.0"),
    );
    let response = h
        .sim()
        .wait_for_response(WAIT, |r| r.is_for(&click))
        .await
        .unwrap();
    assert_eq!(response.body["text"], "approved 42");
    assert_eq!(response.body["replace_original"], true);

    let shortcut = h
        .sim()
        .send(inbound::global_shortcut("new_ticket").user("U1"));
    let call = h
        .sim()
        .wait_for_call("views.open", WAIT, |_| true)
        .await
        .unwrap();
    assert_eq!(
        call.args["trigger_id"].as_str(),
        shortcut.trigger_id.as_deref()
    );
    assert_eq!(call.args["view"]["private_metadata"], "U1");

    let submitted = h.sim().send(
        inbound::view_submission("ticket_modal")
            .text("title", "title_input", "")
            .user("U1")
            .view_id("V1"),
    );
    let ack = h
        .sim()
        .wait_for_ack(&submitted.envelope_id, WAIT)
        .await
        .unwrap();
    let payload = ack.payload.unwrap();
    assert_eq!(payload["response_action"], "errors");
    assert_eq!(payload["errors"]["title"], "A title, please");

    h.sim()
        .send(inbound::view_submission("ticket_modal").user("U1").closed());
    h.expect_post("U1 closed ticket_modal").await;

    let load = h.sim().send(inbound::options_load("pick_team").query("de"));
    let ack = h.sim().wait_for_ack(&load.envelope_id, WAIT).await.unwrap();
    let options = ack.payload.unwrap()["options"].clone();
    assert_eq!(options.as_array().map(Vec::len), Some(1));
    assert_eq!(options[0]["value"], "design");
    assert_eq!(
        options[0]["text"],
        json!({"type": "plain_text", "text": "design"})
    );

    h.settled().await;
    assert!(
        h.sim()
            .responses()
            .iter()
            .all(|r| r.body["text"] != "rejected"),
        "a listener for another action_id ran"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn middleware_runs_in_order_and_can_stop_the_chain() {
    #[derive(Default)]
    struct Trail(Mutex<Vec<String>>);
    impl Trail {
        fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
    }
    let trail = Arc::new(Trail::default());
    let (first, second, after) = (Arc::clone(&trail), Arc::clone(&trail), Arc::clone(&trail));
    let h = Harness::start_app(move |config| {
        App::new(config)
            .before(move |ctx: Context, _r: Request| {
                let trail = Arc::clone(&first);
                async move {
                    trail.push(format!("log {}", ctx.user().unwrap_or("?")));
                    Ok(Flow::Continue)
                }
            })
            .before(move |ctx: Context, _r: Request| {
                let trail = Arc::clone(&second);
                async move {
                    if ctx.user() == Some("U0BLOCKED") {
                        trail.push("stopped".into());
                        return Ok(Flow::Stop);
                    }
                    if ctx.user() == Some("U0BROKEN") {
                        return Err("authorisation service down".into());
                    }
                    Ok(Flow::Continue)
                }
            })
            .hears("^hi$", |ctx: Context, _m: Message| async move {
                ctx.say("hello").await?;
                Ok(())
            })
            .after(move |_ctx: Context, _r: Request, outcome: Outcome| {
                let trail = Arc::clone(&after);
                async move {
                    trail.push(format!(
                        "after listeners={} stopped={}{}",
                        outcome.listeners,
                        outcome.stopped,
                        outcome
                            .error
                            .map(|e| format!(" error={e}"))
                            .unwrap_or_default()
                    ));
                }
            })
    })
    .await;
    h.sim()
        .send_event(message("C1", "channel", "U0BLOCKED", "hi", "60.0"));
    h.sim()
        .send_event(message("C3", "channel", "U0BROKEN", "hi", "62.0"));
    h.sim()
        .send_event(message("C2", "channel", "U1", "hi", "61.0"));
    let post = h.expect_post("hello").await;
    assert_eq!(post.channel, "C2");
    h.settled().await;
    assert!(
        posts_in(&h, "C1").is_empty(),
        "the blocked user got an answer"
    );
    let trail = trail.0.lock().unwrap().clone();
    let blocked: Vec<&str> = trail
        .iter()
        .map(String::as_str)
        .filter(|s| {
            *s == "log U0BLOCKED" || *s == "stopped" || *s == "after listeners=0 stopped=true"
        })
        .collect();
    assert_eq!(
        blocked,
        vec!["log U0BLOCKED", "stopped", "after listeners=0 stopped=true"]
    );
    assert!(trail.contains(&"log U1".to_owned()));
    assert!(trail.contains(&"after listeners=1 stopped=false".to_owned()));
    assert!(
        trail.contains(
            &"after listeners=0 stopped=true error=authorisation service down".to_owned()
        ),
        "{trail:?}"
    );
    assert!(posts_in(&h, "C3").is_empty());
    assert!(
        h.status().wait_for(WAIT, |s| s.failed == 1).await,
        "the failing middleware is recorded"
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn app_state_storage_and_ephemeral_answers() {
    struct Greeting(&'static str);
    async fn greet(ctx: Context, m: Message, greeting: State<Greeting>) -> HandlerResult {
        let user = m.user().unwrap_or("someone").to_owned();
        let key = format!("greeted/{user}");
        let count = ctx
            .storage()
            .update::<u64, _>(&key, |n| Some(n.unwrap_or(0) + 1))
            .await?
            .unwrap_or(0);
        ctx.say(&format!("{} <@{user}> #{count}", greeting.0))
            .await?;
        ctx.ephemeral("only you see this").await?;
        Ok(())
    }
    let h = Harness::start_app(|config| {
        App::new(config)
            .with_state(Greeting("ahoy"))
            .hears("^hello$", greet)
    })
    .await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "hello", "70.0"));
    h.expect_post("ahoy <@U1> #1").await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "hello", "71.0"));
    h.expect_post("ahoy <@U1> #2").await;
    let call = h
        .sim()
        .wait_for_call("chat.postEphemeral", WAIT, |_| true)
        .await
        .unwrap();
    assert_eq!(
        (&call.args["user"], &call.args["channel"]),
        (&json!("U1"), &json!("C1"))
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_pattern_that_does_not_compile_stops_the_start_with_its_name() {
    let h = Harness::start_app(|config| {
        App::new(config).hears("(unclosed", |_ctx: Context, _m: Message| async { Ok(()) })
    })
    .await;
    let error = h.finished().await.unwrap_err();
    assert!(error.to_string().contains("(unclosed"), "{error}");
}

#[tokio::test]
async fn a_listener_taking_a_state_never_registered_stops_the_start_before_any_event() {
    struct Database;
    async fn lookup(_ctx: Context, _c: SlashCommand, _db: State<Database>) -> HandlerResult {
        Ok(())
    }
    let mut h = Harness::start_app(|config| App::new(config).command("/lookup", lookup)).await;
    let error = h.ended().await.unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains("State<") && text.contains("Database") && text.contains("\"/lookup\""),
        "{text}"
    );
    assert!(text.contains("with_state"), "the fix is named: {text}");
    // It stopped before connecting: the simulator saw no socket.
    assert_eq!(h.sim().stats().connect_calls, 0);
}

#[tokio::test]
async fn a_failing_listener_does_not_keep_the_others_from_running() {
    let h = Harness::start_app(|config| {
        App::new(config)
            .hears("^go$", |_ctx: Context, _m: Message| async {
                Err::<(), _>("first listener fails".into())
            })
            .hears("^go$", |ctx: Context, _m: Message| async move {
                ctx.say("second ran").await?;
                Ok(())
            })
    })
    .await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "go", "80.0"));
    h.expect_post("second ran").await;
    assert!(
        h.status().wait_for(WAIT, |s| s.failed == 1).await,
        "the failure was not recorded: {:?}",
        h.status().snapshot()
    );
    h.stop().await.unwrap();
}

/// Every line a listener writes carries the envelope it works on: envelope id, event id,
/// attempt, team and channel, from a span the runtime opens per envelope.
#[tokio::test]
async fn a_listeners_log_lines_carry_the_envelope() {
    let (captured, _log) = common::capture_logs();
    let h = Harness::start_app(|config| {
        App::new(config).hears("^trace me$", |_ctx: Context, _m: Message| async {
            tracing::info!("listener ran");
            Ok(())
        })
    })
    .await;
    h.sim()
        .send_event(message("C7", "channel", "U1", "trace me", "90.0"));
    assert!(h.status().wait_for(WAIT, |s| s.handled >= 1).await);
    h.stop().await.unwrap();
    let logs = captured.text();
    let line = logs
        .lines()
        .find(|l| l.contains("listener ran"))
        .unwrap_or_else(|| panic!("{logs}"));
    for field in [
        "envelope_id=",
        "event_id=Ev",
        "attempt=0",
        "team=T0SIM",
        "channel=C7",
    ] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
}

/// Issue 27: answers take typed Block Kit. A message with blocks goes out as Slack documents
/// it (in the event's thread), an update replaces text and blocks, and a message past one of
/// Slack's limits comes back to the handler as an error naming the field, with nothing sent.
#[tokio::test]
async fn typed_messages_go_out_as_block_kit_and_limits_are_errors() {
    use nonstop::blocks::{self, Block, Button, Style};
    async fn deploy(ctx: Context, _m: Message) -> HandlerResult {
        let ask = blocks::Message::new("Deploy 1.4?")
            .block(Block::section("*Deploy 1.4* to production?"))
            .block(Block::actions([
                Button::new("Deploy", "deploy")
                    .value("1.4")
                    .style(Style::Primary),
                Button::new("Cancel", "cancel"),
            ]));
        let posted = ctx.reply(ask).await?.delivered().await?;
        let ts = posted.ts().unwrap_or_default().to_owned();
        ctx.update(
            &ts,
            blocks::Message::new("Deploying 1.4").block(Block::header("Deploying 1.4")),
        )
        .await?;
        // A message event's ack carries no answer: misuse is an error, not a silent false.
        let misuse = ctx.ack_view(blocks::ViewResponse::Clear);
        assert!(
            matches!(misuse, Err(ContextError::Ack(AckRefused::NotAnswerable))),
            "{misuse:?}"
        );
        let too_long = blocks::Message::new("x").block(Block::header("h".repeat(151)));
        match ctx.say(too_long).await {
            Err(ContextError::Limit(error)) => {
                ctx.say(&format!("refused: {} over {}", error.field, error.limit))
                    .await?;
            }
            other => panic!("a header of 151 characters was taken: {other:?}"),
        }
        Ok(())
    }
    let h = Harness::start_app(|config| App::new(config).hears("^deploy$", deploy)).await;
    h.sim()
        .send_event(message("C1", "channel", "U1", "deploy", "80.0"));
    h.expect_post("refused: blocks[0].text over 150").await;
    let post = h
        .sim()
        .wait_for_call("chat.postMessage", WAIT, |c| {
            c.args["text"] == "Deploy 1.4?"
        })
        .await
        .unwrap();
    // Sent as a form, where Slack takes `blocks` as JSON text.
    let blocks_of = |args: &serde_json::Map<String, Value>| match &args["blocks"] {
        Value::String(text) => serde_json::from_str::<Value>(text).unwrap(),
        other => other.clone(),
    };
    assert_eq!(post.args["thread_ts"], "80.0");
    let blocks = blocks_of(&post.args);
    assert_eq!(blocks[1]["elements"][0]["style"], "primary");
    assert_eq!(blocks[1]["elements"][1]["action_id"], "cancel");
    let update = h
        .sim()
        .wait_for_call("chat.update", WAIT, |_| true)
        .await
        .unwrap();
    assert_eq!(blocks_of(&update.args)[0]["type"], "header");
    assert_eq!(update.args["text"], "Deploying 1.4");
    // Nothing of the refused message reached Slack.
    h.settled().await;
    assert!(
        h.sim().posted().iter().all(|p| p.text != "x"),
        "{:?}",
        h.sim().posted()
    );
    h.stop().await.unwrap();
}
