//! The app manifest derived from an app's listeners (`App::manifest`): each listener adds
//! the scopes and bot events it needs, from the table `doctor` checks, and the simulator's
//! `apps.manifest.validate` (Slack's rules) takes what comes out.
#![allow(clippy::unwrap_used)]

use nonstop::model::manifest::Manifest;
use nonstop::testing::{TestApp, TestBot};
use nonstop::{
    App, AppInfo, BlockAction, Context, HandlerResult, Hears, Message, ReactionAdded, Shortcut,
    SlashCommand,
};
use serde_json::Value;

async fn noop<T>(_ctx: Context, _payload: T) -> HandlerResult {
    Ok(())
}

fn scopes(m: &Manifest) -> Vec<&str> {
    m.oauth_config
        .scopes
        .bot
        .iter()
        .map(String::as_str)
        .collect()
}

fn events(m: &Manifest) -> Vec<&str> {
    m.settings
        .event_subscriptions
        .as_ref()
        .map(|e| e.bot_events.iter().map(String::as_str).collect())
        .unwrap_or_default()
}

#[test]
fn each_listener_adds_the_scopes_and_events_it_needs() {
    let base = App::new(TestApp::config());
    let m = base.manifest();
    assert_eq!(scopes(&m), vec!["chat:write"], "answers need chat:write");
    assert!(events(&m).is_empty() && m.settings.interactivity.is_none());
    assert!(m.settings.socket_mode_enabled);

    let app = App::new(TestApp::config()).on(noop::<ReactionAdded>);
    let m = app.manifest();
    assert!(scopes(&m).contains(&"reactions:read"), "{:?}", scopes(&m));
    assert_eq!(events(&m), vec!["reaction_added"]);

    let app = app.command("/todo", noop::<SlashCommand>);
    let m = app.manifest();
    assert!(scopes(&m).contains(&"commands"));
    assert_eq!(m.features.slash_commands[0].command, "/todo");

    let app = app
        .hears_with(Hears::new("^hi$").direct(), noop::<Message>)
        .event("team_join", noop::<Value>);
    let m = app.manifest();
    assert!(scopes(&m).contains(&"im:history") && !scopes(&m).contains(&"channels:history"));
    assert_eq!(
        events(&m),
        vec!["message.im", "reaction_added", "team_join"],
        "an event nonstop has no table for is listed by name"
    );
    assert!(m.features.app_home.as_ref().unwrap().messages_tab_enabled);

    let app = app
        .action("go", noop::<BlockAction>)
        .shortcut("quote", noop::<Shortcut>)
        .with_info(
            AppInfo::new("Quotes")
                .message_shortcut("quote", "Quote it", "Saves the message")
                .bot_scope("reactions:write"),
        );
    let m = app.manifest();
    assert!(m.settings.interactivity.as_ref().unwrap().is_enabled);
    let shortcut = &m.features.shortcuts[0];
    assert_eq!(
        (shortcut.kind.as_str(), shortcut.name.as_str()),
        ("message", "Quote it")
    );
    assert!(scopes(&m).contains(&"reactions:write"));
    assert_eq!(m.display_information.name, "Quotes");
}

/// What `doctor` checks and what the manifest asks for come from one table: an app
/// installed with its manifest's scopes passes `doctor`'s scope check.
#[test]
fn the_manifest_meets_every_need_doctor_checks() {
    let app = App::new(TestApp::config())
        .hears("^deploy", noop::<Message>)
        .hears_with(Hears::new("^hi").mention(), noop::<Message>)
        .on(noop::<ReactionAdded>)
        .command("/todo", noop::<SlashCommand>)
        .event("member_joined_channel", noop::<Value>)
        .with_builtin_commands();
    let granted = app.manifest().oauth_config.scopes.bot;
    let missing = nonstop::scopes::missing(app.needed_scopes(), &granted);
    assert!(missing.is_empty(), "{missing:?}");
}

#[tokio::test]
async fn slack_takes_the_derived_manifest_and_names_what_it_refuses() {
    fn app(config: nonstop::Config) -> App {
        App::new(config)
            .with_info(AppInfo::new("Everything").description("Listens to it all"))
            .hears("^deploy", noop::<Message>)
            .on(noop::<ReactionAdded>)
            .command("/todo", noop::<SlashCommand>)
            .action("go", noop::<BlockAction>)
            .shortcut("new", noop::<Shortcut>)
    }
    let bot = TestBot::start(app).await;
    let manifest = app(TestApp::config()).manifest();
    assert_eq!(bot.manifest_problems(&manifest).await, Vec::<String>::new());

    let mut broken = manifest.clone();
    broken.display_information.name = "x".repeat(36);
    broken.features.slash_commands[0].command = "todo".into();
    broken
        .oauth_config
        .scopes
        .bot
        .retain(|s| s != "commands" && s != "reactions:read");
    broken.settings.socket_mode_enabled = false;
    let problems = bot.manifest_problems(&broken).await;
    for expected in [
        "/display_information/name: must be 1 to 35 characters long, is 36",
        "/features/slash_commands/0/command: must start with /",
        "/oauth_config/scopes/bot: slash commands need the commands scope",
        "reaction_added needs the bot scope reactions:read",
        "/settings/event_subscriptions/request_url: events need a request URL, or Socket Mode enabled",
        "/settings/interactivity/request_url: interactivity needs a request URL, or Socket Mode enabled",
    ] {
        assert!(
            problems.iter().any(|p| p.contains(expected)),
            "{expected:?} not in {problems:#?}"
        );
    }
    bot.stop().await.unwrap();
}

/// Over HTTP, Slack needs the request URL for events, interactivity, options and each
/// command: the manifest has it from `NONSTOP_PUBLIC_URL`, and names it missing without.
#[tokio::test]
async fn over_http_every_request_url_is_the_receivers() {
    fn app(config: nonstop::Config) -> App {
        App::new(config)
            .hears("^deploy", noop::<Message>)
            .command("/todo", noop::<SlashCommand>)
            .action("go", noop::<BlockAction>)
            .options("team", noop::<nonstop::OptionsRequest>)
    }
    let bot = TestBot::start_over_http(app).await;
    let mut config = TestBot::http_config_for(bot.sim());
    config.public_url = Some("https://bot.example.com".to_owned());
    let manifest = app(config.clone()).manifest();
    let url = "https://bot.example.com/slack/events";
    let settings = &manifest.settings;
    assert!(!settings.socket_mode_enabled);
    let events = settings.event_subscriptions.as_ref().unwrap();
    assert_eq!(events.request_url.as_deref(), Some(url));
    let interactivity = settings.interactivity.as_ref().unwrap();
    assert_eq!(interactivity.request_url.as_deref(), Some(url));
    assert_eq!(interactivity.message_menu_options_url.as_deref(), Some(url));
    assert_eq!(
        manifest.features.slash_commands[0].url.as_deref(),
        Some(url)
    );
    assert_eq!(bot.manifest_problems(&manifest).await, Vec::<String>::new());
    assert!(
        manifest.oauth_config.redirect_urls.is_empty(),
        "no installs, no redirect URL"
    );
    let mut installing = config.clone();
    installing.oauth = Some(nonstop::config::OAuthSettings::new(
        "1.2",
        nonstop::Secret::new("s"),
    ));
    assert_eq!(
        app(installing).manifest().oauth_config.redirect_urls,
        ["https://bot.example.com/slack/oauth_redirect"]
    );

    config.public_url = None;
    let problems = bot.manifest_problems(&app(config).manifest()).await;
    assert!(
        problems
            .iter()
            .any(|p| p.contains("/settings/event_subscriptions/request_url")),
        "{problems:#?}"
    );
    bot.stop().await.unwrap();
}
