//! How two manifests differ, field by field; lists of scopes and events as sets.

use serde_json::Value;

use super::types::Manifest;

/// One field where the manifest derived from the code (`here`) and the installed app's
/// differ; for a list compared as a set, one item only one side has.
#[derive(Debug, Clone, PartialEq)]
pub struct Difference {
    pub pointer: String,
    /// The value the code asks for, if it has one.
    pub here: Option<Value>,
    /// The installed app's value, if it has one.
    pub installed: Option<Value>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |value: &Option<Value>| match value {
            Some(value) => value.to_string(),
            None => "(none)".to_owned(),
        };
        write!(
            f,
            "{}: here {}, installed {}",
            self.pointer,
            show(&self.here),
            show(&self.installed)
        )
    }
}

/// Lists whose order means nothing.
const SETS: &[&str] = &[
    "/oauth_config/scopes/bot",
    "/oauth_config/scopes/user",
    "/settings/event_subscriptions/bot_events",
    "/settings/event_subscriptions/user_events",
];

pub(super) fn differences(here: &Manifest, installed: &Manifest) -> Vec<Difference> {
    let here = serde_json::to_value(here).unwrap_or(Value::Null);
    let installed = serde_json::to_value(installed).unwrap_or(Value::Null);
    let mut found = Vec::new();
    compare("", Some(&here), Some(&installed), &mut found);
    found
}

fn compare(
    pointer: &str,
    here: Option<&Value>,
    installed: Option<&Value>,
    found: &mut Vec<Difference>,
) {
    match (here, installed) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            // Both sides' keys, each once, in order.
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                compare(&format!("{pointer}/{key}"), a.get(key), b.get(key), found);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) if SETS.contains(&pointer) => {
            for item in a.iter().filter(|item| !b.contains(item)) {
                found.push(Difference {
                    pointer: pointer.to_owned(),
                    here: Some(item.clone()),
                    installed: None,
                });
            }
            for item in b.iter().filter(|item| !a.contains(item)) {
                found.push(Difference {
                    pointer: pointer.to_owned(),
                    here: None,
                    installed: Some(item.clone()),
                });
            }
        }
        (a, b) if a != b => found.push(Difference {
            pointer: pointer.to_owned(),
            here: a.cloned(),
            installed: b.cloned(),
        }),
        _ => {}
    }
}
