//! Slack's OAuth v2 install, simulated: `GET /oauth/v2/authorize` stands for the page where a
//! person approves the app (it approves at once and redirects back with a `code`, or with
//! `error=access_denied` given `deny=1`), and the `oauth.v2.access` method exchanges the code
//! for a bot token of that workspace. Tokens issued here are taken by the Web API like the
//! configured one. The simulator's own parameters: `team` and `team_name` (which workspace
//! installs, default the simulator's), `enterprise` (an org-wide install of that
//! organization), `deny=1`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::state::Grant;
use crate::AppState;

/// `GET /oauth/v2/authorize`: the person approves; back to `redirect_uri` with a code.
pub(crate) async fn authorize(
    State(app): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let config = &app.shared.config;
    // Without redirect_uri Slack uses the app's redirect URL; the simulated app's is beside its
    // request URL, at Bolt's path.
    let redirect = query
        .get("redirect_uri")
        .cloned()
        .or_else(|| app_redirect_url(&app));
    let Some(redirect) = redirect.filter(|u| u.starts_with("http")) else {
        return (
            StatusCode::BAD_REQUEST,
            "no redirect_uri on the authorize URL, and the simulated app has no request URL to put its redirect beside",
        )
            .into_response();
    };
    if query.get("client_id") != Some(&config.client_id) {
        return (StatusCode::BAD_REQUEST, "invalid_client_id").into_response();
    }
    let state = query.get("state").cloned().unwrap_or_default();
    let mut back = Vec::new();
    if query.get("deny").is_some_and(|d| d == "1") {
        back.push(("error", "access_denied".to_owned()));
    } else {
        let enterprise = query.get("enterprise").cloned();
        let grant = Grant {
            team_id: match &enterprise {
                Some(_) => None,
                None => Some(
                    query
                        .get("team")
                        .cloned()
                        .unwrap_or_else(|| config.team_id.clone()),
                ),
            },
            team_name: query
                .get("team_name")
                .cloned()
                .unwrap_or_else(|| "Simulated Workspace".to_owned()),
            enterprise_id: enterprise,
            scopes: query.get("scope").cloned().unwrap_or_default(),
        };
        let code = format!("{:08x}.sim-code", app.shared.next_id());
        app.shared.lock().oauth_codes.insert(code.clone(), grant);
        back.push(("code", code));
    }
    if !state.is_empty() {
        back.push(("state", state));
    }
    let query = serde_urlencoded::to_string(&back).unwrap_or_default();
    let separator = if redirect.contains('?') { '&' } else { '?' };
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("{redirect}{separator}{query}"))],
    )
        .into_response()
}

/// The simulated app's redirect URL: its request URL's origin and `/slack/oauth_redirect`.
fn app_redirect_url(app: &AppState) -> Option<String> {
    let url = app.shared.lock().request_url.clone()?;
    let after_scheme = url.find("://")? + 3;
    let origin_end = url[after_scheme..]
        .find('/')
        .map_or(url.len(), |i| after_scheme + i);
    Some(format!("{}/slack/oauth_redirect", &url[..origin_end]))
}

/// `oauth.v2.access`: a code approved here for its workspace's tokens; once.
pub(crate) fn access(app: &AppState, args: &serde_json::Map<String, Value>) -> Value {
    let config = &app.shared.config;
    let arg = |name: &str| args.get(name).and_then(Value::as_str).unwrap_or_default();
    if arg("client_id") != config.client_id {
        return json!({"ok": false, "error": "invalid_client_id"});
    }
    if arg("client_secret") != config.client_secret {
        return json!({"ok": false, "error": "bad_client_secret"});
    }
    let mut inner = app.shared.lock();
    let Some(grant) = inner.oauth_codes.remove(arg("code")) else {
        return json!({"ok": false, "error": "invalid_code"});
    };
    let owner = grant
        .team_id
        .clone()
        .or_else(|| grant.enterprise_id.clone())
        .unwrap_or_default();
    let token = format!(
        "xoxb-{owner}-{:08x}-simulatedinstalltoken",
        app.shared.next_id()
    );
    inner.issued_tokens.insert(token.clone(), owner);
    json!({
        "ok": true,
        "app_id": config.app_id,
        "authed_user": {"id": "U0INSTALLER"},
        "scope": if grant.scopes.is_empty() { config.scopes.join(",") } else { grant.scopes.clone() },
        "token_type": "bot",
        "access_token": token,
        "bot_user_id": config.bot_user_id,
        "team": grant.team_id.as_ref().map(|id| json!({"id": id, "name": grant.team_name})),
        "enterprise": grant.enterprise_id.as_ref().map(|id| json!({"id": id, "name": "Simulated Org"})),
        "is_enterprise_install": grant.enterprise_id.is_some(),
    })
}
