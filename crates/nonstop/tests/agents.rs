//! Agent threads against the simulator: a thread opened with the app gets suggested prompts
//! and a title; a question in it gets the status line first and then the answer, in order
//! through the outbox; the channel the person was looking at is kept from Slack's events and
//! known to later messages of the thread without reading history.
#![allow(clippy::unwrap_used)]

use nonstop::blocks::{self, Block, FeedbackButtons};
use nonstop::model::ElementKind;
use nonstop::testing::inbound::Picked;
use nonstop::testing::{inbound, TestApp, TestBot};
use nonstop::{
    App, AppHomeOpened, AssistantThreadContextChanged, AssistantThreadStarted, BlockAction,
    Context, HandlerResult, Message, SuggestedPrompt,
};

const THREAD: &str = "1700000000.000100";

async fn started(ctx: Context, _event: AssistantThreadStarted) -> HandlerResult {
    let prompts = [
        SuggestedPrompt::new("Summarise", "Summarise this channel"),
        SuggestedPrompt::new("Draft", "Draft a reply"),
    ];
    ctx.set_suggested_prompts(Some("Try one"), &prompts).await?;
    ctx.set_title("A new chat").await?;
    Ok(())
}

async fn moved(_ctx: Context, _event: AssistantThreadContextChanged) -> HandlerResult {
    Ok(())
}

async fn asked(ctx: Context, _message: Message) -> HandlerResult {
    ctx.set_status("is thinking…").await?;
    let context = ctx.agent_context().await?;
    let channel = context.and_then(|c| c.channel_id);
    let answer = format!("you were in {}", channel.as_deref().unwrap_or("no channel"));
    let feedback = Block::context_actions([FeedbackButtons::new("feedback")]);
    ctx.reply(
        blocks::Message::new(answer.clone())
            .blocks([Block::from(Block::section(answer)), feedback.into()]),
    )
    .await?;
    Ok(())
}

async fn rated(ctx: Context, click: BlockAction) -> HandlerResult {
    assert_eq!(click.action.element(), ElementKind::FeedbackButtons);
    ctx.say(format!("noted: {}", click.action.selected().join("")))
        .await?;
    Ok(())
}

fn agent(config: nonstop::Config) -> App {
    App::new(config)
        .on(started)
        .on(moved)
        .hears("\\?$", asked)
        .action("feedback", rated)
}

#[tokio::test]
async fn an_agent_thread_gets_prompts_a_status_before_each_answer_and_knows_its_context() {
    let bot = TestBot::start(agent).await;
    bot.send(inbound::assistant_thread_started("U1", THREAD, "C9"));
    bot.settled().await;
    let thread = bot.sim().agent_thread("DU1", THREAD).unwrap();
    assert_eq!(thread.prompts.len(), 2, "{thread:?}");
    assert_eq!(thread.prompts[0]["title"], "Summarise");
    assert_eq!(thread.prompts_title.as_deref(), Some("Try one"));
    assert_eq!(thread.title.as_deref(), Some("A new chat"));

    bot.send(
        inbound::message("what now?")
            .channel("DU1")
            .user("U1")
            .in_thread(THREAD),
    );
    bot.expect_text("you were in C9").await;
    // The person moves to another channel; the thread's next answer knows it.
    bot.send(inbound::assistant_thread_context_changed(
        "U1", THREAD, "C7",
    ));
    bot.send(
        inbound::message("and here?")
            .channel("DU1")
            .user("U1")
            .in_thread(THREAD),
    );
    bot.expect_text("you were in C7").await;
    bot.settled().await;

    let thread = bot.sim().agent_thread("DU1", THREAD).unwrap();
    assert_eq!(thread.statuses, ["is thinking…", "is thinking…"]);
    // Each status went out before its answer, in the thread.
    let mut calls = bot.sim().calls("assistant.threads.setStatus");
    calls.extend(bot.sim().calls("chat.postMessage"));
    calls.sort_by_key(|c| c.at);
    let order: Vec<&str> = calls.iter().map(|c| c.method.as_str()).collect();
    assert_eq!(
        order,
        [
            "assistant.threads.setStatus",
            "chat.postMessage",
            "assistant.threads.setStatus",
            "chat.postMessage"
        ]
    );
    let answers = bot.posts();
    assert!(
        answers.iter().all(|p| p.thread_ts() == Some(THREAD)),
        "{answers:?}"
    );
    // Each answer ends with feedback buttons; a click reaches the listener with its value.
    let Block::ContextActions(buttons) = &answers[0].blocks()[1] else {
        panic!("no feedback buttons: {answers:?}");
    };
    let blocks::ContextActionElement::FeedbackButtons(feedback) = &buttons.elements[0] else {
        panic!("{buttons:?}");
    };
    assert_eq!(feedback.negative_button.value, "negative");
    bot.send(inbound::block_action("feedback", Picked::Feedback("negative".into())).channel("DU1"));
    bot.expect_text("noted: negative").await;
    // Known from Slack's events, not read back from history.
    assert!(bot.sim().calls("conversations.replies").is_empty());
    assert!(bot.sim().calls("conversations.history").is_empty());
    bot.stop().await.unwrap();
}

/// The listeners' events and the scope they need reach the manifest.
#[test]
fn an_agents_manifest_subscribes_to_its_thread_events_with_their_scope() {
    let manifest = agent(TestApp::config()).manifest();
    assert!(manifest.problems().is_empty(), "{:?}", manifest.problems());
    // Declared an agent, talked to in its messages tab.
    assert!(manifest.features.assistant_view.is_some());
    assert!(
        manifest
            .features
            .app_home
            .as_ref()
            .unwrap()
            .messages_tab_enabled
    );
    // Without the declaration, the scope is named as a problem.
    let mut bare = manifest.clone();
    bare.features.assistant_view = None;
    assert_eq!(bare.problems()[0].pointer, "/features/assistant_view");
    let events = manifest.settings.event_subscriptions.unwrap().bot_events;
    for event in [
        "assistant_thread_started",
        "assistant_thread_context_changed",
    ] {
        assert!(events.iter().any(|e| e == event), "{events:?}");
    }
    let scopes = manifest.oauth_config.scopes.bot;
    assert!(scopes.iter().any(|s| s == "assistant:write"), "{scopes:?}");
}

/// The agent messaging experience: the person opens the app's Messages tab (`app_home_opened`
/// with tab `messages`, typed), and the app greets them in it; the Home tab is told apart.
#[tokio::test]
async fn the_messages_tab_opened_is_typed_and_answered_in_the_direct_message() {
    async fn opened(ctx: Context, opened: AppHomeOpened) -> HandlerResult {
        if opened.tab == "messages" {
            ctx.say("Hi! Ask me anything.").await?;
        }
        Ok(())
    }
    let bot = TestBot::start(|config| App::new(config).on(opened)).await;
    bot.send(inbound::app_home_opened("U1"));
    bot.send(inbound::messages_tab_opened("U2"));
    let greeting = bot.expect_text("Hi! Ask me anything.").await;
    assert_eq!(greeting.channel(), Some("DU2"));
    bot.settled().await;
    assert_eq!(bot.posts().len(), 1, "the Home tab is not greeted");
    bot.stop().await.unwrap();
}
