//! `manifest`: the app manifest this bot's listeners need, as JSON (or YAML), and
//! `--check`: how the installed app's differs.

use nonstop_model::manifest::Manifest;
use serde_json::Value;

use super::error::CliError;
use crate::{App, Config};

pub use crate::doctor::{ENV_APP_ID, ENV_CONFIG_TOKEN};

pub(crate) async fn manifest(
    build: impl FnOnce(Config) -> App,
    yaml: bool,
    check: bool,
) -> Result<(), CliError> {
    // The manifest comes before the app exists: no tokens yet is fine (and the API's
    // address, for `--check`, is still SLACK_API_URL's).
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(_) => {
            let (app, bot) = ("xapp-1-A0MANIFEST-0-placeholder", "xoxb-0-placeholder");
            match std::env::var(crate::config::ENV_API_URL) {
                Ok(url) if !url.trim().is_empty() => Config::for_simulator(url.trim(), app, bot)?,
                _ => Config::new(app, bot)?,
            }
        }
    };
    let api_url = config.api_url.clone();
    let manifest = build(config).manifest();
    if !check {
        let value = serde_json::to_value(&manifest).unwrap_or(Value::Null);
        let text = if yaml {
            to_yaml(&value)
        } else {
            serde_json::to_string_pretty(&value).unwrap_or_default() + "\n"
        };
        print!("{text}");
        return Ok(());
    }
    // Within 30 s (InstalledApp::manifest's own limit).
    let installed = export(&api_url).await?;
    let differences = manifest.differences(&installed);
    for difference in &differences {
        println!("differs {difference}");
    }
    if differences.is_empty() {
        println!("the installed app's manifest is the one these listeners need");
        Ok(())
    } else {
        Err(CliError::Manifest(format!(
            "{} difference(s) from the installed app: paste `manifest` into the app's settings (App Manifest), or change the code",
            differences.len()
        )))
    }
}

/// The installed app's manifest, from `apps.manifest.export`.
async fn export(api_url: &str) -> Result<Manifest, CliError> {
    let Some(installed) = crate::doctor::InstalledApp::from_env() else {
        return Err(CliError::Manifest(format!(
            "--check needs {ENV_CONFIG_TOKEN} (an app configuration token, from api.slack.com/apps → Your App Configuration Tokens) and {ENV_APP_ID} (the app's id)"
        )));
    };
    installed
        .manifest(api_url)
        .await
        .map_err(CliError::Manifest)
}

/// `value` as YAML: block style, strings double-quoted (as JSON writes them, which YAML
/// reads the same).
fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    write_yaml(value, 0, &mut out);
    out
}

fn write_yaml(value: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match value {
        Value::Object(fields) => {
            for (key, item) in fields {
                out.push_str(&format!("{pad}{}:", yaml_key(key)));
                nested(item, indent, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                out.push_str(&format!("{pad}-"));
                nested(item, indent, out);
            }
        }
        scalar => out.push_str(&format!("{pad}{scalar}\n")),
    }
}

/// What follows a key or a dash: a scalar on the same line, a collection below it.
fn nested(item: &Value, indent: usize, out: &mut String) {
    match item {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        Value::Array(list) if !list.is_empty() => {
            out.push('\n');
            write_yaml(item, indent + 2, out);
        }
        Value::Object(_) => out.push_str(" {}\n"),
        Value::Array(_) => out.push_str(" []\n"),
        scalar => out.push_str(&format!(" {scalar}\n")),
    }
}

fn yaml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        key.to_owned()
    } else {
        Value::String(key.to_owned()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_reads_back_as_the_same_json() {
        let value = serde_json::json!({
            "display_information": {"name": "Todo: \"a\" list"},
            "oauth_config": {"scopes": {"bot": ["chat:write", "commands"]}},
            "settings": {"socket_mode_enabled": true, "empty": {}, "none": []},
            "features": {"slash_commands": [{"command": "/todo", "should_escape": false}]},
        });
        let yaml = to_yaml(&value);
        assert!(yaml.contains("  bot:\n      - \"chat:write\"\n"), "{yaml}");
        assert!(
            yaml.contains("  slash_commands:\n    -\n      command: \"/todo\"\n"),
            "{yaml}"
        );
        assert!(yaml.contains("socket_mode_enabled: true\n"), "{yaml}");
    }
}
