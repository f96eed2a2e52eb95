//! A `/ticket` slash command with a modal.
//!
//! `/ticket printer on fire` answers at once in the command's ack, opens a form (prefilled
//! with the command's text) with the command's `trigger_id`, checks the submission (an error
//! shown in the form when the title is too short), numbers the ticket from the bot's storage
//! and announces it in the channel where the command was run.

use nonstop::blocks::{
    Block, CommandResponse, InputElement, Modal, PlainTextInput, Select, SelectOption, View,
    ViewResponse,
};
use nonstop::model::web::PostMessageRequest;
use nonstop::{App, AppInfo, Config, Context, HandlerResult, SlashCommand, ViewPayload};
use serde::{Deserialize, Serialize};

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
        .with_info(
            AppInfo::new("Tickets")
                .description("Opens tickets from a slash command and a form")
                .command("/ticket", "Open a ticket", Some("[what is wrong]")),
        )
        .command("/ticket", open_form)
        .view_submission(FORM, submit)
}

async fn open_form(ctx: Context, command: SlashCommand) -> HandlerResult {
    // Answer inside Slack's 3 s first; the modal follows.
    ctx.ack_command(CommandResponse::ephemeral("Opening the ticket form…"))?;
    ctx.open_view(&form(&command.channel_id, command.text.trim()))
        .await?;
    Ok(())
}

/// The modal; the channel to announce in rides along in `private_metadata`.
pub fn form(channel: &str, title: &str) -> View {
    let urgency = |value: &str| SelectOption::new(value, value);
    let mut what = PlainTextInput::new("value");
    what.initial_value = Some(title.to_owned());
    let modal = Modal::new("New ticket")
        .callback_id(FORM)
        .private_metadata(channel)
        .submit("Open")
        .block(Block::input("What is wrong?", what).block_id("title"))
        .block(
            Block::input(
                "Urgency",
                InputElement::StaticSelect(
                    Select::new("value")
                        .options(vec![urgency("low"), urgency("normal"), urgency("high")])
                        .initial_option(urgency("normal")),
                ),
            )
            .block_id("urgency"),
        );
    View::Modal(modal)
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
        ctx.ack_view(ViewResponse::error(
            "title",
            "Say a little more: 5 characters at least.",
        ))?;
        return Ok(());
    }
    ctx.ack_view(ViewResponse::Clear)?;
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
