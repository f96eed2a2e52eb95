//! A reaction-driven approval workflow.
//!
//! `request: buy a 3D printer` opens a request: the bot answers in its thread and keeps it in
//! storage. Someone other than the requester reacts with ✅ (`white_check_mark`) to approve
//! or ❌ (`x`) to reject; the bot records the decision and says so in the thread. Later
//! reactions change nothing, and requesters cannot approve their own requests.

use nonstop::{App, AppInfo, Config, Context, HandlerResult, Message, ReactionAdded};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Rejected,
}

/// A request as stored under `approvals/<channel>/<ts>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Request {
    pub requester: String,
    pub what: String,
    pub state: State,
    pub decided_by: Option<String>,
}

pub fn app(config: Config) -> App {
    App::new(config)
        .with_info(AppInfo::new("Approvals").description("Requests decided with a reaction"))
        .hears(r"(?i)^request:\s*(.+)$", open_request)
        .on(on_reaction)
}

/// What a reaction found when it tried to decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    NotARequest,
    OwnRequest,
    DecidedNow,
    DecidedBefore,
}

fn key(channel: &str, ts: &str) -> String {
    format!("approvals/{channel}/{ts}")
}

async fn open_request(ctx: Context, message: Message) -> HandlerResult {
    let (Some(channel), Some(ts), Some(user)) = (
        message.channel(),
        message.event.ts.as_deref(),
        message.user(),
    ) else {
        return Ok(());
    };
    let request = Request {
        requester: user.to_owned(),
        what: message.capture(1).unwrap_or_default().trim().to_owned(),
        state: State::Pending,
        decided_by: None,
    };
    ctx.storage().set(&key(channel, ts), &request).await?;
    ctx.reply("Waiting for approval: react with :white_check_mark: to approve or :x: to reject.")
        .await?;
    Ok(())
}

async fn on_reaction(ctx: Context, reaction: ReactionAdded) -> HandlerResult {
    let decision = match reaction.reaction.as_str() {
        "white_check_mark" | "heavy_check_mark" => State::Approved,
        "x" => State::Rejected,
        _ => return Ok(()),
    };
    let (Some(channel), Some(ts)) = (
        reaction.item.channel.as_deref(),
        reaction.item.ts.as_deref(),
    ) else {
        return Ok(());
    };
    let decider = reaction.user.clone();
    // Decide atomically: two people reacting at once cannot both decide. The update says
    // what it found in the round that was stored.
    let (stored, found) = ctx
        .storage()
        .update_returning::<Request, _, _>(&key(channel, ts), move |stored| {
            let Some(mut request) = stored else {
                return (None, Found::NotARequest);
            };
            let found = match request.state {
                State::Pending if request.requester == decider => Found::OwnRequest,
                State::Pending => {
                    request.state = decision;
                    request.decided_by = Some(decider.clone());
                    Found::DecidedNow
                }
                State::Approved | State::Rejected => Found::DecidedBefore,
            };
            (Some(request), found)
        })
        .await?;
    let Some(request) = stored else {
        // A reaction on a message that is not a request.
        return Ok(());
    };
    if found == Found::OwnRequest {
        ctx.ephemeral("You can't decide on your own request.")
            .await?;
    } else if found == Found::DecidedNow {
        let verb = if decision == State::Approved {
            "Approved"
        } else {
            "Rejected"
        };
        ctx.reply(&format!("{verb} by <@{}>: {}", reaction.user, request.what))
            .await?;
    }
    Ok(())
}
