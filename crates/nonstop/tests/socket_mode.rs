//! The bot against the simulator over real loopback sockets: the happy path and every fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;


use common::{assert_each_answered_once, Harness, WAIT};
use nonstop_sim::{Fault, MessageSpec};

#[tokio::test]
async fn answers_ping_in_channel_and_in_thread() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let post = h.ping("hello").await;
    assert_eq!(post.channel, "C1");
    assert_eq!(post.thread_ts, None);

    h.sim
        .send_message(MessageSpec::new("C2", "U1", "ping threaded").in_thread("1700000000.000001"));
    let post = h.expect_post("pong threaded").await;
    assert_eq!(post.channel, "C2");
    assert_eq!(post.thread_ts.as_deref(), Some("1700000000.000001"));
    h.stop().await.unwrap();
}

#[tokio::test]
async fn never_answers_its_own_messages() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let bot_user = h.sim.config().bot_user_id.clone();
    h.sim
        .send_message(MessageSpec::new("C1", &bot_user, "ping from myself"));
    // A later message is answered, so the earlier one had its chance.
    h.ping("after").await;
    assert_eq!(h.count_posts("pong from myself"), 0);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn status_reports_connections_and_last_disconnect() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim.inject(Fault::Drop { target: None });
    assert!(
        h.status
            .wait_for(WAIT, |s| s.reconnects >= 1 && s.live_connections == 2)
            .await
    );
    h.sim.send_message(MessageSpec::new("C1", "U1", "status"));
    let post = h
        .sim
        .wait_for_post(WAIT, |p| p.text.starts_with("up "))
        .await
        .expect("status answered");
    assert!(post.text.contains("2 live connections"), "{}", post.text);
    assert!(post.text.contains("1 reconnect"), "{}", post.text);
    assert!(post.text.contains("eof_without_close"), "{}", post.text);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn abrupt_drop_is_named_and_recovered_without_losing_events() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let opened = h.sim.stats().sockets_opened;
    h.sim.inject(Fault::Drop { target: None });
    let tags: Vec<String> = (0..20).map(|i| format!("drop-{i}")).collect();
    for tag in &tags {
        h.sim
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert!(
        h.sim
            .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
            .await
    );
    h.wait_live(2).await;
    let last = h
        .status
        .snapshot()
        .last_disconnect
        .expect("a disconnect was recorded");
    assert!(
        last.cause.starts_with("eof_without_close"),
        "{}",
        last.cause
    );
    assert_each_answered_once(&h, &tags).await;
    h.stop().await.unwrap();
}
