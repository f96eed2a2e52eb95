//! The app manifest derived from what an [`App`](super::App) registered: the scopes and bot
//! events of its listeners (the table `doctor` checks), its slash commands and shortcuts,
//! interactivity, the Home tab, Socket Mode; names and descriptions from [`AppInfo`].

use std::collections::{BTreeMap, BTreeSet};

use nonstop_model::manifest::{
    AppHome, AssistantView, BotUser, DisplayInformation, EventSubscriptions, Features,
    Interactivity, Manifest, OauthConfig, Scopes, Settings, ShortcutEntry, SlashCommandEntry,
};

use crate::config::{Config, TransportKind};
use crate::scopes::ScopeNeed;

/// What a manifest says that listeners cannot: the app's name and description, and the
/// words Slack shows for its commands and shortcuts. Given with
/// [`App::with_info`](super::App::with_info).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppInfo {
    name: Option<String>,
    description: Option<String>,
    background_color: Option<String>,
    long_description: Option<String>,
    commands: BTreeMap<String, (String, Option<String>)>,
    shortcuts: BTreeMap<String, ShortcutInfo>,
    /// Scopes and events the code needs beyond what its listeners show (`reactions:write`
    /// for `ctx.react`, `users:read` for `web().users_info`, …).
    extra_scopes: Vec<String>,
    extra_events: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
struct ShortcutInfo {
    message: bool,
    name: String,
    description: String,
}

impl AppInfo {
    /// An app called `name` (at most 35 characters): also its bot user's name.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: Some(name.into()),
            ..Self::default()
        }
    }

    /// One line on what it does (at most 140 characters).
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Its colour in Slack, `#` and 3 or 6 hex digits.
    #[must_use]
    pub fn background_color(mut self, colour: impl Into<String>) -> Self {
        self.background_color = Some(colour.into());
        self
    }

    /// The long description of its About page (175 to 4,000 characters).
    #[must_use]
    pub fn long_description(mut self, text: impl Into<String>) -> Self {
        self.long_description = Some(text.into());
        self
    }

    /// What Slack shows for the slash command `command` in its picker, and the hint after
    /// it (`[what to do]`).
    #[must_use]
    pub fn command(
        mut self,
        command: &str,
        description: impl Into<String>,
        usage_hint: Option<&str>,
    ) -> Self {
        self.commands.insert(
            slashed(command),
            (description.into(), usage_hint.map(str::to_owned)),
        );
        self
    }

    /// The shortcut `callback_id` is a global one (the lightning menu), named `name`.
    #[must_use]
    pub fn global_shortcut(
        self,
        callback_id: &str,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.shortcut(callback_id, false, name.into(), description.into())
    }

    /// The shortcut `callback_id` is a message shortcut (a message's menu), named `name`.
    #[must_use]
    pub fn message_shortcut(
        self,
        callback_id: &str,
        name: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        self.shortcut(callback_id, true, name.into(), description.into())
    }

    /// A bot scope the code needs that no listener shows: `reactions:write` for
    /// `ctx.react`, `users:read` for looking users up, `files:write` for uploads.
    #[must_use]
    pub fn bot_scope(mut self, scope: impl Into<String>) -> Self {
        self.extra_scopes.push(scope.into());
        self
    }

    /// A bot event to subscribe to that no listener names (an `on_envelope` handler's).
    #[must_use]
    pub fn bot_event(mut self, event: impl Into<String>) -> Self {
        self.extra_events.push(event.into());
        self
    }

    fn shortcut(
        mut self,
        callback_id: &str,
        message: bool,
        name: String,
        description: String,
    ) -> Self {
        self.shortcuts.insert(
            callback_id.to_owned(),
            ShortcutInfo {
                message,
                name,
                description,
            },
        );
        self
    }
}

fn slashed(command: &str) -> String {
    format!("/{}", command.trim_start_matches('/'))
}

/// What the app registered, as a manifest needs it.
#[derive(Debug, Default)]
pub(super) struct Registered {
    pub(super) commands: Vec<String>,
    pub(super) shortcuts: Vec<String>,
    /// Event types of `event`/`on` listeners, by name.
    pub(super) events: Vec<String>,
    /// Block actions, views or options loads: interactivity on.
    pub(super) interactive: bool,
    /// Options loads (external selects): over HTTP, their URL is set too.
    pub(super) options_loads: bool,
}

/// The manifest of an app with these registrations.
pub(super) fn derive(
    config: &Config,
    info: &AppInfo,
    needs: &[ScopeNeed],
    registered: &Registered,
) -> Manifest {
    let name = info
        .name
        .clone()
        .unwrap_or_else(|| "nonstop bot".to_owned());
    let mut scopes: BTreeSet<String> = BTreeSet::from(["chat:write".to_owned()]);
    let mut events: BTreeSet<String> = BTreeSet::new();
    for need in needs {
        scopes.extend(need.request.iter().map(|s| (*s).to_owned()));
        events.extend(need.events.iter().map(|e| (*e).to_owned()));
    }
    // Events nonstop has no table for are subscribed to by name.
    let unknown = |e: &&String| {
        e.as_str() != "*" && e.as_str() != "message" && crate::scopes::for_event(e).is_empty()
    };
    events.extend(registered.events.iter().filter(unknown).cloned());
    scopes.extend(info.extra_scopes.iter().cloned());
    events.extend(info.extra_events.iter().cloned());
    let interactive = registered.interactive || !registered.shortcuts.is_empty();
    // Over HTTP, Slack posts everything to one request URL, when the bot says where it is.
    let request_url = match config.transport {
        TransportKind::Http => config
            .public_url
            .as_ref()
            .map(|root| format!("{root}{}", config.events_path)),
        _ => None,
    };
    let home = events.contains("app_home_opened");
    // An agent: declared as one, and people talk to it in its messages tab.
    let agent = scopes.contains("assistant:write");
    let direct = events.contains("message.im") || agent;
    let assistant_view = agent.then(|| AssistantView {
        assistant_description: info
            .description
            .clone()
            .unwrap_or_else(|| format!("{name} answers in threads.")),
        extra: Default::default(),
    });
    Manifest {
        metadata: Some(serde_json::json!({"major_version": 1, "minor_version": 1})),
        display_information: DisplayInformation {
            name: name.clone(),
            description: info.description.clone(),
            background_color: info.background_color.clone(),
            long_description: info.long_description.clone(),
            extra: Default::default(),
        },
        features: Features {
            app_home: (home || direct).then_some(AppHome {
                home_tab_enabled: home,
                messages_tab_enabled: direct,
                messages_tab_read_only_enabled: false,
            }),
            assistant_view,
            // A nonstop bot is online all the time: that is the point.
            bot_user: Some(BotUser {
                display_name: name,
                always_online: true,
            }),
            shortcuts: shortcuts(info, registered),
            slash_commands: commands(info, registered, request_url.as_deref()),
            extra: Default::default(),
        },
        oauth_config: OauthConfig {
            scopes: Scopes {
                bot: scopes.into_iter().collect(),
                user: Vec::new(),
            },
            // Installs through OAuth come back to the redirect path beside the receiver.
            redirect_urls: match (&config.oauth, &config.public_url) {
                (Some(oauth), Some(root)) => vec![format!("{root}{}", oauth.redirect_path)],
                _ => Vec::new(),
            },
            ..OauthConfig::default()
        },
        settings: Settings {
            event_subscriptions: (!events.is_empty()).then(|| EventSubscriptions {
                request_url: request_url.clone(),
                bot_events: events.into_iter().collect(),
                user_events: Vec::new(),
            }),
            interactivity: interactive.then(|| Interactivity {
                is_enabled: true,
                request_url: request_url.clone(),
                message_menu_options_url: request_url.clone().filter(|_| registered.options_loads),
            }),
            org_deploy_enabled: false,
            socket_mode_enabled: config.transport == TransportKind::SocketMode,
            token_rotation_enabled: false,
            extra: Default::default(),
        },
        extra: Default::default(),
    }
}

fn commands(
    info: &AppInfo,
    registered: &Registered,
    request_url: Option<&str>,
) -> Vec<SlashCommandEntry> {
    let mut seen = BTreeSet::new();
    registered
        .commands
        .iter()
        .map(|c| slashed(c))
        .filter(|c| seen.insert(c.clone()))
        .map(|command| {
            let (description, usage_hint) = info
                .commands
                .get(&command)
                .cloned()
                .unwrap_or_else(|| (format!("Runs {command}"), None));
            SlashCommandEntry {
                command,
                description,
                usage_hint,
                should_escape: false,
                url: request_url.map(str::to_owned),
            }
        })
        .collect()
}

fn shortcuts(info: &AppInfo, registered: &Registered) -> Vec<ShortcutEntry> {
    let mut seen = BTreeSet::new();
    registered
        .shortcuts
        .iter()
        .filter(|id| seen.insert((*id).clone()))
        .map(|callback_id| {
            let described = info.shortcuts.get(callback_id);
            ShortcutEntry {
                name: described.map_or_else(
                    || callback_id.chars().take(24).collect(),
                    |s| s.name.clone(),
                ),
                kind: if described.is_some_and(|s| s.message) {
                    "message"
                } else {
                    "global"
                }
                .to_owned(),
                callback_id: callback_id.clone(),
                description: described
                    .map_or_else(|| format!("Runs {callback_id}"), |s| s.description.clone()),
            }
        })
        .collect()
}

/// The `app settings` verdict: what the installed app lacks of what `needed` asks for (bot
/// events, slash commands, interactivity, Socket Mode, scopes).
pub(super) fn settings_verdict(needed: &Manifest, installed: &Manifest) -> crate::doctor::Verdict {
    let events = |m: &Manifest| {
        m.settings
            .event_subscriptions
            .as_ref()
            .map(|e| e.bot_events.clone())
            .unwrap_or_default()
    };
    let commands = |m: &Manifest| -> Vec<String> {
        m.features
            .slash_commands
            .iter()
            .map(|c| c.command.clone())
            .collect()
    };
    let lacking = |want: Vec<String>, have: Vec<String>| -> Vec<String> {
        want.into_iter().filter(|w| !have.contains(w)).collect()
    };
    let mut missing = Vec::new();
    let list = [
        ("bot events", lacking(events(needed), events(installed))),
        (
            "slash commands",
            lacking(commands(needed), commands(installed)),
        ),
        (
            "bot scopes",
            lacking(
                needed.oauth_config.scopes.bot.clone(),
                installed.oauth_config.scopes.bot.clone(),
            ),
        ),
    ];
    for (what, names) in list {
        if !names.is_empty() {
            missing.push(format!("{what} {}", names.join(", ")));
        }
    }
    let interactive = |m: &Manifest| {
        m.settings
            .interactivity
            .as_ref()
            .is_some_and(|i| i.is_enabled)
    };
    if interactive(needed) && !interactive(installed) {
        missing.push("interactivity (buttons, modals, shortcuts)".to_owned());
    }
    if needed.settings.socket_mode_enabled && !installed.settings.socket_mode_enabled {
        missing.push("Socket Mode".to_owned());
    }
    if missing.is_empty() {
        return crate::doctor::Verdict::Pass(
            "the installed app has every bot event, command, scope and setting these listeners need"
                .to_owned(),
        );
    }
    crate::doctor::Verdict::Fail {
        problem: format!("the installed app lacks {}", missing.join("; ")),
        fix: "paste the output of `manifest` into the app's settings (App Manifest), save, and reinstall the app if Slack asks".to_owned(),
    }
}
