//! The commands every nonstop bot answers: `ping X` → `pong X`, and `status`.

use std::fmt::Write;

use nonstop_model::MessageEvent;

use crate::context::Context;
use crate::delivery::Envelope;
use crate::dispatch::HandlerResult;

/// Answers `ping …` and `status` in the channel (in the thread when asked in one). Ignores the
/// bot's own messages, message subtypes (edits, joins, bot posts) and everything else.
pub async fn commands(ctx: Context, envelope: Envelope) -> HandlerResult {
    let Some(callback) = envelope.event_callback() else {
        return Ok(());
    };
    if !matches!(callback.event_type(), Some("message" | "app_mention")) {
        return Ok(());
    }
    let message: MessageEvent = serde_json::from_value(callback.event)?;
    if message.subtype.is_some()
        || ctx
            .me()
            .is_me(message.user.as_deref(), message.bot_id.as_deref())
    {
        return Ok(());
    }
    let (Some(channel), Some(text)) = (message.channel.as_deref(), message.text.as_deref()) else {
        return Ok(());
    };
    let Some(reply) = answer(&ctx, strip_mention(text)) else {
        return Ok(());
    };
    ctx.say(channel, &reply, message.reply_thread()).await?;
    Ok(())
}

/// `<@U123> ping x` is `ping x`.
fn strip_mention(text: &str) -> &str {
    let text = text.trim();
    if text.starts_with("<@") {
        if let Some(end) = text.find('>') {
            return text[end + 1..].trim_start();
        }
    }
    text
}

fn answer(ctx: &Context, text: &str) -> Option<String> {
    if let Some(rest) = text.strip_prefix("ping") {
        if rest.is_empty() || rest.starts_with(char::is_whitespace) {
            return Some(format!("pong{rest}"));
        }
    }
    if text.eq_ignore_ascii_case("status") {
        return Some(status_text(ctx));
    }
    None
}

fn status_text(ctx: &Context) -> String {
    let s = ctx.status().snapshot();
    let mut out = format!(
        "up {}, {} live connection{}, {} reconnect{}, {} events handled",
        human_duration(s.uptime.as_secs()),
        s.live_connections,
        if s.live_connections == 1 { "" } else { "s" },
        s.reconnects,
        if s.reconnects == 1 { "" } else { "s" },
        s.handled,
    );
    match s.last_disconnect {
        Some(last) => {
            let ago = last.at.elapsed().map(|d| d.as_secs()).unwrap_or(0);
            let _ = write!(
                out,
                ", last disconnect: {} ({} ago)",
                last.cause,
                human_duration(ago)
            );
        }
        None => out.push_str(", no disconnects"),
    }
    out
}

fn human_duration(secs: u64) -> String {
    match secs {
        0..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m{}s", secs / 60, secs % 60),
        3600..=86_399 => format!("{}h{}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d{}h", secs / 86_400, (secs % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_stripped_and_durations_read_well() {
        assert_eq!(strip_mention("<@U0BOT> ping x"), "ping x");
        assert_eq!(strip_mention("  ping x"), "ping x");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(61), "1m1s");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(90_000), "1d1h");
    }
}
