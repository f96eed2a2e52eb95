//! Catch-up after downtime, over real loopback sockets: what was said while the bot could
//! not hear is fetched from history, answered once, oldest first, and marked as catch-up.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{journal_released, sim_config, Harness, WAIT};
use nonstop::{App, Config, Context, HandlerResult, Message};
use nonstop_sim::{Fault, MessageSpec, Sim, TempJournal};

/// What the listener saw: (tag, caught up, attempt), in the order handlers started.
type Seen = Arc<Mutex<Vec<(String, bool, u32)>>>;

/// An RTM bot that answers `away X` with `pong X` and notes how it heard each.
fn app(config: Config, seen: &Seen) -> App {
    let seen = Arc::clone(seen);
    App::new(config).hears(r"^away (\S+)$", move |ctx: Context, m: Message| {
        let seen = Arc::clone(&seen);
        async move {
            let tag = m.capture(1).unwrap_or_default().to_owned();
            seen.lock()
                .unwrap()
                .push((tag.clone(), ctx.is_catch_up(), ctx.attempt()));
            ctx.say(&format!("pong {tag}")).await?;
            HandlerResult::Ok(())
        }
    })
}

fn rtm_config(sim: &Sim) -> Config {
    let mut config = common::rtm_bot_config(sim);
    // Scaled down from 10 s, as the other intervals of the tests are.
    config.catch_up_after = Duration::from_secs(1);
    config
}

fn count(h: &Harness, text: &str) -> usize {
    h.sim().posted().iter().filter(|p| p.text == text).count()
}

#[tokio::test]
async fn what_was_said_during_an_outage_is_answered_once_oldest_first() {
    let seen: Seen = Seen::default();
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = rtm_config(&sim);
    let h = Harness::launch(sim, app(config, &seen));
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "away before"));
    h.expect_post("pong before").await;

    // Both sockets dropped; rtm.connect fails for 3 s. RTM sends nothing said meanwhile.
    h.sim().inject(Fault::Outage {
        secs: 3.0,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    let tags: Vec<String> = (0..9).map(|i| format!("gone-{i}")).collect();
    for (i, tag) in tags.iter().enumerate() {
        let channel = ["C1", "C2", "C3"][i % 3];
        h.sim()
            .send_message(MessageSpec::new(channel, "U1", &format!("away {tag}")));
    }
    assert!(
        h.sim().stats().rtm_events_missed >= tags.len() as u64,
        "the simulator sent them to a live socket: {:?}",
        h.sim().stats()
    );

    h.wait_live(2).await;
    for tag in &tags {
        h.expect_post(&format!("pong {tag}")).await;
    }
    // Every caught-up message is answered; nothing is left in flight to answer twice.
    h.settled().await;
    for tag in tags.iter().chain(std::iter::once(&"before".to_owned())) {
        assert_eq!(count(&h, &format!("pong {tag}")), 1, "pong {tag}");
    }
    let seen = seen.lock().unwrap().clone();
    let caught: Vec<&str> = seen
        .iter()
        .filter(|(_, catch_up, _)| *catch_up)
        .map(|(tag, _, _)| tag.as_str())
        .collect();
    // Each missed message once, in the order it was said; the one heard live, not again.
    assert_eq!(caught, tags.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(seen.iter().all(|(_, _, attempt)| *attempt == 0));
    assert_eq!(h.status().snapshot().caught_up, tags.len() as u64);
    // History was read from before the outage began, in every conversation.
    let reads = h.sim().calls("conversations.history");
    for channel in ["C1", "C2", "C3"] {
        assert!(
            reads.iter().any(|c| c.args["channel"] == channel),
            "{channel} not read: {reads:?}"
        );
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_in_the_middle_of_catch_up_doubles_nothing() {
    let db = TempJournal::new("catch-up-restart");
    let seen: Seen = Seen::default();
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = |sim: &Sim| {
        let mut config = rtm_config(sim);
        config.journal_path = Some(db.0.clone());
        // One handler at a time, so that the second life ends with catch-up half done.
        config.max_concurrent_handlers = 1;
        config
    };

    // First life: heard one message live, then the process died.
    let first = config(&sim);
    let h = Harness::launch(sim, app(first, &seen));
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "away first"));
    h.expect_post("pong first").await;
    let sim = h.crash().await;
    journal_released(&db.0).await;

    // Said while no bot ran.
    let tags: Vec<String> = (0..30).map(|i| format!("down-{i}")).collect();
    for (i, tag) in tags.iter().enumerate() {
        let channel = ["C1", "C2", "C3"][i % 3];
        sim.send_message(MessageSpec::new(channel, "U1", &format!("away {tag}")));
    }
    // Not a window: the scenario's downtime. Catch-up runs after a gap longer than
    // `catch_up_after` (1 s here), so the bot stays down that long.
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // Second life: catch-up starts, and the process dies again part of the way through.
    let second = config(&sim);
    let h = Harness::launch(sim, app(second, &seen));
    assert!(
        // The first life's answer and five caught up.
        h.sim().wait_for_stats(WAIT, |s| s.posted >= 6).await,
        "catch-up answered nothing: {:?}",
        h.status().snapshot()
    );
    let sim = h.crash().await;
    journal_released(&db.0).await;
    let answered_before = sim.posted_count();
    assert!(
        answered_before < 1 + tags.len(),
        "catch-up finished before the crash; the test proves nothing"
    );

    // Third life: what the second journaled is replayed, anything it did not reach is
    // caught up again; each answered once in all.
    let third = config(&sim);
    let h = Harness::launch(sim, app(third, &seen));
    for tag in &tags {
        h.expect_post(&format!("pong {tag}")).await;
    }
    h.settled().await;
    for tag in tags.iter().chain(std::iter::once(&"first".to_owned())) {
        assert_eq!(count(&h, &format!("pong {tag}")), 1, "pong {tag}");
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_short_gap_and_a_first_start_fetch_nothing() {
    let seen: Seen = Seen::default();
    let sim = Sim::start(sim_config()).await.unwrap();
    // Something said before the bot ever ran is not its business.
    sim.send_message(MessageSpec::new("C1", "U1", "away old"));
    let mut config = rtm_config(&sim);
    config.catch_up_after = Duration::from_secs(30);
    let h = Harness::launch(sim, app(config, &seen));
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    h.sim().inject(Fault::DropAll);
    assert!(
        h.sim()
            .wait_for_stats(WAIT, |s| s.sockets_opened >= opened + 2)
            .await
    );
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "away live"));
    h.expect_post("pong live").await;
    assert!(h.sim().calls("conversations.history").is_empty());
    assert_eq!(count(&h, "pong old"), 0);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn catch_up_can_be_turned_off() {
    let seen: Seen = Seen::default();
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = rtm_config(&sim);
    config.catch_up = false;
    let h = Harness::launch(sim, app(config, &seen));
    h.wait_live(2).await;
    h.sim().inject(Fault::Outage {
        secs: 2.0,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "away lost"));
    h.wait_live(2).await;
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "away heard"));
    h.expect_post("pong heard").await;
    assert!(h.sim().calls("conversations.history").is_empty());
    assert_eq!(count(&h, "pong lost"), 0);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_socket_mode_socket_found_dead_is_caught_up_without_doubles() {
    let seen: Seen = Seen::default();
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = common::bot_config(&sim);
    let h = Harness::launch(sim, app(config, &seen));
    h.wait_live(2).await;
    h.sim().inject(Fault::HalfOpen { target: None });
    // Some of these go to the silent socket; Slack retries them elsewhere, and catch-up
    // reads them from history too: each is answered once either way.
    let tags: Vec<String> = (0..10).map(|i| format!("half-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("away {tag}")));
    }
    assert!(
        h.status()
            .wait_for(WAIT, |s| s
                .last_disconnect
                .as_ref()
                .is_some_and(|d| d.cause.starts_with("dead(")))
            .await
    );
    assert!(
        h.sim()
            .wait_for_call("conversations.history", WAIT, |c| c.args["channel"] == "C1")
            .await
            .is_some(),
        "no catch-up after a dead socket"
    );
    for tag in &tags {
        h.expect_post(&format!("pong {tag}")).await;
    }
    h.settled().await;
    for tag in &tags {
        assert_eq!(count(&h, &format!("pong {tag}")), 1, "pong {tag}");
    }
    h.stop().await.unwrap();
}
