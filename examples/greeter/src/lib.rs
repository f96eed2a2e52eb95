//! A greeter that remembers whom it greeted.
//!
//! - `hello` (or `hi`, `hey`) anywhere: greets, and counts the visit in the bot's storage, so
//!   the count survives restarts.
//! - `forget me` in a direct message or a mention: deletes what the bot stored about you.
//! - `ping` and `status`: the built-in commands.

use nonstop::{App, AppInfo, Config, Context, HandlerResult, Hears, Message};
use serde::{Deserialize, Serialize};

/// What the greeter keeps per user.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Visits {
    pub count: u64,
    /// The first greeting's message, to link back to.
    pub first_ts: Option<String>,
}

pub fn app(config: Config) -> App {
    App::new(config)
        .with_info(AppInfo::new("Greeter").description("Greets people and remembers whom"))
        .hears(r"(?i)^(hello|hi|hey)\b", greet)
        .hears_with(Hears::new(r"(?i)^forget me$").direct().mention(), forget)
        .with_builtin_commands()
}

fn key(user: &str) -> String {
    format!("greeter/visits/{user}")
}

async fn greet(ctx: Context, message: Message) -> HandlerResult {
    let Some(user) = message.user().map(str::to_owned) else {
        return Ok(());
    };
    let ts = message.event.ts.clone();
    // One atomic read-modify-write: two greetings at once still count two visits.
    let visits = ctx
        .storage()
        .update::<Visits, _>(&key(&user), move |stored| {
            let mut visits = stored.unwrap_or_default();
            visits.count += 1;
            visits.first_ts = visits.first_ts.or_else(|| ts.clone());
            Some(visits)
        })
        .await?
        .unwrap_or_default();
    let text = if visits.count == 1 {
        format!("Nice to meet you, <@{user}>!")
    } else {
        format!("Welcome back, <@{user}>: visit number {}.", visits.count)
    };
    ctx.say(&text).await?;
    Ok(())
}

async fn forget(ctx: Context, message: Message) -> HandlerResult {
    let Some(user) = message.user() else {
        return Ok(());
    };
    let existed = ctx.storage().delete(&key(user)).await?;
    let text = if existed {
        "Forgotten. Say hello to start over."
    } else {
        "I had nothing about you to forget."
    };
    ctx.reply(text).await?;
    Ok(())
}
