//! Installing the app in other workspaces: Slack's OAuth v2 flow, served beside the HTTP
//! receiver. The install page starts it with a `state` (signed, expiring, single-use, and
//! bound to the browser by a cookie: `state.rs`); Slack's redirect brings a `code` back, which
//! `oauth.v2.access` exchanges for the workspace's bot token (`access.rs`); the installation is
//! kept by the store's installation role. Whatever goes wrong is said to the person
//! installing in words, and to the operator in the log; no secret reaches either.

mod access;
mod rotation;
mod state;
mod workspaces;

pub(crate) use rotation::{home_pair, Rotator, HOME_KEY};
pub(crate) use workspaces::Workspaces;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use nonstop_web::{OAuthGrant, WebClient};
use tracing::{error, info, warn};

use crate::config::OAuthSettings;
use crate::html::escape;
use crate::journal::{Installation, Store};
use state::{StateRefused, StateSigner};

/// What the install routes share.
pub(crate) struct Installer {
    settings: OAuthSettings,
    store: Arc<dyn Store>,
    web: WebClient,
    /// Slack's authorize page, and the bot scopes asked for.
    authorize_url: String,
    scopes: Vec<String>,
    /// The redirect URL given to Slack (the public root and the redirect path), when the
    /// public root is known; else Slack uses the one in the app's settings.
    redirect_uri: Option<String>,
    signer: StateSigner,
}

impl std::fmt::Debug for Installer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Installer")
            .field("authorize_url", &self.authorize_url)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

impl Installer {
    pub(crate) fn new(
        settings: OAuthSettings,
        store: Arc<dyn Store>,
        web: WebClient,
        api_url: &str,
        public_url: Option<&str>,
        scopes: Vec<String>,
    ) -> Self {
        // Slack's pages live beside its API: https://slack.com/api/ → https://slack.com/.
        let root = api_url
            .trim_end_matches('/')
            .trim_end_matches("/api")
            .to_owned();
        Self {
            signer: StateSigner::new(&settings.client_secret, settings.state_ttl),
            redirect_uri: public_url.map(|root| format!("{root}{}", settings.redirect_path)),
            authorize_url: format!("{root}/oauth/v2/authorize"),
            settings,
            store,
            web,
            scopes,
        }
    }

    /// The install page and Slack's redirect.
    pub(crate) fn routes(self: &Arc<Self>) -> Router {
        Router::new()
            .route(&self.settings.install_path, get(install))
            .route(&self.settings.redirect_path, get(redirect))
            .with_state(Arc::clone(self))
    }

    /// A store call off the async workers (SQLite and Redis block).
    async fn store<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn Store) -> Result<T, crate::journal::StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let store = Arc::clone(&self.store);
        match tokio::task::spawn_blocking(move || call(store.as_ref())).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the store's call died: {e}")),
        }
    }

    fn authorize_link(&self, state: &str) -> String {
        let mut query = vec![
            ("client_id", self.settings.client_id.clone()),
            ("scope", self.scopes.join(",")),
            ("state", state.to_owned()),
        ];
        if let Some(uri) = &self.redirect_uri {
            query.push(("redirect_uri", uri.clone()));
        }
        let query = query_string(&query);
        format!("{}?{query}", self.authorize_url)
    }

    fn cookie(&self, nonce: &str, max_age: u64) -> String {
        let secure = self
            .redirect_uri
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        format!(
            "{}={nonce}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Lax{}",
            state::COOKIE,
            if secure { "; Secure" } else { "" }
        )
    }
}

/// `application/x-www-form-urlencoded` pairs (what a query string is).
fn query_string(pairs: &[(&str, String)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        query.append_pair(name, value);
    }
    query.finish()
}

/// The install page: a link to Slack's authorize page with a fresh state, and the cookie that
/// binds the state to this browser.
async fn install(State(installer): State<Arc<Installer>>) -> Response {
    let now = SystemTime::now();
    let Some(issued) = installer.signer.issue(now) else {
        error!("install page: the system gave no randomness for a state");
        return page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Not available",
            "The install could not start. Try again in a moment.",
        );
    };
    let (nonce, expires_at) = (issued.nonce.clone(), issued.expires_at);
    let kept = installer
        .store(move |store| store.oauth_state_issue(&nonce, expires_at))
        .await;
    if let Err(e) = kept {
        error!(error = %e, "install page: the state could not be kept; the install cannot start");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not available",
            "The install could not start. Try again in a moment.",
        );
    }
    let link = installer.authorize_link(&issued.state);
    let body = format!(
        r#"<p><a href="{}">Add to Slack</a></p><p>The link works once, in this browser, for {} minutes.</p>"#,
        escape(&link),
        installer.settings.state_ttl.as_secs() / 60
    );
    let mut response = page(StatusCode::OK, "Install", &body);
    let cookie = installer.cookie(&issued.nonce, installer.settings.state_ttl.as_secs());
    if let Ok(value) = header::HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// Slack's redirect: the state checked, the code exchanged, the installation kept.
async fn redirect(
    State(installer): State<Arc<Installer>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(error) = query.get("error") {
        let words = match error.as_str() {
            "access_denied" => {
                "The install was cancelled: nothing was added to your workspace.".to_owned()
            }
            other => format!("Slack did not install the app ({}).", escape(other)),
        };
        return page(StatusCode::OK, "Not installed", &words);
    }
    let Some(code) = query
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 256)
    else {
        return page(StatusCode::BAD_REQUEST, "Not installed", "This page is where Slack sends you after an install; start from the app's install page.");
    };
    let stateless = match query.get("state").filter(|s| !s.is_empty()) {
        Some(state) => {
            if let Err(words) = checked_state(&installer, state, &headers).await {
                return page(StatusCode::BAD_REQUEST, "Not installed", words);
            }
            false
        }
        None if installer.settings.org_admin_installs => true,
        None => {
            warn!("install redirect without a state refused (set NONSTOP_OAUTH_ORG_ADMIN_INSTALLS=1 to take org-wide installs from an admin's page)");
            return page(
                StatusCode::BAD_REQUEST,
                "Not installed",
                "This install link is incomplete. Start again from the app's install page.",
            );
        }
    };
    exchange(&installer, code, stateless).await
}

/// The state's signature and expiry, the browser's cookie, and the store's single use.
async fn checked_state(
    installer: &Installer,
    state: &str,
    headers: &HeaderMap,
) -> Result<(), &'static str> {
    let nonce = installer
        .signer
        .check(state, SystemTime::now())
        .map_err(StateRefused::words)?;
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| state::nonce_in_cookies(v).map(str::to_owned));
    if cookie.as_deref() != Some(nonce.as_str()) {
        return Err("This install was started in another browser (or its cookie is gone). Start again from the app's install page, in this browser.");
    }
    let consumed = installer
        .store(move |store| store.oauth_state_consume(&nonce, SystemTime::now()))
        .await;
    match consumed {
        Ok(true) => Ok(()),
        Ok(false) => {
            Err("This install link was used already. Start again from the app's install page.")
        }
        Err(e) => {
            error!(error = %e, "install redirect: the state could not be checked in the store");
            Err("The install could not be checked. Try again in a moment.")
        }
    }
}

/// `oauth.v2.access`, then the installation kept (org-wide only, when there was no state).
async fn exchange(installer: &Installer, code: &str, stateless: bool) -> Response {
    let grant = OAuthGrant::Code {
        code,
        redirect_uri: installer.redirect_uri.as_deref(),
    };
    let settings = &installer.settings;
    let answer = installer
        .web
        .oauth_v2_access(&settings.client_id, &settings.client_secret, grant)
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(e) => {
            warn!(error = %e, "install: oauth.v2.access refused the code");
            let words = match e.code() {
                Some("invalid_code" | "code_already_used" | "code_expired") => "This install link was used already or expired. Start again from the app's install page.",
                Some("bad_client_secret" | "invalid_client_id" | "bad_redirect_uri") => "The app is not set up right for installs; its owner has been told (in the bot's log).",
                _ => "Slack could not complete the install. Try again in a moment.",
            };
            return page(StatusCode::BAD_GATEWAY, "Not installed", words);
        }
    };
    let installation = match access::installation_from(&answer, SystemTime::now()) {
        Ok(installation) => installation,
        Err(detail) => {
            error!(
                detail,
                "install: oauth.v2.access answered in a shape nonstop cannot read"
            );
            return page(
                StatusCode::BAD_GATEWAY,
                "Not installed",
                "Slack's answer could not be read. Try again in a moment.",
            );
        }
    };
    if stateless && !installation.is_enterprise_install {
        // Only an org admin's page comes without a state, and its installs are org-wide.
        let _ = installer
            .web
            .with_token(installation.bot_token.clone())
            .call("auth.revoke", &serde_json::json!({}))
            .await;
        warn!(key = ?installation.key(), "install without a state that is not org-wide: refused, its token revoked");
        return page(
            StatusCode::BAD_REQUEST,
            "Not installed",
            "This install link is incomplete. Start again from the app's install page.",
        );
    }
    save(installer, installation).await
}

async fn save(installer: &Installer, installation: Installation) -> Response {
    let key = installation.key();
    let name = installation
        .team_name
        .clone()
        .or_else(|| installation.enterprise_name.clone())
        .unwrap_or_else(|| "your workspace".to_owned());
    let deep_link = match (&installation.team_id, &installation.app_id) {
        (Some(team), Some(app)) => Some(format!("slack://app?team={team}&id={app}")),
        _ => None,
    };
    let kept = installer
        .store(move |store| store.installation_save(&installation))
        .await;
    if let Err(e) = kept {
        error!(error = %e, ?key, "install: the installation could not be kept");
        return page(
            StatusCode::SERVICE_UNAVAILABLE,
            "Not installed",
            "The install could not be saved. Try again in a moment.",
        );
    }
    info!(?key, "installed");
    let open = deep_link.map_or_else(String::new, |link| {
        format!(r#" <a href="{}">Open Slack</a>."#, escape(&link))
    });
    let mut response = page(
        StatusCode::OK,
        "Installed",
        &format!("The app is installed in {}.{open}", escape(&name)),
    );
    // The state is used: its cookie goes too.
    let cleared = installer.cookie("", 0);
    if let Ok(value) = header::HeaderValue::from_str(&cleared) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A small page; `body` is HTML already escaped where it holds outside text.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{body}</p></body></html>"
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}
