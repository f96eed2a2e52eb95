//! The ticket command against the simulator: ack payload, modal, validation, announcement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nonstop::Config;
use nonstop_sim::{Sim, SimConfig};
use serde_json::{json, Value};

const WAIT: Duration = Duration::from_secs(20);

fn submission(view_id: &str, title: &str, urgency: &str, channel: &str) -> Value {
    json!({
        "type": "view_submission", "team": {"id": "T0SIM"}, "user": {"id": "U1"},
        "view": {"id": view_id, "callback_id": nonstop_example_tickets::FORM, "type": "modal",
                 "private_metadata": channel,
                 "state": {"values": {
                     "title": {"value": {"type": "plain_text_input", "value": title}},
                     "urgency": {"value": {"type": "static_select",
                                           "selected_option": {"value": urgency}}}}}}
    })
}

#[tokio::test]
async fn a_ticket_from_command_to_announcement() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let config = Config::for_simulator(
        &sim.api_url(),
        &sim.config().app_token,
        &sim.config().bot_token,
    )
    .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(nonstop_example_tickets::app(config).run(async move {
        let _ = stopped.await;
    }));

    let envelope = sim.send_slash_command("/ticket", "printer on fire", "C42", "U1");
    let ack = sim.wait_for_ack(&envelope, WAIT).await.unwrap();
    assert_eq!(ack.payload.unwrap()["text"], "Opening the ticket form…");
    let open = sim
        .wait_for_call("views.open", WAIT, |_| true)
        .await
        .unwrap();
    assert!(open.args["trigger_id"]
        .as_str()
        .unwrap()
        .ends_with(".trigger.sim"));
    let view = &open.args["view"];
    assert_eq!(view["callback_id"], "ticket_form");
    assert_eq!(view["private_metadata"], "C42");
    assert_eq!(
        view["blocks"][0]["element"]["initial_value"],
        "printer on fire"
    );

    // Too short: the form shows an error and nothing is announced.
    let envelope = sim.send_envelope("interactive", submission("V1", "hm", "low", "C42"), true);
    let ack = sim.wait_for_ack(&envelope, WAIT).await.unwrap();
    let payload = ack.payload.unwrap();
    assert_eq!(payload["response_action"], "errors");
    assert!(payload["errors"]["title"]
        .as_str()
        .unwrap()
        .contains("5 characters"));

    let envelope = sim.send_envelope(
        "interactive",
        submission("V1", "Printer on fire", "high", "C42"),
        true,
    );
    let ack = sim.wait_for_ack(&envelope, WAIT).await.unwrap();
    assert_eq!(ack.payload.unwrap()["response_action"], "clear");
    let post = sim
        .wait_for_post(WAIT, |p| p.text.starts_with("Ticket #"))
        .await
        .unwrap();
    assert_eq!(
        post.text,
        "Ticket #1 opened by <@U1>: Printer on fire (high)"
    );
    assert_eq!(post.channel, "C42");

    let envelope = sim.send_envelope(
        "interactive",
        submission("V2", "Coffee machine empty", "normal", "C42"),
        true,
    );
    sim.wait_for_ack(&envelope, WAIT).await.unwrap();
    sim.wait_for_post(WAIT, |p| p.text.starts_with("Ticket #2 "))
        .await
        .unwrap();
    assert_eq!(
        sim.posted()
            .iter()
            .filter(|p| p.text.starts_with("Ticket #"))
            .count(),
        2
    );

    let _ = stop.send(());
    run.await.unwrap().unwrap();
}
