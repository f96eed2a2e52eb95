//! Who the bot is, as `auth.test` said: what tells its own messages from everyone else's.

use nonstop_model::EventHead;

/// Who the bot is, from `auth.test`; used to ignore its own messages.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BotIdentity {
    pub user_id: Option<String>,
    pub bot_id: Option<String>,
    pub team_id: Option<String>,
}

impl BotIdentity {
    /// The name a journal records for the bot it serves (`team/user`, e.g. `T012/U034`):
    /// the same for every replica and restart of one bot, another for another bot or
    /// workspace. None when `auth.test` left either out.
    pub fn journal_owner(&self) -> Option<String> {
        Some(format!(
            "{}/{}",
            self.team_id.as_deref()?,
            self.user_id.as_deref()?
        ))
    }

    /// True when a message with this `user` or `bot_id` came from this bot.
    pub fn is_me(&self, user: Option<&str>, bot_id: Option<&str>) -> bool {
        let same = |mine: &Option<String>, theirs: Option<&str>| {
            mine.as_deref().is_some_and(|m| Some(m) == theirs)
        };
        same(&self.user_id, user) || same(&self.bot_id, bot_id)
    }

    /// True when `event` is a message (or an edit of one) this bot wrote: the one rule for
    /// "own message", used where envelopes arrive and again in the router for replays.
    pub fn wrote(&self, event: &EventHead) -> bool {
        event
            .message_author()
            .is_some_and(|(user, bot_id)| self.is_me(user, bot_id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize as _;
    use serde_json::Value;

    #[test]
    fn the_bot_wrote_its_messages_and_their_edits_not_what_it_did_otherwise() {
        let me = BotIdentity {
            user_id: Some("U0BOT".into()),
            bot_id: Some("B0BOT".into()),
            team_id: None,
        };
        let head = |event: Value| EventHead::deserialize(&event).unwrap();
        assert!(me.wrote(&head(
            serde_json::json!({"type": "message", "user": "U0BOT", "text": "pong"})
        )));
        assert!(me.wrote(&head(serde_json::json!({
            "type": "message", "subtype": "message_changed",
            "message": {"bot_id": "B0BOT", "text": "pong, edited"}
        }))));
        assert!(!me.wrote(&head(
            serde_json::json!({"type": "message", "user": "U1", "text": "ping"})
        )));
        // Its own reaction is an event it caused, not a message it wrote.
        assert!(!me.wrote(&head(
            serde_json::json!({"type": "reaction_added", "user": "U0BOT"})
        )));
        // Nobody is "me" when auth.test told nothing.
        assert!(!BotIdentity::default().wrote(&head(
            serde_json::json!({"type": "message", "user": "U0BOT"})
        )));
    }
}
