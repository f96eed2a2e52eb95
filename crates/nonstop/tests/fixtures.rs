//! Every payload in the official SDKs' fixtures (see tests/fixtures/SOURCES.md) parses, keeps
//! every field it had, and goes through a running bot: acked, routed, no listener failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use common::{Harness, WAIT};
use nonstop::model::{
    BlockActions, EventCallback, MessageEvent, ParsedFrame, Shortcut, SlashCommand, ViewPayload,
};
use nonstop::{App, Context, Envelope, MemberJoinedChannel, ReactionEvent};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn json_files(dir: &Path) -> Vec<(String, Value)> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let text = std::fs::read_to_string(&path).unwrap();
                let value = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
                files.push((path.display().to_string(), value));
            }
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

fn frames() -> Vec<(String, String)> {
    let mut frames = Vec::new();
    for source in ["python-slack-sdk", "bolt-python"] {
        let path = fixtures().join(source).join("socket_mode_frames.jsonl");
        let text = std::fs::read_to_string(&path).unwrap();
        for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            frames.push((format!("{source} frame {}", n + 1), line.to_owned()));
        }
    }
    frames
}

/// Reads `value` into `T` and checks that writing `T` back loses no field of `value`.
fn parses_and_keeps_fields<T: DeserializeOwned + Serialize>(what: &str, value: &Value) -> T {
    let parsed: T = serde_json::from_value(value.clone()).unwrap_or_else(|e| {
        panic!(
            "{what}: does not parse as {}: {e}",
            std::any::type_name::<T>()
        )
    });
    let back = serde_json::to_value(&parsed).unwrap();
    if let Some(original) = value.as_object() {
        for key in original.keys() {
            assert!(
                back.get(key).is_some(),
                "{what}: field `{key}` lost by {}",
                std::any::type_name::<T>()
            );
        }
    }
    parsed
}

/// Parses an event by its type into the typed struct nonstop offers for it, if any.
fn check_event(what: &str, event: &Value) {
    match event["type"].as_str().unwrap_or_default() {
        "message" | "app_mention" => {
            parses_and_keeps_fields::<MessageEvent>(what, event);
        }
        "reaction_added" | "reaction_removed" => {
            parses_and_keeps_fields::<ReactionEvent>(what, event);
        }
        "member_joined_channel" => {
            parses_and_keeps_fields::<MemberJoinedChannel>(what, event);
        }
        // Everything else reaches listeners as raw JSON: nothing to parse beyond it.
        _ => {}
    }
}

fn check_interaction(what: &str, payload: &Value) {
    match payload["type"].as_str().unwrap_or_default() {
        "block_actions" => {
            let body = parses_and_keeps_fields::<BlockActions>(what, payload);
            assert!(!body.actions.is_empty(), "{what}: no actions");
        }
        "shortcut" | "message_action" => {
            parses_and_keeps_fields::<Shortcut>(what, payload);
        }
        "view_submission" | "view_closed" => {
            parses_and_keeps_fields::<ViewPayload>(what, payload);
        }
        _ => {}
    }
}

#[test]
fn every_socket_mode_frame_in_the_sdk_fixtures_parses() {
    let frames = frames();
    assert!(frames.len() >= 10, "fixtures missing: {}", frames.len());
    for (what, frame) in &frames {
        let parsed = ParsedFrame::parse(frame.as_bytes()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let value: Value = serde_json::from_str(frame).unwrap();
        let payload = &value["payload"];
        match parsed {
            ParsedFrame::Envelope { kind, .. } => match kind.as_str() {
                "events_api" => {
                    let callback: EventCallback = parses_and_keeps_fields(what, payload);
                    check_event(what, &callback.event);
                }
                "slash_commands" => {
                    let command: SlashCommand = parses_and_keeps_fields(what, payload);
                    assert!(command.command.starts_with('/'), "{what}");
                }
                "interactive" => check_interaction(what, payload),
                other => panic!("{what}: unexpected envelope type {other}"),
            },
            ParsedFrame::Hello { .. } | ParsedFrame::Disconnect { .. } => {}
            ParsedFrame::Unknown { kind } => panic!("{what}: unknown frame {kind}"),
        }
    }
}

#[test]
fn every_java_sdk_sample_payload_parses_and_keeps_its_fields() {
    let events = json_files(&fixtures().join("java-slack-sdk/events"));
    assert_eq!(events.len(), 96);
    for (what, payload) in &events {
        let callback: EventCallback = parses_and_keeps_fields(what, payload);
        assert!(callback.event_type().is_some(), "{what}: no event type");
        check_event(what, &callback.event);
    }
    let backend = json_files(&fixtures().join("java-slack-sdk/app-backend"));
    assert_eq!(backend.len(), 9);
    for (what, payload) in &backend {
        if what.contains("slash-commands") {
            parses_and_keeps_fields::<SlashCommand>(what, payload);
        } else {
            check_interaction(what, payload);
        }
    }
}

/// Every fixture as an envelope from the simulator, into a bot with a listener of each kind.
#[tokio::test]
async fn every_fixture_goes_through_a_running_bot() {
    let seen = Arc::new(AtomicUsize::new(0));
    let raw = Arc::clone(&seen);
    let h = Harness::start_app(move |config| {
        App::new(config)
            .on_envelope(move |_ctx: Context, _envelope: Envelope| {
                let raw = Arc::clone(&raw);
                async move {
                    raw.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            // Typed listeners that the fixtures match: a payload that failed to parse would
            // be a listener failure.
            .event("*", |_ctx: Context, _e: Value| async { Ok(()) })
            .event("reaction_added", |_ctx: Context, _e: ReactionEvent| async {
                Ok(())
            })
            .event(
                "member_joined_channel",
                |_ctx: Context, _e: MemberJoinedChannel| async { Ok(()) },
            )
            .event("app_mention", |_ctx: Context, _e: MessageEvent| async {
                Ok(())
            })
            .command(
                "/hello-socket-mode",
                |_ctx: Context, _c: SlashCommand| async { Ok(()) },
            )
            .command("/command", |_ctx: Context, _c: SlashCommand| async {
                Ok(())
            })
            .shortcut("do-something", |_ctx: Context, _s: Shortcut| async {
                Ok(())
            })
    })
    .await;
    h.wait_live(2).await;

    let mut sent = 0;
    let mut send = |kind: &str, mut payload: Value, accepts: bool| {
        // Fixtures reuse event ids (or leave them empty); Slack never does, and the journal
        // would rightly drop a reused one as a duplicate.
        if payload.get("event_id").is_some() {
            payload["event_id"] = format!("EvFixture{sent}").into();
        }
        h.sim().send_envelope(kind, payload, accepts);
        sent += 1;
    };
    for (_what, frame) in frames() {
        let value: Value = serde_json::from_str(&frame).unwrap();
        let Some(kind) = value["type"]
            .as_str()
            .filter(|_| value.get("envelope_id").is_some())
        else {
            continue;
        };
        let accepts = value["accepts_response_payload"].as_bool().unwrap_or(false);
        send(kind, value["payload"].clone(), accepts);
    }
    for (_what, payload) in json_files(&fixtures().join("java-slack-sdk/events")) {
        send("events_api", payload, false);
    }
    for (what, payload) in json_files(&fixtures().join("java-slack-sdk/app-backend")) {
        let kind = if what.contains("slash-commands") {
            "slash_commands"
        } else {
            "interactive"
        };
        send(kind, payload, false);
    }

    assert!(
        h.sim()
            .wait_for_stats(WAIT, |s| s.acks as usize >= sent && s.pending == 0)
            .await,
        "not every fixture was acked: {:?}",
        h.sim().stats()
    );
    assert!(
        h.status()
            .wait_for(WAIT, |s| s.handled + s.failed >= sent as u64)
            .await,
        "not every fixture was handled: {:?}",
        h.status().snapshot()
    );
    let status = h.status().snapshot();
    assert_eq!(
        status.failed, 0,
        "a listener failed on a fixture: {status:?}"
    );
    assert_eq!(status.panicked, 0);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        sent,
        "each fixture reached the bot once"
    );
    h.stop().await.unwrap();
}
