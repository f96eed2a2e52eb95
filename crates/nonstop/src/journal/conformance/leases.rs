//! The lease role ([`LeaseStore`]): a store one process owns shares nothing (no lease, no
//! takeover, every socket its own, no held calls); a shared one has a lease and keeps a
//! Retry-After for every process. Redis's own tests run the cross-process cases with several
//! stores on one server.

use std::time::Duration;

use super::support::ok;
use crate::journal::{LeaseStore, SocketShare};

/// Every lease rule against `store`.
pub fn run(store: &dyn LeaseStore) {
    if store.is_shared() {
        shared_store_has_a_lease_and_holds_calls(store);
    } else {
        owned_store_shares_nothing(store);
    }
}

fn owned_store_shares_nothing(store: &dyn LeaseStore) {
    assert_eq!(store.lease(), None, "a store one process owns has no lease");
    let taken = ok(store.take_over(10), "take over");
    assert!(
        taken.entries.is_empty() && taken.outputs.is_empty(),
        "nothing to take over: {taken:?}"
    );
    for _ in 0..20 {
        // More than Slack's 10: nobody else counts against it.
        assert!(matches!(
            ok(store.take_socket(10), "take socket"),
            SocketShare::Taken
        ));
    }
    ok(
        store.hold_calls("chat.postMessage:C1", Duration::from_secs(30)),
        "hold",
    );
    assert_eq!(
        ok(store.calls_held_for("chat.postMessage:C1"), "held"),
        None,
        "nobody to hold for"
    );
}

fn shared_store_has_a_lease_and_holds_calls(store: &dyn LeaseStore) {
    assert!(
        store.lease().is_some_and(|lease| !lease.is_zero()),
        "a shared store has a lease"
    );
    assert_eq!(ok(store.calls_held_for("conformance:C1"), "not held"), None);
    ok(
        store.hold_calls("conformance:C1", Duration::from_secs(30)),
        "hold",
    );
    let held = ok(store.calls_held_for("conformance:C1"), "held");
    assert!(
        held.is_some_and(|left| left > Duration::ZERO && left <= Duration::from_secs(30)),
        "a Retry-After is kept for every process: {held:?}"
    );
    assert_eq!(
        ok(store.calls_held_for("conformance:C2"), "another key"),
        None
    );
}
