//! The OAuth scopes a bot's listeners need, read off how they were registered, so that
//! `nonstop doctor` can name a missing one before the bot sits waiting for events Slack will
//! never send it.

/// One need: any of `any_of` will do (a message listener is served by whichever history
/// scope matches where it listens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNeed {
    pub any_of: &'static [&'static str],
    /// Which listener needs it, in words.
    pub why: String,
}

impl ScopeNeed {
    /// True when `granted` holds one of the scopes.
    pub fn met_by(&self, granted: &[String]) -> bool {
        self.any_of.iter().any(|s| granted.iter().any(|g| g == s))
    }

    /// `a`, or `one of a, b, c`.
    pub fn describe(&self) -> String {
        match self.any_of {
            [one] => (*one).to_owned(),
            many => format!("one of {}", many.join(", ")),
        }
    }
}

const HISTORY: &[&str] = &[
    "channels:history",
    "groups:history",
    "im:history",
    "mpim:history",
];
const WRITE: &[&str] = &["chat:write"];

/// What a `hears` listener needs: its messages (by where it listens) and the scope to answer.
pub(crate) fn for_hears(pattern: &str, direct_only: bool, mention_only: bool) -> Vec<ScopeNeed> {
    let why = |what: &str| format!("hears {pattern:?}: {what}");
    let read: &'static [&'static str] = if direct_only {
        &["im:history"]
    } else if mention_only {
        &[
            "app_mentions:read",
            "channels:history",
            "groups:history",
            "im:history",
            "mpim:history",
        ]
    } else {
        HISTORY
    };
    vec![
        ScopeNeed {
            any_of: read,
            why: why("message events"),
        },
        ScopeNeed {
            any_of: WRITE,
            why: why("answers (say, reply, post)"),
        },
    ]
}

/// What an `event` listener needs, for the events whose scope is known.
pub(crate) fn for_event(event_type: &str) -> Vec<ScopeNeed> {
    let any_of: &'static [&'static str] = match event_type {
        "app_mention" => &["app_mentions:read"],
        "reaction_added" | "reaction_removed" => &["reactions:read"],
        "member_joined_channel" | "member_left_channel" => &["channels:read", "groups:read"],
        "message" => HISTORY,
        _ => return Vec::new(),
    };
    vec![ScopeNeed {
        any_of,
        why: format!("event {event_type:?}"),
    }]
}

/// What a slash command listener needs.
pub(crate) fn for_command(command: &str) -> Vec<ScopeNeed> {
    vec![ScopeNeed {
        any_of: &["commands"],
        why: format!("command {command:?}"),
    }]
}

/// The needs of `needs` that `granted` does not meet, each once.
pub fn missing<'a>(needs: &'a [ScopeNeed], granted: &[String]) -> Vec<&'a ScopeNeed> {
    let mut missing: Vec<&ScopeNeed> = Vec::new();
    for need in needs {
        if !need.met_by(granted) && !missing.iter().any(|m| m.any_of == need.any_of) {
            missing.push(need);
        }
    }
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(scopes: &[&str]) -> Vec<String> {
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_listener_is_served_by_any_fitting_scope_and_a_missing_one_is_named_once() {
        let mut needs = for_hears("^ping", false, false);
        needs.extend(for_hears("^status", false, false));
        needs.extend(for_command("/ticket"));
        needs.extend(for_event("team_join"));
        let missing_now = missing(&needs, &granted(&["im:history", "chat:write"]));
        assert_eq!(missing_now.len(), 1);
        assert_eq!(missing_now[0].describe(), "commands");
        let none = granted(&[]);
        let all_missing = missing(&needs, &none);
        assert_eq!(
            all_missing.len(),
            3,
            "history, chat:write, commands: {all_missing:?}"
        );
        assert!(all_missing[0]
            .describe()
            .starts_with("one of channels:history"));
        assert!(all_missing[0].why.contains("^ping"));
        // Direct messages only: im:history and nothing else will do.
        let direct = for_hears("hi", true, false);
        assert!(!direct[0].met_by(&granted(&["channels:history"])));
        assert!(direct[0].met_by(&granted(&["im:history"])));
    }
}
