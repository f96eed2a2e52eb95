//! A burst of concurrent calls leaves no more open connections behind than the client's
//! turns (`ClientOptions::max_in_flight`). A test binary of its own: it counts the open
//! sockets of its process, which other tests running beside it would change.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop_model::web::PostMessageRequest;
use nonstop_sim::{Sim, SimConfig};
use nonstop_web::{ClientOptions, Secret, WebClient};

/// Sockets this process has open (client and simulator ends alike).
fn open_sockets() -> usize {
    let Ok(fds) = std::fs::read_dir("/proc/self/fd") else {
        return 0;
    };
    fds.filter_map(Result::ok)
        .filter(|fd| {
            std::fs::read_link(fd.path())
                .map(|target| target.to_string_lossy().starts_with("socket:"))
                .unwrap_or(false)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_calls_opens_no_more_connections_than_turns() {
    const TURNS: usize = 4;
    const CALLS: usize = 64;
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let token = Secret::new(sim.config().bot_token.clone());
    let options = ClientOptions {
        max_in_flight: TURNS,
        post_pace: None,
        ..ClientOptions::default()
    };
    let web = WebClient::with_options(&sim.api_url(), Some(token), options).unwrap();
    let before = open_sockets();

    let mut calls = tokio::task::JoinSet::new();
    for i in 0..CALLS {
        let web = web.clone();
        calls.spawn(async move {
            web.chat_post_message(&PostMessageRequest::text("C1", format!("m{i}")))
                .await
        });
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(sim.calls("chat.postMessage").len(), CALLS);

    // Each connection is two sockets here: the client's end and the simulator's.
    let opened = open_sockets().saturating_sub(before);
    assert!(
        opened <= 2 * TURNS,
        "{opened} sockets left open by {CALLS} calls with {TURNS} turns"
    );
    assert!(opened >= 2, "the calls left no connection to reuse");
}
