//! `oauth.v2.access`'s answer read into an [`Installation`]: the bot token (and with
//! rotation its refresh token and expiry), the workspace or organization, the bot user.

use std::time::{Duration, SystemTime};

use nonstop_web::Secret;
use serde_json::Value;

use crate::journal::Installation;

/// The installation an answer describes, or what is missing from it.
pub(crate) fn installation_from(answer: &Value, now: SystemTime) -> Result<Installation, String> {
    let text = |value: &Value, field: &str| {
        value
            .get(field)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let token = text(answer, "access_token").ok_or("the answer has no access_token")?;
    if !(token.starts_with("xoxb-") || token.starts_with("xoxe.xoxb-")) {
        return Err(
            "the answer's access_token is not a bot token (was the bot scope asked for?)"
                .to_owned(),
        );
    }
    let team = answer.get("team").unwrap_or(&Value::Null);
    let enterprise = answer.get("enterprise").unwrap_or(&Value::Null);
    let is_enterprise_install = answer
        .get("is_enterprise_install")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let team_id = text(team, "id");
    let enterprise_id = text(enterprise, "id");
    if team_id.is_none() && !(is_enterprise_install && enterprise_id.is_some()) {
        return Err("the answer names no workspace".to_owned());
    }
    let mut installation = match (is_enterprise_install, &enterprise_id, &team_id) {
        (true, Some(enterprise), _) => Installation::for_enterprise(enterprise, Secret::new(token)),
        (_, _, Some(team)) => Installation::for_team(team, Secret::new(token)),
        _ => return Err("the answer names no workspace".to_owned()),
    };
    installation.app_id = text(answer, "app_id");
    installation.team_id = team_id;
    installation.team_name = text(team, "name");
    installation.enterprise_id = enterprise_id;
    installation.enterprise_name = text(enterprise, "name");
    installation.bot_user_id = text(answer, "bot_user_id");
    installation.bot_scopes = text(answer, "scope")
        .map(|s| s.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    installation.installer_user_id = answer.get("authed_user").and_then(|u| text(u, "id"));
    installation.bot_refresh_token = text(answer, "refresh_token").map(Secret::new);
    installation.bot_token_expires_at = answer
        .get("expires_in")
        .and_then(Value::as_u64)
        .map(|secs| now + Duration::from_secs(secs));
    Ok(installation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::InstallationKey;
    use serde_json::json;

    #[test]
    fn a_workspace_an_organization_and_a_rotating_token_are_read() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let answer = json!({"ok": true, "access_token": "xoxb-1", "team": {"id": "T1", "name": "Acme"},
            "enterprise": null, "is_enterprise_install": false, "bot_user_id": "U0B", "app_id": "A1",
            "scope": "chat:write,commands", "authed_user": {"id": "U9"}});
        let installed = installation_from(&answer, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(installed.key(), InstallationKey::Team("T1".into()));
        assert_eq!(installed.team_name.as_deref(), Some("Acme"));
        assert_eq!(installed.bot_scopes, ["chat:write", "commands"]);
        assert_eq!(installed.installer_user_id.as_deref(), Some("U9"));
        assert!(installed.bot_refresh_token.is_none());

        let org = json!({"access_token": "xoxe.xoxb-1-abc", "team": null, "enterprise": {"id": "E1", "name": "Globex"},
            "is_enterprise_install": true, "refresh_token": "xoxe-1-r", "expires_in": 43200});
        let installed = installation_from(&org, now).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(installed.key(), InstallationKey::Enterprise("E1".into()));
        assert_eq!(
            installed.bot_token_expires_at,
            Some(now + Duration::from_secs(43200))
        );
        assert!(installed.bot_refresh_token.is_some());

        for broken in [
            json!({}),
            json!({"access_token": "xoxp-user"}),
            json!({"access_token": "xoxb-1"}),
        ] {
            assert!(installation_from(&broken, now).is_err(), "{broken}");
        }
    }
}
