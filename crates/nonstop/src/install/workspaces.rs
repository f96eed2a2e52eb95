//! Which workspace an event is for, and its token: the installation the store keeps for the
//! event's team (or its organization), with a Web API client of its own (Slack limits each
//! workspace's token apart). Everything done for an event, its handler's calls and answers
//! included, goes through that client; an event from no installed workspace goes through the
//! bot's own token (`SLACK_BOT_TOKEN`). Lookups are cached briefly, so a busy workspace costs
//! the store one read in a while; an uninstall forgets at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nonstop_web::WebClient;
use tokio::time::Instant;

use crate::identity::BotIdentity;
use crate::journal::{Installation, InstallationKey, Store, StoreError};

/// How long a lookup is trusted: a reinstall or a new token is seen within this.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// Lookups kept at most; past it the cache starts again.
const CACHED: usize = 10_000;

/// One workspace as an event's handler acts in it.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// The installation's key as stored, `None` for the bot's own workspace.
    pub(crate) key: Option<String>,
    pub(crate) web: WebClient,
    /// Who the bot is there (its user and bot ids differ from one workspace to the next).
    pub(crate) me: Arc<BotIdentity>,
}

/// The installed workspaces, and the bot's own.
pub(crate) struct Workspaces {
    store: Arc<dyn Store>,
    home: Workspace,
    cache: Mutex<HashMap<String, (Instant, Option<Workspace>)>>,
    /// What renews rotating tokens, once it runs (weak: it holds these workspaces).
    rotator: std::sync::OnceLock<std::sync::Weak<dyn Renew>>,
}

/// Renews a workspace's token after a call with it was refused.
pub(crate) trait Renew: Send + Sync {
    /// Renews the token of the installation kept under `key`, unless it holds another than
    /// `refused`'s already; true when the workspace may have a working token now.
    fn renew_refused<'a>(
        &'a self,
        key: &'a str,
        refused: &'a WebClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send + 'a>>;
}

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspaces").finish_non_exhaustive()
    }
}

impl Workspaces {
    pub(crate) fn new(store: Arc<dyn Store>, web: WebClient, me: Arc<BotIdentity>) -> Self {
        Self {
            store,
            home: Workspace { key: None, web, me },
            cache: Mutex::default(),
            rotator: std::sync::OnceLock::new(),
        }
    }

    /// Who renews rotating tokens when a call finds one refused.
    pub(crate) fn renewed_by<R: Renew + 'static>(&self, rotator: &Arc<R>) {
        let renew: Arc<dyn Renew> = Arc::clone(rotator) as Arc<dyn Renew>;
        let _ = self.rotator.set(Arc::downgrade(&renew));
    }

    /// A call with `refused`'s token (the installation `key`'s) was refused: renews the
    /// token now if it rotates and is still the one kept. True when the workspace has
    /// another token to try (renewed now, or by someone else meanwhile).
    pub(crate) async fn renew_now(&self, key: &str, refused: &WebClient) -> bool {
        self.forget(key);
        let Some(rotator) = self.rotator.get().and_then(std::sync::Weak::upgrade) else {
            return false;
        };
        rotator.renew_refused(key, refused).await
            && self
                .by_key(key)
                .await
                .is_some_and(|now| !refused.has_token_of(&now.web))
    }

    /// The workspace an event from `team` in `enterprise` is for: its installation's; the
    /// bot's own for its own team (`SLACK_BOT_TOKEN`'s) or an event that names none; `None`
    /// for a workspace the app is not installed in (uninstalled, or never): no token of
    /// another workspace may act there.
    pub(crate) async fn for_event(
        &self,
        enterprise: Option<&str>,
        team: Option<&str>,
        is_enterprise_install: bool,
    ) -> Option<Workspace> {
        for key in InstallationKey::for_event(enterprise, team, is_enterprise_install) {
            if let Some(found) = self.by_key(&key.as_stored()).await {
                return Some(found);
            }
        }
        let home_team = self.home.me.team_id.as_deref();
        match team {
            None => Some(self.home.clone()),
            Some(team) if Some(team) == home_team && !is_enterprise_install => {
                Some(self.home.clone())
            }
            Some(_) => None,
        }
    }

    /// The workspace of the installation kept under `key` (an answer's), if it is still
    /// installed.
    pub(crate) async fn by_key(&self, key: &str) -> Option<Workspace> {
        if let Some((at, cached)) = self.cached(key) {
            if at.elapsed() < FRESH_FOR {
                return cached;
            }
        }
        let found = match self.read(key).await {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!(key, error = %e, "the installation could not be read; using the last one known");
                return self.cached(key).and_then(|(_, cached)| cached);
            }
        };
        let workspace = found.map(|installation| self.workspace_of(key, &installation));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(key.to_owned(), (Instant::now(), workspace.clone()));
        workspace
    }

    /// Forgets what is cached for `key` (its token was renewed, or it was uninstalled).
    pub(crate) fn forget(&self, key: &str) {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }

    /// The app was uninstalled from the workspace an event from `team` in `enterprise`
    /// came from, or its bot token revoked (`app_uninstalled`, `tokens_revoked`): its
    /// installation goes, and nothing is sent there any more. True when one was removed.
    pub(crate) async fn uninstalled(
        &self,
        enterprise: Option<&str>,
        team: Option<&str>,
        is_enterprise_install: bool,
    ) -> bool {
        let keys: Vec<InstallationKey> =
            InstallationKey::for_event(enterprise, team, is_enterprise_install);
        let store = Arc::clone(&self.store);
        let removed = tokio::task::spawn_blocking(move || {
            for key in keys {
                if store.installation_delete(&key)? {
                    return Ok(Some(key.as_stored()));
                }
            }
            Ok::<_, StoreError>(None)
        })
        .await;
        match removed {
            Ok(Ok(Some(key))) => {
                self.cache
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&key);
                tracing::info!(key, "uninstalled: the installation is removed");
                true
            }
            Ok(Ok(None)) => false,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "uninstalled, but the installation could not be removed");
                false
            }
            Err(e) => {
                tracing::error!(error = %e, "uninstalled, but the removal died");
                false
            }
        }
    }

    fn cached(&self, key: &str) -> Option<(Instant, Option<Workspace>)> {
        self.cache
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    async fn read(&self, key: &str) -> Result<Option<Installation>, StoreError> {
        let store = Arc::clone(&self.store);
        let stored = key.to_owned();
        tokio::task::spawn_blocking(move || {
            let text = store.installation_record(&stored)?;
            text.map(|text| Installation::from_json(&stored, &text))
                .transpose()
        })
        .await
        .map_err(|e| StoreError::Read {
            detail: format!("the installation lookup died: {e}"),
        })?
    }

    /// A client for the installation's token: the one cached when the token is the same (it
    /// keeps its rate-limit state), a new one when it changed.
    fn workspace_of(&self, key: &str, installation: &Installation) -> Workspace {
        if let Some((_, Some(known))) = self.cached(key) {
            if known.web.has_token(&installation.bot_token) {
                return known;
            }
        }
        Workspace {
            key: Some(key.to_owned()),
            web: self.home.web.with_token(installation.bot_token.clone()),
            me: Arc::new(BotIdentity {
                user_id: installation.bot_user_id.clone(),
                bot_id: installation.bot_id.clone(),
                team_id: installation.team_id.clone(),
            }),
        }
    }
}
