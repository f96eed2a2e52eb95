//! What Slack refuses in a manifest: the limits of the manifest schema (version 1) and the
//! rules across fields that `apps.manifest.validate` enforces.

use super::types::Manifest;

/// One thing Slack would refuse, where it is (a JSON pointer) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// The scopes of which a bot event needs one, for the events whose scope Slack documents.
fn scopes_for_event(event: &str) -> Option<&'static [&'static str]> {
    Some(match event {
        "message.channels" => &["channels:history"],
        "message.groups" => &["groups:history"],
        "message.im" => &["im:history"],
        "message.mpim" => &["mpim:history"],
        "app_mention" => &["app_mentions:read"],
        "reaction_added" | "reaction_removed" => &["reactions:read"],
        "member_joined_channel" | "member_left_channel" => &["channels:read", "groups:read"],
        _ => return None,
    })
}

/// Collects problems with a pointer prefix.
struct Found(Vec<Problem>);

impl Found {
    fn add(&mut self, pointer: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            pointer: pointer.into(),
            message: message.into(),
        });
    }

    /// `text` must have between `min` and `max` characters.
    fn length(&mut self, pointer: impl Into<String>, text: &str, min: usize, max: usize) {
        let n = text.chars().count();
        if n < min || n > max {
            self.add(
                pointer,
                format!("must be {min} to {max} characters long, is {n}"),
            );
        }
    }

    fn at_most<T>(&mut self, pointer: &str, items: &[T], max: usize) {
        if items.len() > max {
            self.add(pointer, format!("at most {max} items, has {}", items.len()));
        }
    }
}

pub(super) fn problems(manifest: &Manifest) -> Vec<Problem> {
    let mut found = Found(Vec::new());
    display(manifest, &mut found);
    features(manifest, &mut found);
    scopes_and_events(manifest, &mut found);
    delivery(manifest, &mut found);
    found.0
}

fn display(manifest: &Manifest, found: &mut Found) {
    let info = &manifest.display_information;
    found.length("/display_information/name", &info.name, 1, 35);
    if let Some(description) = &info.description {
        found.length("/display_information/description", description, 1, 140);
    }
    if let Some(long) = &info.long_description {
        found.length("/display_information/long_description", long, 175, 4000);
    }
    if let Some(colour) = &info.background_color {
        let hex = colour.strip_prefix('#').unwrap_or("");
        let ok = matches!(hex.len(), 3 | 6) && hex.chars().all(|c| c.is_ascii_hexdigit());
        if !ok {
            found.add(
                "/display_information/background_color",
                "must be # and 3 or 6 hex digits",
            );
        }
    }
    if let Some(bot) = &manifest.features.bot_user {
        found.length("/features/bot_user/display_name", &bot.display_name, 1, 80);
    }
}

fn features(manifest: &Manifest, found: &mut Found) {
    let features = &manifest.features;
    found.at_most("/features/shortcuts", &features.shortcuts, 10);
    for (i, shortcut) in features.shortcuts.iter().enumerate() {
        let at = |field: &str| format!("/features/shortcuts/{i}/{field}");
        found.length(at("name"), &shortcut.name, 1, 24);
        found.length(at("callback_id"), &shortcut.callback_id, 1, 255);
        found.length(at("description"), &shortcut.description, 1, 150);
        if shortcut.kind != "global" && shortcut.kind != "message" {
            found.add(at("type"), "must be global or message");
        }
        let twice = features.shortcuts[..i]
            .iter()
            .any(|other| other.callback_id == shortcut.callback_id);
        if twice {
            found.add(at("callback_id"), "is used by another shortcut");
        }
    }
    found.at_most("/features/slash_commands", &features.slash_commands, 50);
    for (i, command) in features.slash_commands.iter().enumerate() {
        let at = |field: &str| format!("/features/slash_commands/{i}/{field}");
        found.length(at("command"), &command.command, 2, 32);
        if !command.command.starts_with('/') {
            found.add(at("command"), "must start with /");
        }
        found.length(at("description"), &command.description, 1, 2000);
        if let Some(hint) = &command.usage_hint {
            found.length(at("usage_hint"), hint, 1, 1000);
        }
        if let Some(url) = &command.url {
            if !url.starts_with("https://") && !url.starts_with("http://") {
                found.add(at("url"), "must be an http(s) URL");
            }
        }
        let twice = features.slash_commands[..i]
            .iter()
            .any(|other| other.command == command.command);
        if twice {
            found.add(at("command"), "is listed twice");
        }
    }
}

fn scopes_and_events(manifest: &Manifest, found: &mut Found) {
    let bot = &manifest.oauth_config.scopes.bot;
    // Apps that asked for it without the feature report Slack refusing the scope.
    if bot.iter().any(|s| s == "assistant:write") && manifest.features.assistant_view.is_none() {
        found.add(
            "/features/assistant_view",
            "is needed for the assistant:write scope (the app is then an agent)",
        );
    }
    found.at_most("/oauth_config/scopes/bot", bot, 255);
    for (i, scope) in bot.iter().enumerate() {
        found.length(format!("/oauth_config/scopes/bot/{i}"), scope, 1, 50);
    }
    let has = |scope: &str| bot.iter().any(|s| s == scope);
    if !manifest.features.slash_commands.is_empty() && !has("commands") {
        found.add(
            "/oauth_config/scopes/bot",
            "slash commands need the commands scope",
        );
    }
    if !bot.is_empty() && manifest.features.bot_user.is_none() {
        found.add("/features/bot_user", "bot scopes need a bot user");
    }
    let Some(events) = &manifest.settings.event_subscriptions else {
        return;
    };
    found.at_most(
        "/settings/event_subscriptions/bot_events",
        &events.bot_events,
        100,
    );
    for (i, event) in events.bot_events.iter().enumerate() {
        let at = format!("/settings/event_subscriptions/bot_events/{i}");
        found.length(at.clone(), event, 1, 50);
        if let Some(needed) = scopes_for_event(event) {
            if !needed.iter().any(|scope| has(scope)) {
                found.add(
                    at,
                    format!("{event} needs the bot scope {}", needed.join(" or ")),
                );
            }
        }
    }
}

/// Events, commands and interactions reach the app over Socket Mode or at a request URL.
fn delivery(manifest: &Manifest, found: &mut Found) {
    let settings = &manifest.settings;
    let socket = settings.socket_mode_enabled;
    if let Some(events) = &settings.event_subscriptions {
        if !socket && events.request_url.is_none() && !events.bot_events.is_empty() {
            found.add(
                "/settings/event_subscriptions/request_url",
                "events need a request URL, or Socket Mode enabled",
            );
        }
    }
    let interactive = settings.interactivity.as_ref();
    if let Some(interactivity) = interactive {
        if interactivity.is_enabled && !socket && interactivity.request_url.is_none() {
            found.add(
                "/settings/interactivity/request_url",
                "interactivity needs a request URL, or Socket Mode enabled",
            );
        }
    }
    if !manifest.features.shortcuts.is_empty() && !interactive.is_some_and(|i| i.is_enabled) {
        found.add(
            "/settings/interactivity/is_enabled",
            "shortcuts need interactivity enabled",
        );
    }
    for (i, command) in manifest.features.slash_commands.iter().enumerate() {
        if !socket && command.url.is_none() {
            found.add(
                format!("/features/slash_commands/{i}/url"),
                "a slash command needs a URL, or Socket Mode enabled",
            );
        }
    }
}
