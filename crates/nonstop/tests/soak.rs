//! A thousand abrupt drops in a row: the bot comes back every time, still answers, and holds
//! no more tasks or sockets than before.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, WAIT};
use nonstop_sim::Fault;

const DROPS: u64 = 1000;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Pooled HTTP connections and the tasks that serve them come and go with traffic; a leak
/// per drop would show as hundreds.
const SLACK: usize = 4;

/// Waits for a resource count to settle back near `baseline` (sockets close asynchronously).
async fn settles_to(baseline: usize, mut read: impl FnMut() -> usize) -> usize {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = read();
        if now <= baseline + SLACK || tokio::time::Instant::now() > deadline {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_abrupt_drops_leak_nothing() {
    let h = Harness::start_with(common::sim_config(), |config| {
        // Every drop here is deliberate; reconnect at once each time instead of backing off.
        config.backoff_reset_after = Duration::ZERO;
    })
    .await;
    h.wait_live(2).await;
    h.ping("before").await;
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let fds_before = open_fds();

    for i in 0..DROPS {
        let opened = h.sim().stats().sockets_opened;
        h.sim().inject(Fault::Drop {
            target: Some((i % 2) as usize),
        });
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened > opened && s.live_sockets == 2)
                .await,
            "drop {i}: bot did not come back: {:?} / {:?}",
            h.sim().stats(),
            h.status().snapshot()
        );
    }
    h.wait_live(2).await;
    h.ping("after").await;
    let snapshot = h.status().snapshot();
    assert!(snapshot.reconnects >= DROPS, "{snapshot:?}");

    let tasks_after = settles_to(tasks_before, || metrics.num_alive_tasks()).await;
    let fds_after = settles_to(fds_before, open_fds).await;
    assert!(
        tasks_after <= tasks_before + SLACK,
        "tasks grew: {tasks_before} -> {tasks_after}"
    );
    assert!(
        fds_after <= fds_before + SLACK,
        "open files/sockets grew: {fds_before} -> {fds_after}"
    );
    println!("after {DROPS} drops: tasks {tasks_before} -> {tasks_after}, fds {fds_before} -> {fds_after}");
    h.stop().await.unwrap();
}
