//! Rotating tokens renewed before they expire: a timer looks for installations whose bot
//! token expires within the margin, and renews each under a lock in the store, so that one
//! process at a time does it (two refreshes of one token make two pairs, and one of them is
//! dead: node-slack-sdk issue 2504). The new pair is written (compare-and-set on the
//! installation as read) before anything uses it; a refresh whose answer was lost is asked
//! again with the same refresh token, which Slack takes until the new pair is used. A
//! refresh Slack refuses for good is said with the fix.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nonstop_web::{OAuthGrant, WebClient, WebError};
use tokio::sync::watch;
use tracing::{error, info, warn};

use super::workspaces::AfterRefusal;
use super::Workspaces;
use crate::config::OAuthSettings;
#[cfg(test)]
use crate::journal::InstallationKey;
use crate::journal::{Installation, Store, StoreError};

/// How long one process holds an installation's lock for a refresh.
const LOCK_FOR: Duration = Duration::from_secs(120);
/// Tries of one refresh whose answer was lost or failed on the way, before the next round.
const TRIES: u32 = 5;

/// What renews tokens.
pub(crate) struct Rotator {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) web: WebClient,
    pub(crate) settings: OAuthSettings,
    pub(crate) workspaces: Arc<Workspaces>,
    /// This process's name on the locks it takes.
    pub(crate) holder: String,
    /// With a rotating token of the bot's own (`SLACK_REFRESH_TOKEN`): the bot's client,
    /// which takes each renewed token at once.
    pub(crate) home: Option<WebClient>,
}

/// Where the bot's own rotating pair is kept (not a workspace's installation: no event
/// resolves to it; the bot's own client carries it).
pub(crate) const HOME_KEY: &str = "bot:home";

/// Why a token is renewed: it expires within the margin, or a call with this client's
/// token was refused.
#[derive(Clone, Copy)]
enum Why<'a> {
    Due,
    Refused(&'a WebClient),
}

/// How one renewal ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Renewal {
    /// A new pair is stored.
    Done,
    /// Not needed any more (renewed by another process), or another process holds the lock.
    Skipped,
    /// Slack refused for good, or the store failed: said in the log.
    Failed(String),
}

impl Rotator {
    /// Renews what is due every `rotation_check`, until `stop`.
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(self.settings.rotation_check);
        loop {
            tokio::select! {
                _ = tick.tick() => self.renew_due().await,
                _ = stop.changed() => return,
            }
        }
    }

    /// Renews every installation whose token expires within the margin.
    pub(crate) async fn renew_due(&self) {
        // By the key each is kept under: the bot's own pair is one of them (`HOME_KEY`).
        let kept = self
            .read(|store| {
                let mut kept = Vec::new();
                for key in store.installation_keys(100_000)? {
                    if let Some(text) = store.installation_record(&key)? {
                        kept.push((key.clone(), Installation::from_json(&key, &text)?));
                    }
                }
                Ok(kept)
            })
            .await;
        let due = match kept {
            Ok(kept) => kept
                .into_iter()
                .filter(|(_, i)| self.is_due(i))
                .map(|(key, _)| key)
                .collect::<Vec<_>>(),
            Err(e) => {
                warn!(error = %e, "token rotation: installations could not be read; trying again at the next check");
                return;
            }
        };
        for key in due {
            self.renew_stored(&key, Why::Due).await;
        }
    }

    fn is_due(&self, installation: &Installation) -> bool {
        let (Some(_), Some(expires)) = (
            &installation.bot_refresh_token,
            installation.bot_token_expires_at,
        ) else {
            return false;
        };
        expires
            .duration_since(SystemTime::now())
            .map_or(true, |left| left <= self.settings.rotation_margin)
    }

    /// Renews the token of the installation under `key`, if still due, under its lock.
    #[cfg(test)]
    pub(crate) async fn renew(&self, key: &InstallationKey) -> Renewal {
        self.renew_stored(&key.as_stored(), Why::Due).await
    }

    async fn renew_stored(&self, stored: &str, why: Why<'_>) -> Renewal {
        let lock = format!("refresh:{stored}");
        let (name, holder) = (lock.clone(), self.holder.clone());
        let until = SystemTime::now() + LOCK_FOR;
        match self
            .read(move |store| store.installation_lock(&name, &holder, until))
            .await
        {
            Ok(true) => {}
            Ok(false) => return Renewal::Skipped,
            Err(e) => return self.failed(stored, format!("its lock could not be taken: {e}")),
        }
        let renewed = self.renew_locked(stored, why).await;
        let (name, holder) = (lock, self.holder.clone());
        let _ = self
            .read(move |store| store.installation_unlock(&name, &holder))
            .await;
        self.workspaces.forget(stored);
        renewed
    }

    async fn renew_locked(&self, stored: &str, why: Why<'_>) -> Renewal {
        let key = stored;
        let stored = stored.to_owned();
        let read = stored.clone();
        let text = match self
            .read(move |store| store.installation_record(&read))
            .await
        {
            Ok(Some(text)) => text,
            Ok(None) => return Renewal::Skipped,
            Err(e) => return self.failed(key, format!("it could not be read: {e}")),
        };
        let installation = match Installation::from_json(&stored, &text) {
            Ok(installation) => installation,
            Err(e) => return self.failed(key, e.to_string()),
        };
        // Another process renewed it while this one waited for the lock.
        let needed = match why {
            Why::Due => self.is_due(&installation),
            Why::Refused(refused) => refused.has_token(&installation.bot_token),
        };
        if !needed {
            return Renewal::Skipped;
        }
        let Some(refresh_token) = installation.bot_refresh_token.clone() else {
            return match why {
                Why::Due => Renewal::Skipped,
                Why::Refused(_) => self.failed(key, "Slack refused its token, which does not rotate (revoked, or the app was removed): the app must be installed in that workspace again (its install page)".to_owned()),
            };
        };
        let answer = match self.refresh(key, &refresh_token).await {
            Ok(answer) => answer,
            Err(e) => return self.failed(key, format!("Slack refused the refresh: {e}; the app must be installed in that workspace again (its install page)")),
        };
        let mut next = installation.clone();
        match renewed_pair(&answer, SystemTime::now()) {
            Some((token, refresh, expires)) => {
                next.bot_token = token;
                next.bot_refresh_token = Some(refresh);
                next.bot_token_expires_at = Some(expires);
            }
            None => return self.failed(key, "Slack's answer had no new pair".to_owned()),
        }
        let (new_text, expected) = (next.to_json(), text);
        let write = stored.clone();
        match self
            .read(move |store| store.installation_write(&write, Some(Some(&expected)), Some(&new_text)))
            .await
        {
            Ok(true) => {
                info!(key = stored, "rotating token renewed");
                if stored == HOME_KEY {
                    if let Some(home) = &self.home {
                        home.set_token(next.bot_token.clone());
                    }
                }
                Renewal::Done
            }
            // Changed under the lock: a reinstall, whose pair is newer still.
            Ok(false) => Renewal::Skipped,
            Err(e) => self.failed(key, format!("the new pair could not be stored: {e} (the old refresh token still works until the new pair is used; the next check asks again)")),
        }
    }

    /// `oauth.v2.access` with the refresh token, asked again when the answer was lost or
    /// the call failed on the way: Slack takes the same refresh token until its new pair is
    /// used, and nothing used the pair whose answer was lost.
    async fn refresh(
        &self,
        key: &str,
        refresh_token: &nonstop_web::Secret,
    ) -> Result<serde_json::Value, WebError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let grant = OAuthGrant::Refresh { refresh_token };
            let answered = self
                .web
                .oauth_v2_access(
                    &self.settings.client_id,
                    &self.settings.client_secret,
                    grant,
                )
                .await;
            match answered {
                Err(e) if tries < TRIES && (e.is_transient() || e.may_have_reached_slack()) => {
                    warn!(key, error = %e, "token refresh failed on the way or its answer was lost; asking again with the same refresh token");
                    tokio::time::sleep(Duration::from_millis(200 * u64::from(tries))).await;
                }
                answered => return answered,
            }
        }
    }

    fn failed(&self, key: &str, why: String) -> Renewal {
        error!(key, why, "rotating token not renewed");
        Renewal::Failed(why)
    }

    async fn read<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || call(store.as_ref()))
            .await
            .map_err(|e| StoreError::Read {
                detail: format!("the store's call died: {e}"),
            })?
    }
}

impl super::workspaces::Renew for Rotator {
    fn renew_refused<'a>(
        &'a self,
        key: &'a str,
        refused: &'a WebClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = AfterRefusal> + Send + 'a>> {
        Box::pin(async move {
            match self.renew_stored(key, Why::Refused(refused)).await {
                Renewal::Done => AfterRefusal::Renewed,
                Renewal::Skipped => AfterRefusal::Skipped,
                Renewal::Failed(_) => AfterRefusal::Failed,
            }
        })
    }
}

/// At start, with a rotating bot token of the bot's own: the pair to use. The store's when it
/// grew from the same `SLACK_REFRESH_TOKEN` (after the first renewal the settings' pair is
/// spent), else the settings' (kept now); renewed before anything uses it when it expires
/// within the margin. Sets `rotator.home`'s token to it.
pub(crate) async fn home_pair(
    rotator: &Rotator,
    bot_token: &nonstop_web::Secret,
    refresh_token: &nonstop_web::Secret,
) -> Result<(), String> {
    let seed = crate::hex::encode(
        ring::digest::digest(&ring::digest::SHA256, refresh_token.expose().as_bytes()).as_ref(),
    );
    let (token, refresh) = (bot_token.clone(), refresh_token.clone());
    let kept = rotator
        .read(move |store| {
            let kept = store
                .installation_record(HOME_KEY)?
                .map(|text| Installation::from_json(HOME_KEY, &text))
                .transpose()?;
            // Kept from the same settings: the store's pair is the current one. A new refresh
            // token in the settings (the app reinstalled) starts the pair again from them.
            match kept {
                Some(kept) if kept.seed.as_deref() == Some(seed.as_str()) => Ok(kept),
                _ => {
                    // New settings (or none kept): the pair starts from them, due at once, as
                    // its expiry is not known.
                    let mut home = Installation::for_team("", token);
                    home.team_id = None;
                    home.bot_refresh_token = Some(refresh);
                    home.bot_token_expires_at = Some(SystemTime::now());
                    home.seed = Some(seed);
                    store.installation_write(HOME_KEY, None, Some(&home.to_json()))?;
                    Ok(home)
                }
            }
        })
        .await
        .map_err(|e| format!("the bot's token pair could not be read or kept: {e}"))?;
    if let Some(home) = &rotator.home {
        home.set_token(kept.bot_token.clone());
    }
    if rotator.is_due(&kept) {
        if let Renewal::Failed(why) = rotator.renew_stored(HOME_KEY, Why::Due).await {
            let still_valid = kept
                .bot_token_expires_at
                .is_some_and(|at| at > SystemTime::now());
            if !still_valid {
                return Err(why);
            }
        }
    }
    Ok(())
}

/// The new pair in a refresh's answer: the token, the refresh token, when it expires.
fn renewed_pair(
    answer: &serde_json::Value,
    now: SystemTime,
) -> Option<(nonstop_web::Secret, nonstop_web::Secret, SystemTime)> {
    let text = |field: &str| answer.get(field).and_then(serde_json::Value::as_str);
    let token = text("access_token").filter(|t| !t.is_empty())?;
    let refresh = text("refresh_token").filter(|t| !t.is_empty())?;
    let expires_in = answer
        .get("expires_in")
        .and_then(serde_json::Value::as_u64)?;
    Some((
        nonstop_web::Secret::new(token),
        nonstop_web::Secret::new(refresh),
        now + Duration::from_secs(expires_in),
    ))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::identity::BotIdentity;
    use crate::journal::{InstallationStore, MemoryStore};
    use nonstop_sim::{Sim, SimConfig};

    /// An install of `team` against `sim` with a rotating token, kept in `store`.
    async fn installed(sim: &Sim, store: &dyn Store, web: &WebClient, team: &str) {
        let config = sim.config();
        let code = sim.approve_install(team);
        let secret = nonstop_web::Secret::new(config.client_secret.clone());
        let grant = OAuthGrant::Code {
            code: &code,
            redirect_uri: None,
        };
        let answer = web
            .oauth_v2_access(&config.client_id, &secret, grant)
            .await
            .unwrap();
        let mut installation =
            super::super::access::installation_from(&answer, SystemTime::now()).unwrap();
        // Due: it expires within the margin (its renewal, living an hour, is not).
        installation.bot_token_expires_at = Some(SystemTime::now() + Duration::from_secs(60));
        store.installation_save(&installation).unwrap();
    }

    /// A simulator rotating tokens hourly, and Acme installed in a store of its own.
    async fn acme_installed() -> (Sim, WebClient, Arc<MemoryStore>, InstallationKey) {
        let sim = Sim::start(SimConfig {
            token_rotation: Some(Duration::from_secs(3600)),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let web = WebClient::new(&sim.api_url(), None, Duration::from_secs(10)).unwrap();
        let store = Arc::new(MemoryStore::new());
        installed(&sim, store.as_ref(), &web, "T0ACME").await;
        (sim, web, store, InstallationKey::Team("T0ACME".into()))
    }

    fn rotator(sim: &Sim, store: &Arc<MemoryStore>, web: &WebClient, holder: &str) -> Rotator {
        let config = sim.config();
        let mut settings = OAuthSettings::new(
            config.client_id.clone(),
            nonstop_web::Secret::new(config.client_secret.clone()),
        );
        settings.rotation_margin = Duration::from_secs(1800);
        let store: Arc<dyn Store> = store.clone();
        Rotator {
            workspaces: Workspaces::new(
                Arc::clone(&store),
                web.clone(),
                Arc::new(BotIdentity::default()),
            ),
            store,
            web: web.clone(),
            settings,
            holder: holder.to_owned(),
            home: None,
        }
    }

    /// Two processes (two holders of one store) renew one token at once: one refresh
    /// reaches Slack, the other finds the lock held (or, coming after, the token renewed),
    /// and the pair kept is the live one.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_renewals_at_once_make_one_refresh_and_keep_the_live_pair() {
        let (sim, web, store, key) = acme_installed().await;
        let (a, b) = (
            rotator(&sim, &store, &web, "a"),
            rotator(&sim, &store, &web, "b"),
        );
        let (first, second) = tokio::join!(a.renew(&key), b.renew(&key));
        let mut outcomes = [first, second];
        outcomes.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(outcomes, [Renewal::Done, Renewal::Skipped]);
        assert_eq!(sim.stats().token_refreshes, 1, "one refresh reached Slack");
        let kept = store.installation_get(&key).unwrap().unwrap();
        let works: serde_json::Value = web
            .with_token(kept.bot_token.clone())
            .call("auth.test", &serde_json::json!({}))
            .await
            .unwrap();
        assert_eq!(works["team_id"], "T0ACME", "the kept token is the live one");
        // Due again later, it is renewed from the kept refresh token.
        let mut due = kept;
        due.bot_token_expires_at = Some(SystemTime::now() + Duration::from_secs(60));
        store.installation_save(&due).unwrap();
        assert_eq!(a.renew(&key).await, Renewal::Done);
        assert_eq!(sim.stats().token_refreshes, 2);
    }

    /// A refresh token Slack no longer takes: said, and the installation left as it was.
    #[tokio::test]
    async fn a_refused_refresh_is_named_with_the_fix() {
        let (sim, web, store, key) = acme_installed().await;
        sim.inject(nonstop_sim::Fault::FailMethod {
            method: "oauth.v2.access".into(),
            count: 1,
            status: 200,
            code: Some("invalid_refresh_token".into()),
        });
        let before = store.installation_get(&key).unwrap().unwrap();
        let Renewal::Failed(why) = rotator(&sim, &store, &web, "a").renew(&key).await else {
            panic!("not refused");
        };
        assert!(
            why.contains("invalid_refresh_token")
                && why.contains("installed in that workspace again"),
            "{why}"
        );
        assert!(!why.contains(&sim.config().client_secret), "{why}");
        assert_eq!(store.installation_get(&key).unwrap().unwrap(), before);
    }
}
