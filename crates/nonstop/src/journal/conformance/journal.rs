//! The journal role ([`JournalStore`](crate::journal::JournalStore)): appends deduplicated across and within batches,
//! marks that move states, arrival order, counts, pruning, and one bot per journal.

use std::time::{Duration, SystemTime};

use super::support::{entry, ok};
use crate::journal::{Appended, EntryState, Mark, NewEntry, Store, StoreError};

/// Every journal rule against `store`, which must hold no entries and no bot's claim.
pub fn run(store: &dyn Store) {
    let t0 = SystemTime::now() - Duration::from_secs(3600);
    appends_dedup_across_and_within_batches(store, t0);
    marks_move_states_and_count_attempts(store);
    unfinished_is_in_arrival_order(store);
    counts_and_recent(store);
    prune_keeps_unfinished_and_bounds_size(store, t0);
    marks_for_one_key_in_one_batch_apply_in_order(store);
    entries_written_as_dispatched(store);
    serves_one_bot(store);
}

fn appends_dedup_across_and_within_batches(store: &dyn Store, t0: SystemTime) {
    let first = ok(
        store.commit(&[entry("a", t0), entry("b", t0), entry("a", t0)], &[]),
        "append a, b, a",
    );
    assert!(
        matches!(first[0], Appended::Fresh { .. }),
        "a is fresh: {first:?}"
    );
    assert!(
        matches!(first[1], Appended::Fresh { .. }),
        "b is fresh: {first:?}"
    );
    assert_eq!(
        first[2],
        Appended::Duplicate,
        "a twice in one batch: {first:?}"
    );
    let (Appended::Fresh { seq: a }, Appended::Fresh { seq: b }) = (first[0], first[1]) else {
        unreachable!()
    };
    assert!(a < b, "arrival numbers increase: {a} {b}");
    let again = ok(
        store.commit(&[entry("a", t0), entry("c", t0)], &[]),
        "append a, c",
    );
    assert_eq!(again[0], Appended::Duplicate, "a in a later batch");
    assert!(matches!(again[1], Appended::Fresh { .. }));
    let stored = ok(store.unfinished(10), "unfinished");
    let a_entry = stored
        .iter()
        .find(|e| e.key == "a")
        .unwrap_or_else(|| panic!("a stored"));
    assert_eq!(a_entry.envelope_id, "env-a");
    assert_eq!(a_entry.kind, "events_api");
    assert!(a_entry.raw.contains("env-a"));
    assert_eq!(a_entry.state, EntryState::Received);
    assert_eq!(a_entry.attempts, 0);
    let drift = a_entry
        .received_at
        .duration_since(t0)
        .unwrap_or_else(|e| e.duration());
    assert!(
        drift < Duration::from_millis(1),
        "received_at kept to the millisecond"
    );
}

fn marks_move_states_and_count_attempts(store: &dyn Store) {
    let key = |k: &str| k.to_owned();
    ok(
        store.commit(
            &[],
            &[
                Mark::Dispatched { key: key("a") },
                Mark::Dispatched { key: key("b") },
            ],
        ),
        "dispatch a, b",
    );
    ok(store.commit(&[], &[Mark::Done { key: key("a") }]), "a done");
    ok(
        store.commit(
            &[],
            &[Mark::Failed {
                key: key("b"),
                error: "boom".into(),
            }],
        ),
        "b failed",
    );
    // A mark for an unknown key is ignored, not an error.
    ok(
        store.commit(&[], &[Mark::Done { key: key("nope") }]),
        "unknown key",
    );
    ok(
        store.commit(&[], &[Mark::Dispatched { key: key("c") }]),
        "dispatch c",
    );
    ok(
        store.commit(&[], &[Mark::Dispatched { key: key("c") }]),
        "dispatch c again",
    );
    let failed = ok(store.recent(10, Some(EntryState::Failed)), "recent failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].key, "b");
    assert_eq!(failed[0].error.as_deref(), Some("boom"));
    assert_eq!(failed[0].attempts, 1);
    let c = ok(store.unfinished(10), "unfinished");
    assert_eq!(c.len(), 1, "only c is unfinished: {c:?}");
    assert_eq!(c[0].state, EntryState::Dispatched);
    assert_eq!(c[0].attempts, 2, "each dispatch counts");
}

fn unfinished_is_in_arrival_order(store: &dyn Store) {
    let now = SystemTime::now();
    let keys: Vec<String> = (0..20).map(|i| format!("order-{i:02}")).collect();
    let batch: Vec<NewEntry> = keys.iter().map(|k| entry(k, now)).collect();
    ok(store.commit(&batch, &[]), "append 20");
    let unfinished = ok(store.unfinished(100), "unfinished");
    let got: Vec<&str> = unfinished
        .iter()
        .map(|e| e.key.as_str())
        .filter(|k| k.starts_with("order-"))
        .collect();
    assert_eq!(got, keys.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(ok(store.unfinished(3), "limit").len(), 3, "limit respected");

    // Received entries after a given one, in order: what waited for the dispatch queue.
    let all = ok(store.received_after(0, 1000), "received after 0");
    assert!(
        all.iter().all(|e| e.state == EntryState::Received),
        "only received entries: {all:?}"
    );
    assert_eq!(all.len(), 20, "the dispatched entry is not among them");
    let fifth = unfinished
        .iter()
        .find(|e| e.key == "order-04")
        .map_or(0, |e| e.seq);
    let next = ok(store.received_after(fifth, 5), "received after order-04");
    let got: Vec<&str> = next.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        got,
        ["order-05", "order-06", "order-07", "order-08", "order-09"]
    );
}

fn counts_and_recent(store: &dyn Store) {
    let counts = ok(store.counts(), "counts");
    let get = |s: EntryState| counts.iter().find(|(c, _)| *c == s).map_or(0, |(_, n)| *n);
    assert_eq!(get(EntryState::Done), 1);
    assert_eq!(get(EntryState::Failed), 1);
    assert_eq!(get(EntryState::Dispatched), 1);
    assert_eq!(get(EntryState::Received), 20);
    let recent = ok(store.recent(2, None), "recent");
    assert_eq!(recent.len(), 2);
    assert!(recent[0].seq > recent[1].seq, "newest first");
    assert_eq!(recent[0].key, "order-19");
}

fn prune_keeps_unfinished_and_bounds_size(store: &dyn Store, t0: SystemTime) {
    // a (done) and b (failed) are old; finish the 20 recent ones too.
    let marks: Vec<Mark> = (0..20)
        .map(|i| Mark::Done {
            key: format!("order-{i:02}"),
        })
        .collect();
    ok(store.commit(&[], &marks), "finish 20");
    let cutoff = t0 + Duration::from_secs(60);
    let removed = ok(store.prune(cutoff, 1_000, 100), "prune by age");
    assert_eq!(removed, 2, "a and b were finished and old");
    assert!(
        ok(store.unfinished(10), "unfinished")
            .iter()
            .any(|e| e.key == "c"),
        "c is old but unfinished: kept"
    );
    // A pruned key can be journaled again (its retention ended).
    let again = ok(
        store.commit(&[entry("a", SystemTime::now())], &[]),
        "a again",
    );
    assert!(matches!(again[0], Appended::Fresh { .. }));
    // Size bound: at most 5 entries left, unfinished ones (a, c) among them; pruned in
    // steps of at most 10.
    let removed = ok(store.prune(t0, 5, 10), "prune by size, first step");
    assert_eq!(removed, 10, "a step stops at its limit");
    let removed = ok(store.prune(t0, 5, 10), "prune by size, second step");
    assert_eq!(removed, 7, "22 entries, bounded to 5");
    let removed = ok(store.prune(t0, 5, 10), "prune by size, nothing left");
    assert_eq!(removed, 0);
    let left: u64 = ok(store.counts(), "counts").iter().map(|(_, n)| n).sum();
    assert_eq!(left, 5);
    let unfinished = ok(store.unfinished(10), "unfinished");
    assert_eq!(unfinished.len(), 2, "{unfinished:?}");
    let newest = ok(store.recent(1, Some(EntryState::Done)), "newest done");
    assert_eq!(newest[0].key, "order-19", "the oldest finished went first");
}
fn marks_for_one_key_in_one_batch_apply_in_order(store: &dyn Store) {
    let now = SystemTime::now();
    let key = |k: &str| k.to_owned();
    ok(
        store.commit(
            &[entry("fold-a", now), entry("fold-b", now)],
            &[
                Mark::Dispatched { key: key("fold-a") },
                Mark::Done { key: key("fold-a") },
                Mark::Dispatched { key: key("fold-b") },
                Mark::Failed {
                    key: key("fold-b"),
                    error: "first".into(),
                },
                Mark::Dispatched { key: key("fold-b") },
            ],
        ),
        "append with marks in one batch",
    );
    let done = ok(store.recent(100, Some(EntryState::Done)), "done");
    let a = done
        .iter()
        .find(|e| e.key == "fold-a")
        .unwrap_or_else(|| panic!("fold-a done"));
    assert_eq!(a.attempts, 1);
    let unfinished = ok(store.unfinished(100), "unfinished");
    let b = unfinished
        .iter()
        .find(|e| e.key == "fold-b")
        .unwrap_or_else(|| panic!("fold-b dispatched again: {unfinished:?}"));
    assert_eq!(b.state, EntryState::Dispatched, "the last mark wins");
    assert_eq!(b.attempts, 2, "both starts count");
    assert_eq!(
        b.error.as_deref(),
        Some("first"),
        "the failure stays on record"
    );
    ok(
        store.commit(&[], &[Mark::Done { key: key("fold-b") }]),
        "finish fold-b",
    );
}

fn entries_written_as_dispatched(store: &dyn Store) {
    let now = SystemTime::now();
    let sent = NewEntry {
        dispatched: true,
        ..entry("straight-on", now)
    };
    let appended = ok(
        store.commit(std::slice::from_ref(&sent), &[]),
        "append as dispatched",
    );
    assert!(
        matches!(appended[..], [Appended::Fresh { .. }]),
        "{appended:?}"
    );
    let find = |state| {
        ok(store.recent(1000, Some(state)), "recent")
            .into_iter()
            .find(|e| e.key == "straight-on")
    };
    let written = find(EntryState::Dispatched)
        .unwrap_or_else(|| panic!("an entry appended as dispatched is dispatched"));
    assert_eq!(
        written.attempts, 1,
        "appended as dispatched counts one attempt"
    );
    assert!(
        ok(store.unfinished(10_000), "unfinished")
            .iter()
            .any(|e| e.key == "straight-on"),
        "a dispatched entry is unfinished until its outcome"
    );
    assert!(
        !ok(store.received_after(0, 10_000), "received_after")
            .iter()
            .any(|e| e.key == "straight-on"),
        "a dispatched entry does not wait for dispatch"
    );
    // Its redelivery is a duplicate and changes nothing.
    let again = ok(store.commit(&[sent], &[]), "append the same again");
    assert!(matches!(again[..], [Appended::Duplicate]), "{again:?}");
    ok(
        store.commit(
            &[],
            &[Mark::Done {
                key: "straight-on".into(),
            }],
        ),
        "outcome",
    );
    let done = find(EntryState::Done).unwrap_or_else(|| panic!("done after its outcome"));
    assert_eq!(done.attempts, 1, "the outcome adds no attempt");
}

/// The first bot to claim the journal keeps it: the same bot again is fine, another is
/// refused, naming both.
fn serves_one_bot(store: &dyn Store) {
    assert_eq!(ok(store.bot(), "bot"), None, "nobody claimed it yet");
    ok(store.claim_for_bot("T0ONE/U0ONE"), "claim");
    assert_eq!(ok(store.bot(), "bot").as_deref(), Some("T0ONE/U0ONE"));
    ok(store.claim_for_bot("T0ONE/U0ONE"), "claim again");
    match store.claim_for_bot("T0TWO/U0TWO") {
        Err(e @ StoreError::OtherBot { .. }) => {
            let shown = e.to_string();
            assert!(shown.contains("T0ONE/U0ONE"), "{shown}");
            assert!(shown.contains("T0TWO/U0TWO"), "{shown}");
        }
        other => panic!("another bot's claim: {other:?}"),
    }
    ok(store.claim_for_bot("T0ONE/U0ONE"), "still the first bot's");
}
