//! A bot on the RTM API against the simulator over real loopback sockets: the same supervisor,
//! journal and listeners as Socket Mode, with RTM's own frames and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{
    assert_each_answered_once, never_down_during, open_failures, sim_config, Harness, WAIT,
};
use nonstop::{App, Config, Error};
use nonstop_sim::{Fault, MessageSpec, Sim, SimConfig};

/// The test bot, on RTM: only the bot token.
async fn start_rtm(sim_config: SimConfig, tweak: impl FnOnce(&mut Config)) -> Harness {
    let sim = Sim::start(sim_config).await.unwrap();
    let mut config = common::rtm_bot_config(&sim);
    tweak(&mut config);
    Harness::launch(sim, App::new(config).with_builtin_commands())
}

#[tokio::test]
async fn an_rtm_bot_answers_each_message_once_and_never_itself() {
    // Both sockets receive every event, and the simulator echoes each answer back to them.
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    let tags: Vec<String> = (0..10).map(|i| format!("rtm-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert_each_answered_once(&h, &tags).await;
    let stats = h.sim().stats();
    assert!(
        stats.rtm_events_sent >= 2 * tags.len() as u64,
        "each event went to both sockets: {stats:?}"
    );
    // No Socket Mode call was made, and no envelope was sent.
    assert!(h.sim().calls("apps.connections.open").is_empty());
    assert_eq!(stats.envelopes_sent, stats.rtm_events_sent / 2);
    assert_eq!(
        h.status().snapshot().own_messages,
        h.sim().posted_count() as u64 * 2
    );
    h.stop().await.unwrap();
}

#[tokio::test]
async fn an_rtm_socket_dropped_without_a_close_is_named_and_replaced() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    h.drop_one_and_recover(2).await;
    let last = h.status().snapshot().last_disconnect.expect("a disconnect");
    assert!(
        last.cause.starts_with("eof_without_close"),
        "{}",
        last.cause
    );
    // While one socket was down, the other received everything.
    h.ping("after-drop").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_half_open_rtm_socket_is_found_dead() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    h.sim().inject(Fault::HalfOpen { target: None });
    assert!(
        h.status()
            .wait_for(WAIT, |s| s
                .last_disconnect
                .as_ref()
                .is_some_and(|d| d.cause.starts_with("dead(no frame for")))
            .await,
        "half-open RTM socket not declared dead: {:?}",
        h.status().snapshot()
    );
    h.wait_live(2).await;
    h.ping("after-half-open").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn goodbye_is_answered_by_a_replacement_before_the_close() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    let replaced = never_down_during(&h, 1, async {
        h.sim().inject(Fault::Goodbye {
            target: None,
            close_after_secs: 2.0,
        });
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
                .await
        );
        h.wait_live(2).await;
    })
    .await;
    assert_eq!(replaced, 1);
    assert!(h.status().snapshot().last_disconnect.is_none());
    h.ping("after-goodbye").await;
    h.stop().await.unwrap();
}

/// Issue 25's goodbye storm: `goodbye` on both sockets every half second for 10 s, each
/// closed 0.2 s later, while people write 20 messages a second. RTM redelivers nothing, so
/// every moment with no socket live lost messages (165-205 of 400 before): every gap is now
/// caught up from history, the storm's gaps in one read once the sockets settle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_goodbye_storm_loses_no_message() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    let mut tags = Vec::new();
    for round in 0..20 {
        for socket in [0, 1] {
            h.sim().inject(Fault::Goodbye {
                target: Some(socket),
                close_after_secs: 0.2,
            });
        }
        for i in 0..10 {
            let tag = format!("storm-{round}-{i}");
            h.sim()
                .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
            tags.push(tag);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    assert_each_answered_once(&h, &tags).await;
    // Where the storm bit (messages went to no socket: every run so far), they came back
    // from history.
    let missed = h.sim().stats().rtm_events_missed;
    let caught_up = h.status().snapshot().caught_up;
    println!(
        "goodbye storm: {} messages, {missed} events sent to no socket, {caught_up} caught up",
        tags.len()
    );
    assert!(missed == 0 || caught_up > 0, "gaps, and nothing caught up");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn an_rtm_connect_outage_is_outlasted() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    // 503s, then ok:false, then URLs whose upgrade is refused.
    h.sim().inject(Fault::Outage {
        secs: 3.0,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    h.wait_live(2).await;
    let waits = open_failures(&h);
    assert!(waits.len() >= 3, "retries were not made: {waits:?}");
    assert!(
        waits.iter().all(|w| *w <= Duration::from_millis(500)),
        "a retry waited longer than the cap: {waits:?}"
    );
    let failed: Vec<u16> = h
        .sim()
        .calls("rtm.connect")
        .iter()
        .map(|c| c.status)
        .collect();
    assert!(failed.len() >= 3, "{failed:?}");
    h.ping("after-outage").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_rtm_connect_waits_as_told() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    h.sim().inject(Fault::RateLimitMethod {
        method: "rtm.connect".into(),
        secs: 2,
    });
    h.sim().inject(Fault::DropAll);
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    h.wait_live(2).await;
    // The first 429 holds back both slots: a call made meanwhile fails without reaching
    // Slack, so Slack never sees a call inside its Retry-After.
    assert_eq!(h.sim().early_calls(), 0);
    let limited = h
        .sim()
        .calls("rtm.connect")
        .iter()
        .filter(|c| c.status == 429)
        .count();
    assert!((1..=2).contains(&limited), "{limited} calls got a 429");
    let waits = open_failures(&h);
    assert!(
        waits.iter().any(|w| *w >= Duration::from_secs(1)),
        "no slot waited for the Retry-After: {waits:?}"
    );
    h.ping("after-429").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn rtm_start_on_a_new_app_stops_with_the_way_out() {
    let h = start_rtm(sim_config(), |config| config.rtm_start = true).await;
    let result = tokio::time::timeout(WAIT, h.finished())
        .await
        .expect("the bot stopped");
    match result {
        Err(Error::Fatal { cause, fix }) => {
            assert!(cause.contains("method_deprecated"), "{cause}");
            assert!(fix.contains("rtm.connect"), "{fix}");
            assert!(fix.contains("Socket Mode"), "{fix}");
        }
        other => panic!("expected a fatal error, got {other:?}"),
    }
}

#[tokio::test]
async fn an_error_frame_costs_a_log_line_not_the_socket() {
    let h = start_rtm(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    h.sim().inject(Fault::ErrorFrame { target: None });
    h.sim().inject(Fault::Malformed { target: None });
    h.ping("after-error-frame").await;
    assert_eq!(h.sim().stats().sockets_opened, opened);
    assert!(h.status().snapshot().last_disconnect.is_none());
    h.stop().await.unwrap();
}
