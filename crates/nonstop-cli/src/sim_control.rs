//! `nonstop sim send|calls|acks|responses|streams`: drive a running simulator through its control
//! API from a shell, with every inbound kind a test can send.

use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand, ValueEnum};
use nonstop::model::inbound::{self, Inbound, Picked};

/// What to ask of a running simulator.
#[derive(Subcommand, Debug)]
pub(crate) enum SimAction {
    /// Send one inbound item to the bot as Slack would, and print its envelope id and the
    /// bot's ack (with its payload). Examples:
    /// `nonstop sim send command /todo --text "buy milk"`,
    /// `nonstop sim send button approve --value 42 --channel C1 --ts 100.0`,
    /// `nonstop sim send view-submission new-ticket --input title/title="printer on fire"`,
    /// `nonstop sim send json '{"kind":"options_load","action_id":"pick","query":"ad"}'`.
    Send(Box<SendArgs>),
    /// Print every Web API call the bot made (arguments and blocks), as JSON.
    Calls {
        /// Only calls to this method, e.g. `chat.postMessage` or `views.open`.
        #[arg(long)]
        method: Option<String>,
        #[command(flatten)]
        at: Control,
    },
    /// Print the simulator's counters (live sockets, envelopes, acks, …), as JSON.
    Stats {
        #[command(flatten)]
        at: Control,
    },
    /// Print every ack the bot sent, with its payload, as JSON.
    Acks {
        #[command(flatten)]
        at: Control,
    },
    /// Print every body the bot POSTed to a `response_url`, as JSON.
    Responses {
        #[command(flatten)]
        at: Control,
    },
    /// Print every streamed message as it stands (its text so far, open or stopped) and every
    /// agent thread's status, prompts and title, as JSON.
    Streams {
        #[command(flatten)]
        at: Control,
    },
}

/// Where the simulator's control API is.
#[derive(Args, Debug)]
pub(crate) struct Control {
    /// The simulator's address (`nonstop sim` prints it).
    #[arg(long, default_value = "http://127.0.0.1:3030", env = "NONSTOP_SIM_URL")]
    sim: String,
}

/// The inbound kinds, by the name a shell user types.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A user's message; NAME is its text.
    Message,
    /// An app_mention; NAME is its text (the bot's mention is put in front).
    Mention,
    /// reaction_added (reaction_removed with --removed); NAME is the emoji.
    Reaction,
    /// Any Events API event; NAME is the event as JSON.
    Event,
    /// A slash command; NAME is the command.
    Command,
    /// A button click; NAME is its action_id.
    Button,
    /// A block action of any element; NAME is its action_id, --picked says what was picked.
    Action,
    /// A modal submitted; NAME is its callback_id.
    ViewSubmission,
    /// A modal closed; NAME is its callback_id.
    ViewClosed,
    /// A global shortcut; NAME is its callback_id.
    Shortcut,
    /// A message shortcut; NAME is its callback_id.
    MessageShortcut,
    /// An options load of an external select; NAME is its action_id.
    Options,
    /// Any inbound item in the control API's JSON form; NAME is the JSON.
    Json,
}

#[derive(Args, Debug)]
pub(crate) struct SendArgs {
    kind: Kind,
    /// The kind's own name: a message's text, the command, the action or callback id, the
    /// emoji, or JSON (for `event` and `json`).
    name: String,
    /// A command's text.
    #[arg(long)]
    text: Option<String>,
    #[arg(long)]
    channel: Option<String>,
    #[arg(long)]
    user: Option<String>,
    /// The message's ts: of a message, the one reacted to, clicked in, or shortcut on.
    #[arg(long)]
    ts: Option<String>,
    /// Written in the thread of this ts (messages).
    #[arg(long)]
    thread: Option<String>,
    /// A direct message to the bot (messages).
    #[arg(long)]
    direct: bool,
    /// A button's value.
    #[arg(long)]
    value: Option<String>,
    /// What an element picked, as JSON: `{"option":"high"}`, `{"users":["U1"]}`, `{"date":"2026-12-24"}`.
    #[arg(long)]
    picked: Option<String>,
    /// A view input, `BLOCK/ACTION=TEXT` (repeat for more).
    #[arg(long = "input", value_name = "BLOCK/ACTION=TEXT")]
    inputs: Vec<String>,
    /// A view's private_metadata.
    #[arg(long)]
    metadata: Option<String>,
    /// What the user typed in an external select (options).
    #[arg(long)]
    query: Option<String>,
    /// reaction_removed rather than reaction_added.
    #[arg(long)]
    removed: bool,
    /// How long to wait for the bot's ack, in milliseconds (0: do not wait).
    #[arg(long, default_value_t = 3000)]
    wait_ms: u64,
    #[command(flatten)]
    at: Control,
}

pub(crate) async fn run(action: SimAction) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(70))
        .build()
        .context("could not build an HTTP client")?;
    let answer = match action {
        SimAction::Send(args) => {
            let inbound = describe(&args)?;
            let url = format!("{}/_sim/send?wait_ms={}", base(&args.at), args.wait_ms);
            send(client.post(url).json(&inbound)).await?
        }
        SimAction::Calls { method, at } => {
            let mut request = client.get(format!("{}/_sim/calls", base(&at)));
            if let Some(method) = method {
                request = request.query(&[("method", method)]);
            }
            send(request).await?
        }
        SimAction::Stats { at } => send(client.get(format!("{}/_sim/stats", base(&at)))).await?,
        SimAction::Acks { at } => send(client.get(format!("{}/_sim/acks", base(&at)))).await?,
        SimAction::Responses { at } => {
            send(client.get(format!("{}/_sim/responses", base(&at)))).await?
        }
        SimAction::Streams { at } => {
            send(client.get(format!("{}/_sim/streams", base(&at)))).await?
        }
    };
    let pretty = serde_json::to_string_pretty(&answer).unwrap_or_else(|_| answer.to_string());
    let mut out = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut out, format!("{pretty}\n").as_bytes());
    Ok(())
}

fn base(at: &Control) -> &str {
    at.sim.trim_end_matches('/')
}

async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<serde_json::Value> {
    let response = request
        .send()
        .await
        .context("the simulator did not answer: is `nonstop sim` running there (--sim)?")?;
    let status = response.status();
    let body = response
        .text()
        .await
        .context("reading the simulator's answer")?;
    if !status.is_success() {
        anyhow::bail!("the simulator answered {status}: {body}");
    }
    serde_json::from_str(&body)
        .with_context(|| format!("the simulator's answer is not JSON: {body}"))
}

/// The inbound item the arguments describe.
pub(crate) fn describe(args: &SendArgs) -> anyhow::Result<Inbound> {
    let name = args.name.clone();
    let inbound: Inbound = match args.kind {
        Kind::Message | Kind::Mention => {
            let mut message = inbound::message(name);
            if let Some(thread) = &args.thread {
                message = message.in_thread(thread);
            }
            if let Some(ts) = &args.ts {
                message = message.ts(ts);
            }
            if args.direct {
                message = message.direct();
            }
            message.channel = args.channel.clone().unwrap_or(message.channel);
            message.user = args.user.clone().unwrap_or(message.user);
            if args.kind == Kind::Mention {
                message.mention()
            } else {
                message.into()
            }
        }
        Kind::Reaction => {
            let mut reaction = if args.removed {
                inbound::reaction_removed(name)
            } else {
                inbound::reaction_added(name)
            };
            reaction.channel = args.channel.clone().unwrap_or(reaction.channel);
            reaction.user = args.user.clone().unwrap_or(reaction.user);
            reaction.message_ts = args.ts.clone().unwrap_or_default();
            reaction.into()
        }
        Kind::Event => inbound::event(json_arg(&name, "the event")?),
        Kind::Command => {
            let mut command = inbound::slash_command(name);
            command.text = args.text.clone().unwrap_or_default();
            command.channel = args.channel.clone().unwrap_or(command.channel);
            command.user = args.user.clone().unwrap_or(command.user);
            command.into()
        }
        Kind::Button | Kind::Action => action(args, name)?,
        Kind::ViewSubmission | Kind::ViewClosed => view(args, name)?,
        Kind::Shortcut => {
            let mut shortcut = inbound::global_shortcut(name);
            shortcut.user = args.user.clone().unwrap_or(shortcut.user);
            shortcut.into()
        }
        Kind::MessageShortcut => {
            let mut shortcut = inbound::message_shortcut(name);
            shortcut.0.user = args.user.clone().unwrap_or(shortcut.0.user);
            shortcut.0.channel = args.channel.clone().unwrap_or(shortcut.0.channel);
            shortcut.0.message_ts = args.ts.clone().unwrap_or_default();
            shortcut.0.message_text = args.text.clone().unwrap_or_default();
            shortcut.into()
        }
        Kind::Options => {
            let mut options = inbound::options_load(name);
            options.query = args.query.clone().unwrap_or_default();
            options.user = args.user.clone().unwrap_or(options.user);
            options.into()
        }
        Kind::Json => serde_json::from_value(json_arg(&name, "the inbound item")?)
            .context("not an inbound item: {\"kind\": \"message\" | \"slash_command\" | \"block_action\" | …}")?,
    };
    Ok(inbound)
}

fn json_arg(text: &str, what: &str) -> anyhow::Result<serde_json::Value> {
    serde_json::from_str(text).with_context(|| format!("{what} is not JSON: {text}"))
}

fn action(args: &SendArgs, action_id: String) -> anyhow::Result<Inbound> {
    let picked = match (&args.picked, &args.value) {
        (Some(picked), _) => serde_json::from_value::<Picked>(json_arg(picked, "--picked")?)
            .context("--picked: one of {\"option\": …}, {\"options\": […]}, {\"user\": …}, {\"date\": …}, {\"text\": …}, {\"button\": …}")?,
        (None, value) => Picked::Button(value.clone()),
    };
    let mut action = inbound::block_action(action_id, picked);
    action.user = args.user.clone().unwrap_or(action.user);
    if let Some(channel) = &args.channel {
        action = action.channel(channel);
    }
    if let Some(ts) = &args.ts {
        action = action.message_ts(ts);
    }
    Ok(action.into())
}

fn view(args: &SendArgs, callback_id: String) -> anyhow::Result<Inbound> {
    let mut view = inbound::view_submission(callback_id);
    for input in &args.inputs {
        let (place, text) = input
            .split_once('=')
            .with_context(|| format!("--input {input}: write BLOCK/ACTION=TEXT"))?;
        let (block, action) = place
            .split_once('/')
            .with_context(|| format!("--input {input}: write BLOCK/ACTION=TEXT"))?;
        view = view.text(block, action, text);
    }
    view.user = args.user.clone().unwrap_or(view.user);
    view.private_metadata = args.metadata.clone();
    Ok(if args.kind == Kind::ViewClosed {
        view.closed()
    } else {
        view.into()
    })
}
