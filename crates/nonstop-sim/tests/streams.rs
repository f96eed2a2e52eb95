//! The simulator's streamed messages and agent threads, called as a bot calls them: a stream
//! belongs to one message, is assembled as it goes, refuses appends once stopped or past its
//! lifetime; agent threads keep the status, prompts and title the last calls set.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use nonstop_sim::{Fault, Sim, SimConfig};
use serde_json::{json, Value};

/// `method` with `args` as JSON, with the simulator's bot token: Slack's answer (null when
/// none came).
async fn call(sim: &Sim, method: &str, args: Value) -> Value {
    let sent = reqwest::Client::new()
        .post(format!("{}{method}", sim.api_url()))
        .bearer_auth(&sim.config().bot_token)
        .json(&args)
        .send()
        .await;
    match sent {
        Ok(answer) => answer.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    }
}

#[tokio::test]
async fn a_stream_is_assembled_per_message_and_refuses_appends_once_stopped() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let started = call(
        &sim,
        "chat.startStream",
        json!({"channel": "D1", "thread_ts": "1.000001", "markdown_text": "Hel"}),
    )
    .await;
    assert_eq!(started["ok"], true, "{started}");
    let ts = started["ts"].as_str().unwrap().to_owned();
    let append = |text: &str| json!({"channel": "D1", "ts": ts, "markdown_text": text});
    assert_eq!(
        call(&sim, "chat.appendStream", append("lo, ")).await["ok"],
        true
    );
    let chunks =
        json!({"channel": "D1", "ts": ts, "chunks": [{"type": "markdown_text", "text": "wor"}]});
    assert_eq!(call(&sim, "chat.appendStream", chunks).await["ok"], true);
    let open = sim.stream(&ts).unwrap();
    assert!(open.open);
    assert_eq!(open.text, "Hello, wor");
    let feedback = json!([{"type": "context_actions", "elements": []}]);
    let stop = json!({"channel": "D1", "ts": ts, "markdown_text": "ld!", "blocks": feedback});
    assert_eq!(call(&sim, "chat.stopStream", stop).await["ok"], true);

    let done = sim.stream(&ts).unwrap();
    assert!(!done.open);
    assert_eq!(done.text, "Hello, world!");
    assert_eq!(done.pieces, 4);
    assert_eq!(done.blocks, Some(feedback));
    // The message reads whole in the thread, as a person sees it.
    let posted = sim.posted();
    let message = posted.iter().find(|p| p.ts == ts).unwrap();
    assert_eq!(message.text, "Hello, world!");
    assert_eq!(message.thread_ts.as_deref(), Some("1.000001"));

    // Closed: more is refused, and changes nothing.
    let late = call(&sim, "chat.appendStream", append("again")).await;
    assert_eq!(late["error"], "message_not_in_streaming_state", "{late}");
    let other = json!({"channel": "D1", "ts": "9.999999", "markdown_text": "x"});
    assert_eq!(
        call(&sim, "chat.appendStream", other).await["error"],
        "message_not_found"
    );
    assert_eq!(sim.stream(&ts).unwrap().text, "Hello, world!");
    // Streams live in threads.
    let unthreaded = call(&sim, "chat.startStream", json!({"channel": "D1"})).await;
    assert_eq!(unthreaded["ok"], false);
}

#[tokio::test]
async fn a_stream_left_open_past_its_lifetime_is_ended_as_it_stands() {
    let sim = Sim::start(SimConfig {
        stream_lifetime: Duration::from_millis(200),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let started = call(
        &sim,
        "chat.startStream",
        json!({"channel": "D1", "thread_ts": "1.000001", "markdown_text": "half an"}),
    )
    .await;
    let ts = started["ts"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(250)).await;
    let late = call(
        &sim,
        "chat.appendStream",
        json!({"channel": "D1", "ts": ts, "markdown_text": " answer"}),
    )
    .await;
    assert_eq!(late["error"], "message_not_in_streaming_state");
    let ended = sim.stream(&ts).unwrap();
    assert!(!ended.open);
    assert_eq!(ended.text, "half an");
}

#[tokio::test]
async fn stream_calls_suffer_the_method_faults_a_call_that_was_applied_and_lost_included() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let started = call(
        &sim,
        "chat.startStream",
        json!({"channel": "D1", "thread_ts": "1.000001"}),
    )
    .await;
    let ts = started["ts"].as_str().unwrap().to_owned();
    let append = |text: &str| json!({"channel": "D1", "ts": ts, "markdown_text": text});
    // Applied, then its answer lost: the text is in, the caller cannot know.
    sim.inject(Fault::LoseReply {
        method: "chat.appendStream".into(),
        count: 1,
    });
    assert_eq!(
        call(&sim, "chat.appendStream", append("one ")).await,
        Value::Null
    );
    assert_eq!(sim.stream(&ts).unwrap().text, "one ");
    // Limited: refused, not applied.
    sim.inject(Fault::RateLimitMethod {
        method: "chat.appendStream".into(),
        secs: 60,
    });
    let limited = call(&sim, "chat.appendStream", append("two ")).await;
    assert_eq!(limited["error"], "ratelimited");
    assert_eq!(sim.stream(&ts).unwrap().text, "one ");
}

#[tokio::test]
async fn an_agent_threads_status_prompts_and_title_are_what_the_last_calls_set() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let thread = json!({"channel_id": "D1", "thread_ts": "1.000001"});
    let with = |extra: Value| {
        let mut args = thread.clone();
        for (k, v) in extra.as_object().unwrap() {
            args[k] = v.clone();
        }
        args
    };
    let status = with(json!({"status": "is thinking…"}));
    assert_eq!(
        call(&sim, "assistant.threads.setStatus", status).await["ok"],
        true
    );
    let prompts = json!([{"title": "Summarise", "message": "Summarise this channel"}]);
    let set = with(json!({"prompts": prompts, "title": "Try one"}));
    assert_eq!(
        call(&sim, "assistant.threads.setSuggestedPrompts", set).await["ok"],
        true
    );
    let title = with(json!({"title": "Weekly report"}));
    assert_eq!(
        call(&sim, "assistant.threads.setTitle", title).await["ok"],
        true
    );
    let cleared = with(json!({"status": ""}));
    assert_eq!(
        call(&sim, "assistant.threads.setStatus", cleared).await["ok"],
        true
    );

    let state = sim.agent_thread("D1", "1.000001").unwrap();
    assert_eq!(state.status, "");
    assert_eq!(state.statuses, ["is thinking…", ""]);
    assert_eq!(state.prompts, prompts.as_array().unwrap().clone());
    assert_eq!(state.prompts_title.as_deref(), Some("Try one"));
    assert_eq!(state.title.as_deref(), Some("Weekly report"));
    // Slack shows four prompts at most.
    let five = with(json!({"prompts": vec![json!({"title": "t", "message": "m"}); 5]}));
    let refused = call(&sim, "assistant.threads.setSuggestedPrompts", five).await;
    assert_eq!(refused["ok"], false);
}
