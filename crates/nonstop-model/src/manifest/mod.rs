//! Slack's app manifest (schema version 1): the app's name, bot user, commands, shortcuts,
//! scopes, events and settings, as `apps.manifest.create/validate/export` and the app
//! settings' "App Manifest" tab take them. Fields nonstop does not model are kept in
//! `extra` and written back.
//!
//! [`Manifest::problems`] checks the documented rules (lengths, patterns, counts, and what
//! Slack refuses across fields, such as a slash command without the `commands` scope); the
//! simulator answers `apps.manifest.validate` with it. [`Manifest::differences`] says how two
//! manifests differ, for `manifest --check`.

mod diff;
mod rules;
mod types;

pub use diff::Difference;
pub use rules::Problem;
pub use types::{
    AppHome, AssistantView, BotUser, DisplayInformation, EventSubscriptions, Features,
    Interactivity, Manifest, OauthConfig, Scopes, Settings, ShortcutEntry, SlashCommandEntry,
};

impl Manifest {
    /// Everything in it that Slack would refuse, each with its JSON pointer; empty when
    /// Slack would take it.
    pub fn problems(&self) -> Vec<Problem> {
        rules::problems(self)
    }

    /// How `installed` differs from this manifest (lists of scopes and events compared as
    /// sets), in the order of the document.
    pub fn differences(&self, installed: &Manifest) -> Vec<Difference> {
        diff::differences(self, installed)
    }
}
