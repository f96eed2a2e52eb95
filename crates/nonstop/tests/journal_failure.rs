//! A journal that cannot write (disk full, read-only): nothing is acked, so Slack keeps the
//! events; when writes work again, the redeliveries are handled, once each.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{bot_config, sim_config, Harness, WAIT};
use nonstop::journal::ProbeStore;
use nonstop::App;
use nonstop_sim::{MessageSpec, Sim};

#[tokio::test]
async fn nothing_is_acked_while_the_journal_cannot_write_and_all_is_handled_after() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let store = Arc::new(ProbeStore::new());
    let app = App::new(bot_config(&sim))
        .with_builtin_commands()
        .with_store(store.clone());
    let h = Harness::launch(sim, app);
    h.wait_live(2).await;
    let (sim, status) = (h.sim(), h.status());

    store.refuse_writes(true);
    let acks_before = sim.stats().acks;
    for i in 0..5 {
        sim.send_message(MessageSpec::new("C1", "U1", &format!("ping full-{i}")));
    }
    // Slack redelivers what we did not ack (after 1 s in tests): proof nothing was acked.
    assert!(
        sim.wait_for_stats(WAIT, |s| s.redeliveries >= 5).await,
        "{:?}",
        sim.stats()
    );
    assert_eq!(
        sim.stats().acks,
        acks_before,
        "acked while the journal could not write"
    );
    assert!(status.snapshot().refused >= 5, "{:?}", status.snapshot());
    assert!(sim.posted().is_empty(), "handled without being journaled");

    store.refuse_writes(false);
    for i in 0..5 {
        let text = format!("pong full-{i}");
        assert!(
            sim.wait_for_post(WAIT, |p| p.text == text).await.is_some(),
            "{text} never came: {:?} {:?}",
            sim.stats(),
            status.snapshot()
        );
    }
    h.settled().await;
    for i in 0..5 {
        let text = format!("pong full-{i}");
        assert_eq!(h.count_posts(&text), 1, "{text}");
    }
    h.stop().await.unwrap();
}

/// A journal writer that dies (here: its store panics, as a backend with a bug would) stops
/// the bot with the writer named, instead of leaving a bot whose sockets stay up while nothing
/// is journaled, acked or answered.
#[tokio::test]
async fn a_dead_journal_writer_stops_the_bot_naming_it() {
    let store = Arc::new(ProbeStore::new());
    let h = common::Harness::start_app(|config| {
        App::new(config)
            .with_builtin_commands()
            .with_store(store.clone())
    })
    .await;
    h.wait_live(2).await;
    store.panic_on_write(true);
    h.sim()
        .send_message(MessageSpec::new("C1", "U1", "ping into a dead journal"));
    // `finished` fails the test if the bot runs on without its journal writer.
    let error = h.finished().await.unwrap_err();
    assert!(
        matches!(
            error,
            nonstop::Error::TaskDied {
                task: "journal writer",
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("restart"), "{error}");
}
