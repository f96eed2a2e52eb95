//! A shared todo list: the four things a first bot does, and the Home tab.
//!
//! - `hello` is answered with how to use it.
//! - `/todo buy milk` adds a todo (kept in storage), says so privately in the ack, and posts
//!   it in the channel with a **Done** button.
//! - **Done** marks it done and replaces the message, once: a second click changes nothing.
//! - The **New todo** button of the Home tab (or the `new_todo` shortcut) opens a modal: a
//!   text of at least 3 characters and a channel to post in; a shorter text is refused
//!   under the field and the modal stays open.
//! - The Home tab lists the open todos, published again whenever one is added or done.

use nonstop::blocks::{
    self, Block, Button, CommandResponse, Home, InputElement, Modal, PlainTextInput, Select, View,
    ViewResponse,
};
use nonstop::{
    App, AppHomeOpened, AppInfo, BlockAction, Config, Context, HandlerResult, Message, Shortcut,
    SlashCommand, ViewPayload,
};
use serde::{Deserialize, Serialize};

/// The modal's callback id, and the shortcut's.
pub const NEW_TODO: &str = "new_todo";
/// The Done button's action id; its value is the todo's number.
pub const DONE: &str = "done";
/// The Home tab's button that opens the modal.
pub const OPEN_FORM: &str = "open_form";

/// A todo as stored under `todos/<number>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Todo {
    pub number: u64,
    pub text: String,
    pub added_by: String,
    pub done_by: Option<String>,
}

pub fn app(config: Config) -> App {
    App::new(config)
        .with_info(
            AppInfo::new("Todo")
                .description("A shared todo list: /todo, Done buttons, a form and the Home tab")
                .command("/todo", "Add a todo", Some("[what to do]"))
                .global_shortcut(NEW_TODO, "New todo", "Add a todo from anywhere"),
        )
        .hears(r"(?i)^hello\b", hello)
        .command("/todo", add_from_command)
        .action(DONE, done)
        .action(OPEN_FORM, open_form_from_home)
        .shortcut(NEW_TODO, open_form_from_shortcut)
        .view_submission(NEW_TODO, add_from_form)
        .on(home_opened)
}

async fn hello(ctx: Context, message: Message) -> HandlerResult {
    let user = message.user().unwrap_or("there");
    ctx.say(format!("Hi <@{user}>! Try `/todo buy milk`."))
        .await?;
    Ok(())
}

async fn add_from_command(ctx: Context, command: SlashCommand) -> HandlerResult {
    let text = command.text.trim();
    if text.is_empty() {
        ctx.ack_command(CommandResponse::ephemeral("What to do? `/todo buy milk`"))?;
        return Ok(());
    }
    let todo = add(&ctx, text, &command.user_id).await?;
    ctx.ack_command(CommandResponse::ephemeral(format!(
        "Added #{}.",
        todo.number
    )))?;
    ctx.say(todo_message(&todo)).await?;
    publish_home(&ctx, &command.user_id).await
}

/// Stores a new todo under the next number.
async fn add(ctx: &Context, text: &str, user: &str) -> Result<Todo, nonstop::StorageError> {
    let number = ctx
        .storage()
        .update::<u64, _>("todo-count", |n| Some(n.unwrap_or(0) + 1))
        .await?
        .unwrap_or(1);
    let todo = Todo {
        number,
        text: text.to_owned(),
        added_by: user.to_owned(),
        done_by: None,
    };
    ctx.storage().set(&key(number), &todo).await?;
    Ok(todo)
}

fn key(number: u64) -> String {
    format!("todos/{number:06}")
}

/// A todo as a message: open ones carry a Done button.
pub fn todo_message(todo: &Todo) -> blocks::Message {
    let line = format!("#{} {}", todo.number, todo.text);
    match &todo.done_by {
        None => blocks::Message::new(line.clone()).block(
            Block::section(line)
                .accessory(Button::new("Done", DONE).value(todo.number.to_string())),
        ),
        Some(by) => {
            let line = format!("~#{} {}~ done by <@{by}>", todo.number, todo.text);
            blocks::Message::new(line.clone()).block(Block::section(line))
        }
    }
}

async fn done(ctx: Context, click: BlockAction) -> HandlerResult {
    let Some(number) = click.action.value.as_deref().and_then(|v| v.parse().ok()) else {
        return Err("the Done button carries no todo number".into());
    };
    let user = click.body.user.id.clone();
    // Whether this click is the one that marked it done: decided inside the atomic update.
    let (stored, marked_now) = ctx
        .storage()
        .update_returning::<Todo, _, _>(&key(number), move |stored| match stored {
            Some(mut todo) if todo.done_by.is_none() => {
                todo.done_by = Some(user.clone());
                (Some(todo), true)
            }
            other => (other, false),
        })
        .await?;
    let (Some(todo), true) = (stored, marked_now) else {
        return Ok(());
    };
    if let Some(ts) = click.body.message_ts() {
        ctx.update(ts, todo_message(&todo)).await?;
    }
    publish_home(&ctx, &click.body.user.id).await
}

/// The modal that adds a todo: its text, and where to post it.
pub fn form() -> View {
    View::Modal(
        Modal::new("New todo")
            .callback_id(NEW_TODO)
            .submit("Add")
            .block(Block::input("What", PlainTextInput::new("text")).block_id("text"))
            .block(
                Block::input(
                    "Post in",
                    InputElement::ConversationsSelect(Select::new("channel")),
                )
                .block_id("channel"),
            ),
    )
}

async fn open_form_from_home(ctx: Context, _click: BlockAction) -> HandlerResult {
    ctx.open_view(&form()).await?;
    Ok(())
}

async fn open_form_from_shortcut(ctx: Context, _shortcut: Shortcut) -> HandlerResult {
    ctx.open_view(&form()).await?;
    Ok(())
}

async fn add_from_form(ctx: Context, submission: ViewPayload) -> HandlerResult {
    let view = &submission.view;
    let text = view
        .input("text", "text")
        .unwrap_or_default()
        .trim()
        .to_owned();
    if text.chars().count() < 3 {
        ctx.ack_view(ViewResponse::error(
            "text",
            "A little more, please: 3 characters at least.",
        ))?;
        return Ok(());
    }
    ctx.ack_view(ViewResponse::Clear)?;
    let user = submission.user.id.clone();
    let todo = add(&ctx, &text, &user).await?;
    if let Some(channel) = view.selected("channel", "channel").first() {
        ctx.say_in(channel, todo_message(&todo)).await?;
    }
    publish_home(&ctx, &user).await
}

async fn home_opened(ctx: Context, opened: AppHomeOpened) -> HandlerResult {
    if opened.tab == "home" {
        publish_home(&ctx, &opened.user).await?;
    }
    Ok(())
}

/// Publishes `user`'s Home tab: the open todos and a button for a new one.
async fn publish_home(ctx: &Context, user: &str) -> HandlerResult {
    let todos: Vec<(String, Todo)> = ctx.storage().list("todos/", 90).await?;
    ctx.publish_home(user, &home(todos.into_iter().map(|(_, todo)| todo)))
        .await?;
    Ok(())
}

/// The Home tab showing `todos`: the open ones, then a button to add one.
pub fn home(todos: impl IntoIterator<Item = Todo>) -> View {
    let open: Vec<Todo> = todos.into_iter().filter(|t| t.done_by.is_none()).collect();
    let mut home = Home::new().block(Block::header(format!("Open todos: {}", open.len())));
    for todo in &open {
        home = home.block(Block::section(format!("#{} {}", todo.number, todo.text)));
    }
    View::Home(home.block(Block::actions([Button::new("New todo", OPEN_FORM)])))
}
