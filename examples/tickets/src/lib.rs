//! A `/ticket` slash command with a modal.
//!
//! `/ticket printer on fire` answers at once in the command's ack, opens a form (prefilled
//! with the command's text) with the command's `trigger_id`, checks the submission (an error
//! shown in the form when the title is too short), numbers the ticket from the bot's storage
//! and announces it in the channel where the command was run.

use nonstop::model::web::PostMessageRequest;
use nonstop::{App, Config, Context, HandlerResult, SlashCommand, ViewPayload};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The form's `callback_id`, which routes its submission back here.
pub const FORM: &str = "ticket_form";

/// A ticket as stored under `tickets/<number>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Ticket {
    pub number: u64,
    pub title: String,
    pub urgency: String,
    pub opened_by: String,
}

pub fn app(config: Config) -> App {
    App::new(config)
        .command("/ticket", open_form)
        .view_submission(FORM, submit)
}

async fn open_form(ctx: Context, command: SlashCommand) -> HandlerResult {
    // Answer inside Slack's 3 s first; the modal follows.
    ctx.ack(json!({"response_type": "ephemeral", "text": "Opening the ticket form…"}));
    ctx.open_view(&form(&command.channel_id, command.text.trim()))
        .await?;
    Ok(())
}

/// The modal; the channel to announce in rides along in `private_metadata`.
pub fn form(channel: &str, title: &str) -> Value {
    let option =
        |value: &str| json!({"text": {"type": "plain_text", "text": value}, "value": value});
    json!({
        "type": "modal",
        "callback_id": FORM,
        "private_metadata": channel,
        "title": {"type": "plain_text", "text": "New ticket"},
        "submit": {"type": "plain_text", "text": "Open"},
        "blocks": [
            {"type": "input", "block_id": "title", "label": {"type": "plain_text", "text": "What is wrong?"},
             "element": {"type": "plain_text_input", "action_id": "value", "initial_value": title}},
            {"type": "input", "block_id": "urgency", "label": {"type": "plain_text", "text": "Urgency"},
             "element": {"type": "static_select", "action_id": "value",
                         "initial_option": option("normal"),
                         "options": [option("low"), option("normal"), option("high")]}}
        ]
    })
}

async fn submit(ctx: Context, submission: ViewPayload) -> HandlerResult {
    let view = &submission.view;
    let title = view
        .input("title", "value")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if title.chars().count() < 5 {
        // Shown under the field; the modal stays open.
        ctx.ack(json!({"response_action": "errors",
                       "errors": {"title": "Say a little more: 5 characters at least."}}));
        return Ok(());
    }
    ctx.ack(json!({"response_action": "clear"}));
    let number = ctx
        .storage()
        .update::<u64, _>("tickets/last", |last| Some(last.unwrap_or(0) + 1))
        .await?
        .unwrap_or(1);
    let ticket = Ticket {
        number,
        title,
        urgency: view
            .input("urgency", "value")
            .unwrap_or("normal")
            .to_owned(),
        opened_by: submission.user.id.clone(),
    };
    ctx.storage()
        .set(&format!("tickets/{number:06}"), &ticket)
        .await?;
    if let Some(channel) = view.private_metadata.as_deref().filter(|c| !c.is_empty()) {
        let text = format!(
            "Ticket #{} opened by <@{}>: {} ({})",
            ticket.number, ticket.opened_by, ticket.title, ticket.urgency
        );
        ctx.post(&PostMessageRequest::text(channel, text)).await?;
    }
    Ok(())
}
