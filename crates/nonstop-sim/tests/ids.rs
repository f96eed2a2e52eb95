//! The simulator's ids stay unique across its starts (issue 27: after a simulator restart, a
//! click reused an envelope id the bot's journal remembered and was dropped as a duplicate).
#![allow(clippy::unwrap_used)]

use nonstop_sim::{MessageSpec, Sim, SimConfig};

#[tokio::test]
async fn a_simulator_started_again_sends_ids_the_first_never_sent() {
    let first = Sim::start(SimConfig::default()).await.unwrap();
    let a: Vec<String> = (0..3)
        .map(|i| first.send_message(MessageSpec::new("C1", "U1", &format!("a{i}"))))
        .collect();
    drop(first);
    let again = Sim::start(SimConfig::default()).await.unwrap();
    let b: Vec<String> = (0..3)
        .map(|i| again.send_message(MessageSpec::new("C1", "U1", &format!("b{i}"))))
        .collect();
    assert!(a.iter().all(|id| !b.contains(id)), "{a:?} then {b:?}");
}
