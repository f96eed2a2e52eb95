//! The OAuth scopes and bot events a bot's listeners need, read off how they were
//! registered: one table for `doctor` (which names a missing scope before the bot sits
//! waiting for events Slack will never send it) and for the app manifest (which asks for
//! them).

/// One need: any of `any_of` will do (a message listener is served by whichever history
/// scope matches where it listens); a manifest asks for `request` and subscribes to
/// `events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeNeed {
    /// Scopes of which one is enough; none for an event that needs no scope.
    pub any_of: &'static [&'static str],
    /// The scopes a manifest asks for to meet it (all the places a listener hears).
    pub request: &'static [&'static str],
    /// The bot events a manifest subscribes to for it.
    pub events: &'static [&'static str],
    /// Which listener needs it, in words.
    pub why: String,
}

impl ScopeNeed {
    /// True when `granted` holds one of the scopes (or none is needed).
    pub fn met_by(&self, granted: &[String]) -> bool {
        self.any_of.is_empty() || self.any_of.iter().any(|s| granted.iter().any(|g| g == s))
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
/// The message events of every place a bot can be.
const MESSAGE_EVENTS: &[&str] = &[
    "message.channels",
    "message.groups",
    "message.im",
    "message.mpim",
];

/// What every bot needs, whatever it listens to: to post its answers.
pub(crate) fn for_answers() -> ScopeNeed {
    ScopeNeed {
        any_of: WRITE,
        request: WRITE,
        events: &[],
        why: "answers (say, reply, post)".to_owned(),
    }
}

/// What a `hears` listener needs: its messages (by where it listens) and the scope to answer.
pub(crate) fn for_hears(pattern: &str, direct_only: bool, mention_only: bool) -> Vec<ScopeNeed> {
    let why = |what: &str| format!("hears {pattern:?}: {what}");
    let (read, request, events): (&'static [&'static str], &'static [&'static str], _) =
        if direct_only {
            (&["im:history"], &["im:history"], &["message.im"][..])
        } else if mention_only {
            (
                &[
                    "app_mentions:read",
                    "channels:history",
                    "groups:history",
                    "im:history",
                    "mpim:history",
                ],
                &["app_mentions:read"],
                &["app_mention"][..],
            )
        } else {
            (HISTORY, HISTORY, MESSAGE_EVENTS)
        };
    vec![
        ScopeNeed {
            any_of: read,
            request,
            events,
            why: why("message events"),
        },
        ScopeNeed {
            why: why("answers (say, reply, post)"),
            ..for_answers()
        },
    ]
}

/// What an `event` listener needs, for the events whose scope is known.
pub(crate) fn for_event(event_type: &str) -> Vec<ScopeNeed> {
    let (any_of, events): (&'static [&'static str], &'static [&'static str]) = match event_type {
        "app_mention" => (&["app_mentions:read"], &["app_mention"]),
        "reaction_added" => (&["reactions:read"], &["reaction_added"]),
        "reaction_removed" => (&["reactions:read"], &["reaction_removed"]),
        "member_joined_channel" => (
            &["channels:read", "groups:read"],
            &["member_joined_channel"],
        ),
        "member_left_channel" => (&["channels:read", "groups:read"], &["member_left_channel"]),
        "message" => (HISTORY, MESSAGE_EVENTS),
        "app_home_opened" => (&[], &["app_home_opened"]),
        "assistant_thread_started" => (&["assistant:write"], &["assistant_thread_started"]),
        "assistant_thread_context_changed" => {
            (&["assistant:write"], &["assistant_thread_context_changed"])
        }
        // Others (and `*`): no scope nonstop knows; a manifest lists the event by name.
        _ => return Vec::new(),
    };
    vec![ScopeNeed {
        any_of,
        request: any_of,
        events,
        why: format!("event {event_type:?}"),
    }]
}

/// What a slash command listener needs.
pub(crate) fn for_command(command: &str) -> Vec<ScopeNeed> {
    vec![ScopeNeed {
        any_of: &["commands"],
        request: &["commands"],
        events: &[],
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
