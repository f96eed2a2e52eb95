//! Which workspace an event is for, and its token: the installation the store keeps for the
//! event's team (or its organization), with a Web API client of its own (Slack limits each
//! workspace's token apart). Everything done for an event, its handler's calls and answers
//! included, goes through that client; an event from no installed workspace goes through the
//! bot's own token (`SLACK_BOT_TOKEN`). Lookups are cached briefly (never past the token's
//! expiry, which another replica may have renewed), so a busy workspace costs the store one
//! read in a while; an uninstall forgets at once. A workspace's client asks for a renewal
//! itself when Slack refuses its rotating token, so a handler's own calls survive an expiry
//! as answers do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use nonstop_web::{RenewToken, Secret, WebClient};
use tokio::time::Instant;

use crate::identity::BotIdentity;
use crate::journal::{Installation, InstallationKey, Store, StoreError};

/// How long a lookup is trusted: a reinstall or a new token is seen within this.
const FRESH_FOR: Duration = Duration::from_secs(30);
/// Lookups kept at most; past it the cache starts again.
const CACHED: usize = 10_000;
/// A cached rotating token is read again this long before it expires: a call made with it
/// then still reaches Slack in time.
const BEFORE_EXPIRY: Duration = Duration::from_secs(1);

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
    /// By key: until when the lookup is trusted, and what it found.
    cache: Mutex<HashMap<String, (Instant, Option<Workspace>)>>,
    /// These workspaces, for the renewers their clients carry.
    this: Weak<Workspaces>,
    /// What renews rotating tokens, once it runs (weak: it holds these workspaces).
    rotator: std::sync::OnceLock<std::sync::Weak<dyn Renew>>,
}

/// Renews a workspace's token after a call with it was refused.
pub(crate) trait Renew: Send + Sync {
    /// Renews the token of the installation kept under `key`, unless it holds another than
    /// `refused`'s already.
    fn renew_refused<'a>(
        &'a self,
        key: &'a str,
        refused: &'a WebClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = AfterRefusal> + Send + 'a>>;
}

/// What a renewal after a refusal came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterRefusal {
    /// A new pair is kept (and the bot's own client holds it already).
    Renewed,
    /// Not renewed here: another renewed it, or holds its lock now.
    Skipped,
    Failed,
}

impl std::fmt::Debug for Workspaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Workspaces").finish_non_exhaustive()
    }
}

impl Workspaces {
    pub(crate) fn new(store: Arc<dyn Store>, web: WebClient, me: Arc<BotIdentity>) -> Arc<Self> {
        Arc::new_cyclic(|this| Self {
            store,
            home: Workspace { key: None, web, me },
            cache: Mutex::default(),
            this: this.clone(),
            rotator: std::sync::OnceLock::new(),
        })
    }

    /// What renews the token kept under `key` when Slack refuses a client's: for the bot's
    /// own client when its token rotates (`HOME_KEY`); each workspace's client has its own.
    pub(crate) fn renewer_for(&self, key: &str) -> Arc<dyn RenewToken> {
        Arc::new(RenewOnRefusal {
            workspaces: self.this.clone(),
            key: key.to_owned(),
        })
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
        match rotator.renew_refused(key, refused).await {
            AfterRefusal::Renewed => true,
            // Renewed elsewhere when the kept token is another now.
            AfterRefusal::Skipped => self
                .by_key(key)
                .await
                .is_some_and(|now| !refused.has_token_of(&now.web)),
            AfterRefusal::Failed => false,
        }
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
        if let Some((until, cached)) = self.cached(key) {
            if Instant::now() < until {
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
        let until = Instant::now() + found.as_ref().map_or(FRESH_FOR, trusted_for);
        let workspace = found.map(|installation| self.workspace_of(key, &installation));
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED {
            cache.clear();
        }
        cache.insert(key.to_owned(), (until, workspace.clone()));
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
        let web = self.home.web.with_token(installation.bot_token.clone());
        if installation.bot_refresh_token.is_some() {
            web.renewed_by(self.renewer_for(key));
        }
        Workspace {
            key: Some(key.to_owned()),
            web,
            me: Arc::new(BotIdentity {
                user_id: installation.bot_user_id.clone(),
                bot_id: installation.bot_id.clone(),
                team_id: installation.team_id.clone(),
            }),
        }
    }
}

/// How long a lookup that found `installation` is trusted: [`FRESH_FOR`], and for a rotating
/// token not past shortly before it expires (another process may renew it meanwhile).
fn trusted_for(installation: &Installation) -> Duration {
    installation
        .bot_token_expires_at
        .map_or(FRESH_FOR, |expires| {
            let left = expires
                .duration_since(SystemTime::now())
                .unwrap_or(Duration::ZERO);
            left.saturating_sub(BEFORE_EXPIRY).min(FRESH_FOR)
        })
}

/// A client's renewal when Slack refuses its rotating token: the installation's token
/// renewed (once, whoever asks first, across replicas) and given back to retry with.
struct RenewOnRefusal {
    workspaces: Weak<Workspaces>,
    key: String,
}

impl RenewToken for RenewOnRefusal {
    fn renew<'a>(
        &'a self,
        refused: &'a WebClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Secret>> + Send + 'a>> {
        Box::pin(async move {
            let workspaces = self.workspaces.upgrade()?;
            if !workspaces.renew_now(&self.key, refused).await {
                return None;
            }
            let kept = workspaces.read(&self.key).await.ok().flatten()?;
            Some(kept.bot_token)
        })
    }
}
