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
    let url = app.shared.lock().request_url.first()?;
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
    if arg("grant_type") == "refresh_token" {
        return refresh(app, arg("refresh_token"));
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
    let (token, rotating) = issue(app, &mut inner, &owner);
    let mut answer = json!({
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
    });
    add_rotation(&mut answer, rotating);
    answer
}

/// A rotating pair: its refresh token and lifetime.
type Rotating = Option<(String, u64)>;

/// A bot token for `owner`: rotating (with a refresh token) when the simulator rotates.
fn issue(app: &AppState, inner: &mut crate::state::Inner, owner: &str) -> (String, Rotating) {
    let n = app.shared.next_id();
    let Some(lifetime) = app.shared.config.token_rotation else {
        let token = format!("xoxb-{owner}-{n:08x}-simulatedinstalltoken");
        inner.issued_tokens.insert(token.clone(), owner.to_owned());
        return (token, None);
    };
    let token = format!("xoxe.xoxb-{owner}-{n:08x}-simulatedrotatingtoken");
    let refresh = format!("xoxe-1-{owner}-{n:08x}-simulatedrefreshtoken");
    inner.issued_tokens.insert(token.clone(), owner.to_owned());
    inner
        .token_expiry
        .insert(token.clone(), tokio::time::Instant::now() + lifetime);
    inner.refresh_tokens.insert(
        refresh.clone(),
        crate::state::Refresh {
            team: owner.to_owned(),
            successor: None,
            spent: false,
        },
    );
    (token, Some((refresh, lifetime.as_secs().max(1))))
}

fn add_rotation(answer: &mut Value, rotating: Rotating) {
    if let Some((refresh, expires_in)) = rotating {
        answer["refresh_token"] = json!(refresh);
        answer["expires_in"] = json!(expires_in);
    }
}

/// `grant_type=refresh_token`: a new pair as Slack makes it. The refresh token stays good
/// until the pair made from it is used (so a caller whose answer was lost can ask again);
/// asked again, it makes another pair, and the one made before dies (what two refreshes at
/// once do to each other).
fn refresh(app: &AppState, refresh_token: &str) -> Value {
    let mut inner = app.shared.lock();
    let Some(known) = inner.refresh_tokens.get(refresh_token).cloned() else {
        return json!({"ok": false, "error": "invalid_refresh_token"});
    };
    if known.spent {
        return json!({"ok": false, "error": "invalid_refresh_token"});
    }
    if let Some((dead_refresh, dead_token)) = &known.successor {
        inner.refresh_tokens.remove(dead_refresh);
        inner.issued_tokens.remove(dead_token);
    }
    // Using this one spends the one it was made from.
    let spent: Vec<String> = inner
        .refresh_tokens
        .iter()
        .filter(|(_, r)| {
            r.successor
                .as_ref()
                .is_some_and(|(next, _)| next == refresh_token)
        })
        .map(|(token, _)| token.clone())
        .collect();
    for token in spent {
        if let Some(r) = inner.refresh_tokens.get_mut(&token) {
            r.spent = true;
        }
    }
    let (token, rotating) = issue(app, &mut inner, &known.team);
    if let (Some(r), Some((next, _))) = (inner.refresh_tokens.get_mut(refresh_token), &rotating) {
        r.successor = Some((next.clone(), token.clone()));
    }
    inner.stats.token_refreshes += 1;
    drop(inner);
    app.shared.notify();
    let mut answer = json!({"ok": true, "token_type": "bot", "access_token": token, "app_id": app.shared.config.app_id});
    add_rotation(&mut answer, rotating);
    answer
}
