//! The approval workflow against the simulator: request, self-approval refused, decision,
//! later reactions ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nonstop::Config;
use nonstop_sim::{Sim, SimConfig};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

fn reaction(user: &str, name: &str, ts: &str) -> serde_json::Value {
    json!({"type": "reaction_added", "user": user, "reaction": name, "item_user": "U1",
           "item": {"type": "message", "channel": "C1", "ts": ts}, "event_ts": "999.0"})
}

#[tokio::test]
async fn requests_are_decided_once_by_someone_else() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let config = Config::for_simulator(
        &sim.api_url(),
        &sim.config().app_token,
        &sim.config().bot_token,
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(nonstop_example_approvals::app(config).run(async move {
        let _ = stopped.await;
    }));

    sim.send_event(
        json!({"type": "message", "channel": "C1", "channel_type": "channel",
        "user": "U1", "text": "request: buy a 3D printer", "ts": "100.0"}),
    );
    let waiting = sim
        .wait_for_post(WAIT, |p| p.text.starts_with("Waiting for approval"))
        .await
        .unwrap();
    assert_eq!(waiting.thread_ts.as_deref(), Some("100.0"));

    // The requester's own ✅ is refused, privately.
    sim.send_event(reaction("U1", "white_check_mark", "100.0"));
    let refusal = sim
        .wait_for_call("chat.postEphemeral", WAIT, |_| true)
        .await
        .unwrap();
    assert_eq!(refusal.args["user"], "U1");

    // Reactions on other messages and other emoji change nothing.
    sim.send_event(reaction("U2", "white_check_mark", "50.0"));
    sim.send_event(reaction("U2", "tada", "100.0"));

    sim.send_event(reaction("U2", "white_check_mark", "100.0"));
    let approved = sim
        .wait_for_post(WAIT, |p| p.text.starts_with("Approved"))
        .await
        .unwrap();
    assert_eq!(approved.text, "Approved by <@U2>: buy a 3D printer");
    assert_eq!(approved.thread_ts.as_deref(), Some("100.0"));

    // Decided already: a later ❌ does nothing. The ping after it shows the bot is still
    // answering, so the ❌ had its chance to post.
    sim.send_event(reaction("U3", "x", "100.0"));
    sim.send_event(
        json!({"type": "message", "channel": "C1", "channel_type": "channel",
        "user": "U1", "text": "request: more coffee", "ts": "101.0"}),
    );
    sim.wait_for_post(WAIT, |p| p.thread_ts.as_deref() == Some("101.0"))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decisions: Vec<String> = sim
        .posted()
        .into_iter()
        .filter(|p| p.text.starts_with("Approved") || p.text.starts_with("Rejected"))
        .map(|p| p.text)
        .collect();
    assert_eq!(decisions, vec!["Approved by <@U2>: buy a 3D printer"]);

    // The second request is rejected.
    sim.send_event(reaction("U3", "x", "101.0"));
    let rejected = sim
        .wait_for_post(WAIT, |p| p.text.starts_with("Rejected"))
        .await
        .unwrap();
    assert_eq!(rejected.text, "Rejected by <@U3>: more coffee");

    let _ = stop.send(());
    run.await.unwrap().unwrap();
}
