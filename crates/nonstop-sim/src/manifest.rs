//! `apps.manifest.validate` and `apps.manifest.export`, with Slack's rules
//! ([`Manifest::problems`]) and the installed app's manifest from the settings.

use axum::response::{IntoResponse, Response};
use axum::Json;
use nonstop_model::manifest::Manifest;
use serde_json::{json, Map, Value};

use crate::reply::{ok, slack_error};
use crate::SimConfig;

pub(crate) fn answer(config: &SimConfig, method: &str, args: &Map<String, Value>) -> Response {
    if method == "apps.manifest.export" {
        if args.get("app_id").and_then(Value::as_str) != Some(config.app_id.as_str()) {
            return slack_error("app_not_found");
        }
        return ok(json!({"manifest": installed(config)}));
    }
    let manifest = match args.get("manifest") {
        Some(Value::String(text)) => serde_json::from_str::<Value>(text).ok(),
        Some(value) => Some(value.clone()),
        None => None,
    };
    let Some(manifest) = manifest else {
        return slack_error("invalid_arguments");
    };
    let problems: Vec<Value> = match serde_json::from_value::<Manifest>(manifest) {
        Ok(manifest) => manifest
            .problems()
            .into_iter()
            .map(|p| json!({"message": p.message, "pointer": p.pointer}))
            .collect(),
        Err(e) => vec![json!({"message": e.to_string(), "pointer": "/"})],
    };
    if problems.is_empty() {
        ok(json!({}))
    } else {
        Json(json!({"ok": false, "error": "invalid_manifest", "errors": problems})).into_response()
    }
}

/// The installed app's manifest: the one the settings give, or one made from them.
fn installed(config: &SimConfig) -> Value {
    if let Some(manifest) = &config.app_manifest {
        return manifest.clone();
    }
    json!({
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {"name": "Simulated app"},
        "features": {"bot_user": {"display_name": "Simulated app", "always_online": true}},
        "oauth_config": {"scopes": {"bot": config.scopes}},
        "settings": {
            "org_deploy_enabled": false,
            "socket_mode_enabled": true,
            "token_rotation_enabled": false,
        },
    })
}
