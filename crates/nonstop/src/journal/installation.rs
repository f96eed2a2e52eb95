//! Installations: the app installed in a workspace, or across an organization (an org-wide
//! install), with the bot token Slack gave for it. Kept by the store's installation role
//! ([`super::InstallationStore`]) as JSON under a key, found for an event by its team and
//! enterprise. Tokens are [`Secret`]s: `Debug` shows none.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop_web::Secret;
use serde::{Deserialize, Serialize};

use super::StoreError;

/// One install of the app.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Installation {
    pub app_id: Option<String>,
    pub enterprise_id: Option<String>,
    pub enterprise_name: Option<String>,
    /// `None` for an org-wide install: it answers for every workspace of the enterprise.
    pub team_id: Option<String>,
    pub team_name: Option<String>,
    pub is_enterprise_install: bool,
    pub bot_token: Secret,
    /// With token rotation on: the refresh token and when the bot token expires.
    pub bot_refresh_token: Option<Secret>,
    pub bot_token_expires_at: Option<SystemTime>,
    pub bot_id: Option<String>,
    pub bot_user_id: Option<String>,
    pub bot_scopes: Vec<String>,
    /// Who installed it.
    pub installer_user_id: Option<String>,
    pub installed_at: SystemTime,
    /// For the bot's own rotating pair: a digest of the settings' refresh token it grew from.
    pub(crate) seed: Option<String>,
}

impl std::fmt::Debug for Installation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installation")
            .field("key", &self.key())
            .field("team_name", &self.team_name)
            .field("bot_token", &self.bot_token)
            .field("rotating", &self.bot_refresh_token.is_some())
            .field("bot_user_id", &self.bot_user_id)
            .finish_non_exhaustive()
    }
}

impl Installation {
    /// A workspace's install with its bot token.
    pub fn for_team(team_id: impl Into<String>, bot_token: Secret) -> Self {
        Self::empty(Some(team_id.into()), None, false, bot_token)
    }

    /// An organization's (org-wide) install with its bot token.
    pub fn for_enterprise(enterprise_id: impl Into<String>, bot_token: Secret) -> Self {
        Self::empty(None, Some(enterprise_id.into()), true, bot_token)
    }

    fn empty(
        team_id: Option<String>,
        enterprise_id: Option<String>,
        is_enterprise_install: bool,
        bot_token: Secret,
    ) -> Self {
        Self {
            app_id: None,
            enterprise_id,
            enterprise_name: None,
            team_id,
            team_name: None,
            is_enterprise_install,
            bot_token,
            bot_refresh_token: None,
            bot_token_expires_at: None,
            bot_id: None,
            bot_user_id: None,
            bot_scopes: Vec::new(),
            installer_user_id: None,
            seed: None,
            // To the millisecond, as it is kept.
            installed_at: at_millis(millis(SystemTime::now())),
        }
    }

    /// Where it is kept: an org-wide install by its enterprise, any other by its team.
    pub fn key(&self) -> InstallationKey {
        match (&self.team_id, &self.enterprise_id) {
            (Some(team), _) if !self.is_enterprise_install => InstallationKey::Team(team.clone()),
            (_, Some(enterprise)) => InstallationKey::Enterprise(enterprise.clone()),
            (Some(team), None) => InstallationKey::Team(team.clone()),
            (None, None) => InstallationKey::Team(String::new()),
        }
    }

    /// The stored form.
    pub(crate) fn to_json(&self) -> String {
        let stored = Stored {
            app_id: self.app_id.clone(),
            enterprise_id: self.enterprise_id.clone(),
            enterprise_name: self.enterprise_name.clone(),
            team_id: self.team_id.clone(),
            team_name: self.team_name.clone(),
            is_enterprise_install: self.is_enterprise_install,
            bot_token: self.bot_token.expose().to_owned(),
            bot_refresh_token: self
                .bot_refresh_token
                .as_ref()
                .map(|s| s.expose().to_owned()),
            bot_token_expires_at_ms: self.bot_token_expires_at.map(millis),
            bot_id: self.bot_id.clone(),
            bot_user_id: self.bot_user_id.clone(),
            bot_scopes: self.bot_scopes.clone(),
            installer_user_id: self.installer_user_id.clone(),
            installed_at_ms: millis(self.installed_at),
            seed: self.seed.clone(),
        };
        // A struct of strings, numbers and lists always serializes.
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// Reads the stored form back.
    pub(crate) fn from_json(key: &str, text: &str) -> Result<Self, StoreError> {
        let stored: Stored = serde_json::from_str(text).map_err(|e| StoreError::Read {
            detail: format!("installation {key} is not readable: {e}"),
        })?;
        Ok(Self {
            app_id: stored.app_id,
            enterprise_id: stored.enterprise_id,
            enterprise_name: stored.enterprise_name,
            team_id: stored.team_id,
            team_name: stored.team_name,
            is_enterprise_install: stored.is_enterprise_install,
            bot_token: Secret::new(stored.bot_token),
            bot_refresh_token: stored.bot_refresh_token.map(Secret::new),
            bot_token_expires_at: stored.bot_token_expires_at_ms.map(at_millis),
            bot_id: stored.bot_id,
            bot_user_id: stored.bot_user_id,
            bot_scopes: stored.bot_scopes,
            installer_user_id: stored.installer_user_id,
            installed_at: at_millis(stored.installed_at_ms),
            seed: stored.seed,
        })
    }
}

/// Where an installation is kept.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum InstallationKey {
    /// A workspace's install, by team id.
    Team(String),
    /// An org-wide install, by enterprise id.
    Enterprise(String),
}

impl InstallationKey {
    /// The key as the store holds it: `team:T…` or `org:E…`.
    pub fn as_stored(&self) -> String {
        match self {
            Self::Team(team) => format!("team:{team}"),
            Self::Enterprise(enterprise) => format!("org:{enterprise}"),
        }
    }

    /// The keys to try for an event from `team` in `enterprise`, in order: the workspace's own
    /// install, then its organization's org-wide one. An event Slack marks
    /// `is_enterprise_install` is the organization's only.
    pub fn for_event(
        enterprise: Option<&str>,
        team: Option<&str>,
        is_enterprise_install: bool,
    ) -> Vec<Self> {
        let mut keys = Vec::with_capacity(2);
        if let Some(team) = team.filter(|t| !t.is_empty() && !is_enterprise_install) {
            keys.push(Self::Team(team.to_owned()));
        }
        if let Some(enterprise) = enterprise.filter(|e| !e.is_empty()) {
            keys.push(Self::Enterprise(enterprise.to_owned()));
        }
        keys
    }
}

/// The stored form: plain strings, tokens included (the store is the bot's own: a SQLite
/// file only its user reads, or its Redis).
#[derive(Serialize, Deserialize)]
struct Stored {
    #[serde(default)]
    app_id: Option<String>,
    #[serde(default)]
    enterprise_id: Option<String>,
    #[serde(default)]
    enterprise_name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    #[serde(default)]
    team_name: Option<String>,
    #[serde(default)]
    is_enterprise_install: bool,
    bot_token: String,
    #[serde(default)]
    bot_refresh_token: Option<String>,
    #[serde(default)]
    bot_token_expires_at_ms: Option<u64>,
    #[serde(default)]
    bot_id: Option<String>,
    #[serde(default)]
    bot_user_id: Option<String>,
    #[serde(default)]
    bot_scopes: Vec<String>,
    #[serde(default)]
    installer_user_id: Option<String>,
    #[serde(default)]
    installed_at_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    seed: Option<String>,
}

fn millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn at_millis(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}
