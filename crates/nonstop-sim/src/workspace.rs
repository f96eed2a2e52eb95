//! The simulated workspace behind the Web API methods a bot reads and writes besides
//! `chat.postMessage`: channels and users to page through, reactions, ephemeral messages,
//! views, file uploads and `response_url`s. Writes are recorded as calls; reads answer from a
//! generated workspace big enough to need several pages.

use axum::response::Response;
use serde_json::{json, Value};

use crate::args::{arg, json_arg, Args};
use crate::reply::{ok, slack_error};
use crate::AppState;

/// Answers `method`, or `None` when the simulator does not know it.
/// `team`: the workspace of the token that called (conversations and their history are
/// that workspace's).
pub(crate) fn answer(app: &AppState, method: &str, args: &Args, team: &str) -> Option<Response> {
    if let Some(streamed) = crate::stream::answer(app, method, args, team) {
        return Some(streamed);
    }
    let config = &app.shared.config;
    Some(match method {
        "chat.update" | "chat.delete" => {
            let (Some(channel), Some(ts)) = (arg(args, "channel"), arg(args, "ts")) else {
                return Some(slack_error("message_not_found"));
            };
            // An update's text is what the message reads from now on (history included).
            if let (true, Some(text)) = (method == "chat.update", arg(args, "text")) {
                let mut inner = app.shared.lock();
                let mut posted = inner.posted.iter_mut().rev();
                if let Some(message) = posted.find(|p| p.channel == channel && p.ts == ts) {
                    message.text = text.to_owned();
                }
            }
            ok(json!({"channel": channel, "ts": ts}))
        }
        "chat.postEphemeral" => {
            if arg(args, "channel").is_none() {
                return Some(slack_error("channel_not_found"));
            }
            if arg(args, "user").is_none() {
                return Some(slack_error("user_not_found"));
            }
            ok(json!({"message_ts": app.shared.next_ts()}))
        }
        "reactions.add" => {
            if arg(args, "name").is_none() {
                return Some(slack_error("invalid_name"));
            }
            if arg(args, "channel").is_none() || arg(args, "timestamp").is_none() {
                return Some(slack_error("message_not_found"));
            }
            ok(json!({}))
        }
        "conversations.info" => {
            let Some(id) = arg(args, "channel") else {
                return Some(slack_error("channel_not_found"));
            };
            ok(json!({"channel": channel(id, 0)}))
        }
        "conversations.list" => page(args, config.channels, "channels", |n| {
            channel(&format!("C{n:06}"), n)
        }),
        "conversations.members" => {
            if arg(args, "channel").is_none() {
                return Some(slack_error("channel_not_found"));
            }
            page(args, config.users, "members", |n| json!(format!("U{n:06}")))
        }
        "conversations.history" | "conversations.replies" => {
            let Some(id) = arg(args, "channel") else {
                return Some(slack_error("channel_not_found"));
            };
            let parent = arg(args, "ts");
            if method == "conversations.replies" && parent.is_none() {
                return Some(slack_error("thread_not_found"));
            }
            let messages = history(app, (id, team), method, parent, args);
            page(args, messages.len(), "messages", |n| messages[n].clone())
        }
        // The conversations the bot is a member of: every one anything was said or posted in.
        "users.conversations" => {
            let channels: Vec<String> = {
                let inner = app.shared.lock();
                let mut ids: Vec<String> = inner
                    .said
                    .iter()
                    .filter(|m| m.team == team)
                    .map(|m| m.channel.clone())
                    .chain(
                        inner
                            .posted
                            .iter()
                            .filter(|p| p.team.as_deref().is_none_or(|t| t == team))
                            .map(|p| p.channel.clone()),
                    )
                    .collect();
                ids.sort();
                ids.dedup();
                ids
            };
            page(args, channels.len(), "channels", |n| {
                channel(&channels[n], n)
            })
        }
        "users.info" => {
            let Some(id) = arg(args, "user") else {
                return Some(slack_error("user_not_found"));
            };
            ok(json!({"user": user(id, 0, &config.team_id)}))
        }
        "users.list" => page(args, config.users, "members", |n| {
            user(&format!("U{n:06}"), n, &config.team_id)
        }),
        "views.open" | "views.update" | "views.publish" => {
            let Some(mut view) = json_arg(args, "view").filter(Value::is_object) else {
                return Some(slack_error("invalid_arguments"));
            };
            if method == "views.open" && arg(args, "trigger_id").is_none() {
                return Some(slack_error("invalid_trigger_id"));
            }
            let id = arg(args, "view_id")
                .map(str::to_owned)
                .unwrap_or_else(|| format!("V{:08}", app.shared.next_id()));
            view["id"] = id.into();
            view["hash"] = format!("{}.sim", app.shared.next_id()).into();
            ok(json!({"view": view}))
        }
        "files.getUploadURLExternal" => {
            let (Some(_), Some(_)) = (arg(args, "filename"), arg(args, "length")) else {
                return Some(slack_error("invalid_arguments"));
            };
            let file_id = format!("F{:08}", app.shared.next_id());
            app.shared.lock().files.insert(file_id.clone(), None);
            ok(json!({
                "upload_url": format!("http://{}/_sim/upload/{file_id}", app.addr),
                "file_id": file_id,
            }))
        }
        "files.completeUploadExternal" => {
            let files = json_arg(args, "files").unwrap_or(Value::Null);
            let Some(list) = files.as_array().filter(|l| !l.is_empty()) else {
                return Some(slack_error("invalid_arguments"));
            };
            let inner = app.shared.lock();
            let mut done = Vec::new();
            for file in list {
                let id = file.get("id").and_then(Value::as_str).unwrap_or_default();
                // Slack refuses to complete a file whose bytes never arrived.
                if !matches!(inner.files.get(id), Some(Some(_))) {
                    return Some(slack_error("file_not_found"));
                }
                done.push(json!({"id": id, "title": file.get("title")}));
            }
            ok(json!({"files": done}))
        }
        _ => return None,
    })
}

/// The messages in `channel` (what users said and what the bot posted), as
/// `conversations.history` (the channel's top level, newest first) or `conversations.replies`
/// (the thread of `parent`, oldest first) list them: between `oldest` and `latest`
/// (exclusive), with metadata only when asked for.
fn history(
    app: &AppState,
    (channel, team): (&str, &str),
    method: &str,
    parent: Option<&str>,
    args: &Args,
) -> Vec<Value> {
    let config = &app.shared.config;
    let with_metadata = arg(args, "include_all_metadata").is_some_and(|v| v == "true" || v == "1")
        || args.get("include_all_metadata") == Some(&Value::Bool(true));
    // Slack's timestamps compare as numbers; these all have six decimals.
    let number = |ts: &str| ts.parse::<f64>().unwrap_or(0.0);
    let bound = |key: &str| arg(args, key).and_then(|t| t.parse::<f64>().ok());
    let (oldest, latest) = (bound("oldest"), bound("latest"));
    let wanted = |ts: &str, thread_ts: Option<&str>| {
        let in_place = match (method, parent) {
            ("conversations.replies", Some(parent)) => ts == parent || thread_ts == Some(parent),
            _ => thread_ts.is_none() || thread_ts == Some(ts),
        };
        let at = number(ts);
        in_place && oldest.is_none_or(|o| at > o) && latest.is_none_or(|l| at < l)
    };
    let inner = app.shared.lock();
    let posted = inner
        .posted
        .iter()
        .filter(|p| p.team.as_deref().is_none_or(|t| t == team))
        .filter(|p| p.channel == channel && wanted(&p.ts, p.thread_ts.as_deref()))
        .map(|p| {
            let mut message = json!({
                "type": "message", "text": p.text, "ts": p.ts,
                "user": config.bot_user_id, "bot_id": config.bot_id,
            });
            if let Some(thread) = &p.thread_ts {
                message["thread_ts"] = thread.clone().into();
            }
            if let (true, Some(metadata)) = (with_metadata, &p.metadata) {
                message["metadata"] = metadata.clone();
            }
            message
        });
    let said = inner
        .said
        .iter()
        .filter(|m| m.team == team && m.channel == channel && wanted(&m.ts, m.thread_ts.as_deref()))
        .map(|m| {
            let mut message = json!({
                "type": "message", "text": m.text, "ts": m.ts, "user": m.user,
                "team": m.team,
            });
            if let Some(thread) = &m.thread_ts {
                message["thread_ts"] = thread.clone().into();
            }
            message
        });
    let mut found: Vec<Value> = posted.chain(said).collect();
    found.sort_by(|a, b| {
        let ts = |m: &Value| number(m["ts"].as_str().unwrap_or("0"));
        ts(a).total_cmp(&ts(b))
    });
    if method == "conversations.history" {
        found.reverse();
    }
    found
}

/// `total` generated items, a page at a time. Cursors end in `=` as Slack's often do, so a
/// client that does not URL-encode them breaks here as it would there.
fn page(args: &Args, total: usize, key: &str, item: impl Fn(usize) -> Value) -> Response {
    let limit = arg(args, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(100)
        .clamp(1, 1000);
    let start = match arg(args, "cursor") {
        None => 0,
        Some(cursor) => match cursor
            .strip_prefix("sim-page-")
            .and_then(|c| c.strip_suffix('='))
            .and_then(|c| c.parse::<usize>().ok())
        {
            Some(start) => start,
            None => return slack_error("invalid_cursor"),
        },
    };
    let end = (start + limit).min(total);
    let items: Vec<Value> = (start..end).map(item).collect();
    let next = if end < total {
        format!("sim-page-{end}=")
    } else {
        String::new()
    };
    let mut body = json!({"has_more": end < total, "response_metadata": {"next_cursor": next}});
    body[key] = Value::Array(items);
    ok(body)
}

fn channel(id: &str, n: usize) -> Value {
    json!({
        "id": id, "name": format!("channel-{n}"), "is_channel": true, "is_group": false,
        "is_im": false, "is_private": false, "is_archived": false, "is_member": true,
        "num_members": 3, "topic": {"value": "", "creator": "", "last_set": 0},
    })
}

fn user(id: &str, n: usize, team: &str) -> Value {
    json!({
        "id": id, "team_id": team, "name": format!("user{n}"), "real_name": format!("User {n}"),
        "deleted": false, "is_bot": false, "tz": "Europe/Berlin",
        "profile": {"display_name": format!("user{n}"), "email": format!("user{n}@sim.example")},
    })
}
