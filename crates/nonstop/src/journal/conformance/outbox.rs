//! The outbox role ([`OutboxStore`](crate::journal::OutboxStore), its answers written
//! through [`JournalStore::write`](crate::journal::JournalStore::write)):
//! answers deduplicated by key, kept in order, marked, and pruned once finished.

use std::time::{Duration, SystemTime};

use super::support::{entry, ok};
use crate::journal::{Appended, Batch, NewOutput, OutputAppended, OutputMark, OutputState, Store};

/// Every outbox rule against `store`, which must hold no answers.
pub fn run(store: &dyn Store) {
    outbox_dedups_orders_marks_and_prunes(store);
    an_attempt_cover_reads_as_a_call_until_cleared(store);
}

fn output(key: &str, lane: &str, at: SystemTime) -> NewOutput {
    NewOutput {
        key: key.to_owned(),
        lane: lane.to_owned(),
        method: "chat.postMessage".to_owned(),
        args: format!(r#"{{"channel":"{lane}","text":"{key}"}}"#),
        created_at: at,
        attempt_covered_until: None,
        workspace: None,
    }
}

fn outbox_dedups_orders_marks_and_prunes(store: &dyn Store) {
    let old = SystemTime::now() - Duration::from_secs(7200);
    let now = SystemTime::now();
    // Written with an envelope in one transaction; a key written twice in one batch is one.
    let written = ok(
        store.write(&Batch {
            entries: &[entry("EvOut", now)],
            outputs: &[
                output("EvOut#0", "C1", old),
                output("EvOut#1", "C2", old),
                output("EvOut#0", "C1", old),
            ],
            ..Batch::default()
        }),
        "write outputs",
    );
    assert!(matches!(written.appended[..], [Appended::Fresh { .. }]));
    let (first, second) = match &written.outputs[..] {
        [OutputAppended::Fresh { id: a }, OutputAppended::Fresh { id: b }, OutputAppended::Existing(again)] =>
        {
            assert_eq!(again.id, *a, "a key written twice in a batch is one output");
            (*a, *b)
        }
        other => panic!("outputs: {other:?}"),
    };
    assert!(first < second, "ids follow the order of writing");
    let late = ok(
        store.write(&Batch {
            outputs: &[output("EvOut#2", "C1", now)],
            ..Batch::default()
        }),
        "write a later output",
    );
    let [OutputAppended::Fresh { id: third }] = late.outputs[..] else {
        panic!("{late:?}")
    };

    let at = SystemTime::now();
    ok(
        store.write(&Batch {
            output_marks: &[
                OutputMark::Attempt { id: first, at },
                OutputMark::Attempt { id: first, at },
                OutputMark::Sent {
                    id: first,
                    result: r#"{"ts":"1.2"}"#.to_owned(),
                },
                OutputMark::Attempt { id: second, at },
                OutputMark::Failed {
                    id: second,
                    error: "channel_not_found".to_owned(),
                },
                OutputMark::Attempt { id: third, at },
                OutputMark::NotPosted { id: third },
                OutputMark::Attempt { id: third, at },
            ],
            ..Batch::default()
        }),
        "mark outputs",
    );
    let Some(sent) = ok(store.outbox_get(first), "get") else {
        panic!("the first output is gone")
    };
    assert_eq!(sent.state, OutputState::Sent);
    assert_eq!(sent.attempts, 2);
    assert_eq!(sent.result.as_deref(), Some(r#"{"ts":"1.2"}"#));
    let Some(failed) = ok(store.outbox_get(second), "get") else {
        panic!("the second output is gone")
    };
    assert_eq!(failed.state, OutputState::Failed);
    assert_eq!(failed.error.as_deref(), Some("channel_not_found"));

    // A replay writes the same key again: the output as it stands comes back.
    let again = ok(
        store.write(&Batch {
            outputs: &[output("EvOut#0", "C1", now)],
            ..Batch::default()
        }),
        "write a sent output again",
    );
    match &again.outputs[..] {
        [OutputAppended::Existing(o)] => {
            assert_eq!((o.id, o.state), (first, OutputState::Sent));
        }
        other => panic!("{other:?}"),
    }

    let keys = ["EvOut#2", "EvOut#9", "EvOut#0"].map(str::to_owned);
    let mut by_keys: Vec<i64> = ok(store.outbox_by_keys(&keys), "outputs by key")
        .iter()
        .map(|o| o.id)
        .collect();
    by_keys.sort_unstable();
    assert_eq!(
        by_keys,
        vec![first, third],
        "the answers under existing keys only"
    );
    assert!(ok(store.outbox_by_keys(&[]), "no keys").is_empty());

    let pending = ok(store.outbox_unfinished(10), "unfinished outputs");
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].id, third);
    assert_eq!(pending[0].attempts, 2);
    assert!(
        pending[0].attempted_at.is_some(),
        "the last call's outcome is unknown"
    );
    ok(
        store.write(&Batch {
            output_marks: &[OutputMark::NotPosted { id: third }],
            ..Batch::default()
        }),
        "clear the unknown call",
    );
    let pending = ok(store.outbox_unfinished(10), "unfinished outputs");
    assert_eq!(pending[0].attempted_at, None);
    assert_eq!(pending[0].lane, "C1");
    assert_eq!(
        ok(store.outbox_counts(), "outbox counts"),
        vec![
            (OutputState::Pending, 1),
            (OutputState::Sent, 1),
            (OutputState::Failed, 1)
        ]
    );

    let recent = ok(store.outbox_recent(10, None), "recent outputs");
    let ids: Vec<i64> = recent.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![third, second, first], "newest first");
    let failures = ok(
        store.outbox_recent(10, Some(OutputState::Failed)),
        "failed outputs",
    );
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].id, second);
    let sent = ok(
        store.outbox_recent(10, Some(OutputState::Sent)),
        "sent outputs",
    );
    let ids: Vec<i64> = sent.iter().map(|o| o.id).collect();
    assert_eq!(ids, vec![first], "the sent one only, not the failed");

    // Finished answers written before the cutoff go; the pending one stays.
    ok(
        store.prune(now - Duration::from_secs(60), 1_000_000, 100),
        "prune",
    );
    assert_eq!(ok(store.outbox_get(first), "get"), None);
    assert_eq!(ok(store.outbox_get(second), "get"), None);
    assert!(ok(store.outbox_get(third), "get").is_some());
    assert_eq!(
        ok(store.outbox_counts(), "outbox counts"),
        vec![(OutputState::Pending, 1)]
    );
}

/// An answer written with an attempt cover reads, after a crash, as one whose call may have
/// been made (so it is looked for before it is sent again), with no call counted; a
/// `NotPosted` mark clears it, as for a call Slack did not take.
fn an_attempt_cover_reads_as_a_call_until_cleared(store: &dyn Store) {
    let now = SystemTime::now();
    let until = now + Duration::from_secs(2);
    // An answer for an installed workspace keeps its workspace (its token sends it).
    let covered = NewOutput {
        attempt_covered_until: Some(until),
        workspace: Some("team:T0ACME".to_owned()),
        ..output("EvCover#0", "C9", now)
    };
    let written = ok(
        store.write(&Batch {
            outputs: &[covered, output("EvCover#1", "C9", now)],
            ..Batch::default()
        }),
        "write covered outputs",
    );
    let [OutputAppended::Fresh { id: covered }, OutputAppended::Fresh { id: plain }] =
        written.outputs[..]
    else {
        panic!("{written:?}")
    };
    let read = |id: i64| match ok(store.outbox_get(id), "get") {
        Some(output) => output,
        None => panic!("output {id} is gone"),
    };
    assert_eq!(
        read(covered).workspace.as_deref(),
        Some("team:T0ACME"),
        "its workspace kept"
    );
    assert_eq!(read(plain).workspace, None);
    let millis = |at: SystemTime| {
        at.duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis())
    };
    let stored = read(covered);
    assert_eq!(stored.attempts, 0, "a cover is not a call made");
    assert_eq!(
        stored.attempted_at.map(millis),
        Some(millis(until)),
        "the cover reads as the last call's time"
    );
    assert_eq!(read(plain).attempted_at, None);
    ok(
        store.write(&Batch {
            output_marks: &[OutputMark::NotPosted { id: covered }],
            ..Batch::default()
        }),
        "clear the cover",
    );
    assert_eq!(read(covered).attempted_at, None);
    ok(
        store.write(&Batch {
            output_marks: &[
                OutputMark::Sent {
                    id: covered,
                    result: "{}".to_owned(),
                },
                OutputMark::Sent {
                    id: plain,
                    result: "{}".to_owned(),
                },
            ],
            ..Batch::default()
        }),
        "finish the covered outputs",
    );
}
