//! The commands every nonstop bot can answer: `ping X` → `pong X`, and `status`.
//!
//! They are ordinary `hears` listeners: the bot's own messages and message subtypes never
//! reach them, and they answer in the thread when asked in one.

use std::fmt::Write;

use crate::context::Context;
use crate::handler::HandlerResult;
use crate::listeners::Message;
use nonstop_model::web::PostMessageRequest;

/// `ping X` → `pong X`, where the ping was asked. `X` is someone else's text: it is escaped,
/// so `<!channel>` or `<https://evil.example|https://slack.com>` in it stays text instead of
/// becoming the bot's mass mention or disguised link, and nothing is unfurled.
pub async fn ping(ctx: Context, message: Message) -> HandlerResult {
    let rest = escape(message.capture(1).unwrap_or_default());
    let channel = ctx.channel().unwrap_or_default();
    let mut request = PostMessageRequest::text(channel, format!("pong{rest}"));
    request.thread_ts = ctx.thread_ts().map(str::to_owned);
    request
        .extra
        .insert("unfurl_links".to_owned(), false.into());
    request
        .extra
        .insert("unfurl_media".to_owned(), false.into());
    ctx.post(&request).await?;
    Ok(())
}

/// `text` made inert for Slack's message formatting: `&`, `<` and `>` escaped as Slack asks,
/// so no mention (`<!channel>`, `<@U…>`) or link (`<url|label>`) can be formed from it. Use it
/// on any user text a listener echoes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `status` → uptime, live connections, reconnects, answers waiting in the outbox, the last
/// disconnect's cause.
pub async fn status(ctx: Context, _message: Message) -> HandlerResult {
    ctx.say(&status_text(&ctx)).await?;
    Ok(())
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
    if s.answers_waiting > 0 {
        let _ = write!(out, ", {} answers waiting to go out", s.answers_waiting);
    }
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
    fn echoed_text_cannot_form_mentions_or_links() {
        assert_eq!(
            escape("<!channel> <https://evil.example|https://slack.com/reset> & co"),
            "&lt;!channel&gt; &lt;https://evil.example|https://slack.com/reset&gt; &amp; co"
        );
        assert_eq!(escape("plain"), "plain");
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(61), "1m1s");
        assert_eq!(human_duration(3 * 3600 + 120), "3h2m");
        assert_eq!(human_duration(90_000), "1d1h");
    }
}
