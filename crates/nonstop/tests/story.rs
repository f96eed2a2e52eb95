//! The story nonstop was built for, as a test. A classic bot on RTM: its socket closes with
//! no close frame (what the old log called 1006), `rtm.connect` then fails for far longer
//! than the old framework's three attempts in fifteen seconds (503s, then `ok:false`, then
//! URLs whose upgrade is refused), and people keep talking to the bot meanwhile. Compressed
//! in time: the intervals are the tests' short ones (backoff cap 500 ms, catch-up after 1 s).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{capture_logs, open_failures, sim_config, Harness, WAIT};
use nonstop::{App, LifecycleChange};
use nonstop_sim::{Fault, MessageSpec, Sim};

#[tokio::test]
async fn a_classic_bot_that_went_offline_stays_online_and_answers_what_it_missed() {
    let (log, _capturing) = capture_logs();
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = common::rtm_bot_config(&sim);
    config.catch_up_after = Duration::from_secs(1);
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    h.ping("morning").await;

    // Hours later the socket is gone without a close frame, and Slack's connect endpoint
    // fails for a while.
    h.sim().inject(Fault::Outage {
        secs: 6.0,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    // People keep talking to the bot, in three channels, all through the outage.
    let tags: Vec<String> = (0..6).map(|i| format!("while-away-{i}")).collect();
    for (i, tag) in tags.iter().enumerate() {
        let channel = ["C1", "C2", "C3"][i % 3];
        h.sim()
            .send_message(MessageSpec::new(channel, "U1", &format!("ping {tag}")));
        // The story's pacing (people talk through the outage), not a window.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Back once the API is: never a wait longer than the backoff cap between tries (so at
    // most one cap after the recovery), and far more tries than the old three.
    h.wait_live(2).await;
    let waits = open_failures(&h);
    assert!(
        waits.len() > 3,
        "the bot gave up as the old one did: {waits:?}"
    );
    assert!(
        waits.iter().all(|w| *w <= Duration::from_millis(500)),
        "a retry waited longer than the cap: {waits:?}"
    );
    let history = h.status().history();
    let lost_at = history
        .iter()
        .position(|r| {
            matches!(
                &r.change,
                LifecycleChange::Closed {
                    cause_kind: "eof_without_close",
                    ..
                }
            )
        })
        .expect("the drop is recorded by its cause");
    assert!(
        history[lost_at..]
            .iter()
            .any(|r| matches!(r.change, LifecycleChange::Live { .. })),
        "{history:#?}"
    );

    // Everything said while it was away is answered, once; and it answers again.
    for tag in &tags {
        h.expect_post(&format!("pong {tag}")).await;
    }
    h.ping("evening").await;
    h.settled().await;
    for tag in tags
        .iter()
        .map(String::as_str)
        .chain(["morning", "evening"])
    {
        assert_eq!(h.count_posts(&format!("pong {tag}")), 1, "pong {tag}");
    }
    assert_eq!(h.status().snapshot().caught_up, tags.len() as u64);

    // And the log says what happened, step by step, in plain words.
    let text = log.text();
    for step in [
        "socket closed",
        "eof_without_close (TCP closed with no WebSocket close frame)",
        "socket did not open",
        "HTTP 503",
        "internal_error",
        "retrying in",
        "socket live",
        "catch-up: read history for what was said while the bot could not hear",
    ] {
        assert!(text.contains(step), "the log never says {step:?}:\n{text}");
    }
    h.stop().await.unwrap();
}
