//! The Redis journal against the real Redis at 127.0.0.1:6379 (`NONSTOP_TEST_REDIS` names
//! another), each test under a fresh key prefix that it deletes when done.
#![cfg(feature = "redis")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop::journal::OutboxStore;
use nonstop::journal::{JournalStore, LeaseStore};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod common;

use common::RedisPrefix;
use nonstop::journal::{
    conformance, Appended, EntryState, Mark, NewEntry, NewOutput, OutputAppended, RedisOptions,
    RedisStore, SocketShare, StoreError,
};

fn redis_url() -> String {
    common::redis_url()
}

/// A replica's store under `prefix`, with this lease.
fn open(prefix: &RedisPrefix, lease: Duration) -> RedisStore {
    RedisStore::open(&redis_url(), prefix_options(prefix, lease)).unwrap()
}

fn prefix_options(prefix: &RedisPrefix, lease: Duration) -> RedisOptions {
    RedisOptions {
        prefix: prefix.0.clone(),
        lease,
        ..RedisOptions::default()
    }
}

/// What `store` takes over as soon as it takes over any entry, looking until `within` ends.
fn entries_taken_over(store: &RedisStore, within: Duration) -> nonstop::journal::TakenOver {
    let deadline = Instant::now() + within;
    loop {
        let taken = store.take_over(100).unwrap();
        if !taken.entries.is_empty() {
            return taken;
        }
        assert!(Instant::now() < deadline, "never taken over");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn entry(key: &str) -> NewEntry {
    NewEntry {
        key: key.to_owned(),
        envelope_id: format!("env-{key}"),
        kind: "events_api".to_owned(),
        raw: Arc::from(format!(
            r#"{{"envelope_id":"env-{key}","payload":{{"text":"é ☃ \"q\""}}}}"#
        )),
        received_at: SystemTime::now(),
        dispatched: true,
    }
}

#[test]
fn passes_the_conformance_suite() {
    let prefix = RedisPrefix::new("conformance");
    let store = open(&prefix, Duration::from_secs(30));
    conformance::run(&store);
}

#[test]
fn an_event_is_fresh_exactly_once_across_replicas() {
    let prefix = RedisPrefix::new("dedup");
    let a = open(&prefix, Duration::from_secs(30));
    let b = open(&prefix, Duration::from_secs(30));
    assert_ne!(a.replica(), b.replica());
    // Both replicas race to journal the same 200 events from their own threads.
    let keys: Vec<String> = (0..200).map(|i| format!("Ev{i}")).collect();
    let run = |store: &RedisStore| {
        keys.iter()
            .filter(|k| {
                matches!(
                    store.commit(&[entry(k)], &[]).unwrap()[0],
                    Appended::Fresh { .. }
                )
            })
            .count()
    };
    let fresh = std::thread::scope(|scope| {
        let a = scope.spawn(|| run(&a));
        let b = scope.spawn(|| run(&b));
        a.join().unwrap() + b.join().unwrap()
    });
    assert_eq!(fresh, 200);
    // Each replica sees only its own unfinished entries.
    let mine = a.unfinished(1000).unwrap().len();
    let theirs = b.unfinished(1000).unwrap().len();
    assert_eq!(mine + theirs, 200);
}

#[test]
fn a_replica_that_dies_is_taken_over_after_its_lease_and_one_that_stops_at_once() {
    let prefix = RedisPrefix::new("takeover");
    // Long enough that a busy machine never lets a live replica's lease lapse between renewals.
    let lease = Duration::from_secs(2);
    let dying = open(&prefix, lease);
    let alive = open(&prefix, lease);
    dying
        .commit(&[entry("E1"), entry("E2"), entry("E3")], &[])
        .unwrap();
    dying
        .commit(&[], &[Mark::Done { key: "E2".into() }])
        .unwrap();
    let answer = NewOutput {
        key: "E1#0".into(),
        lane: "C1".into(),
        method: "chat.postMessage".into(),
        args: r#"{"channel":"C1","text":"hi"}"#.into(),
        created_at: SystemTime::now(),
        attempt_covered_until: None,
        workspace: None,
    };
    let written = dying
        .write(&nonstop::journal::Batch {
            outputs: std::slice::from_ref(&answer),
            ..Default::default()
        })
        .unwrap();
    assert!(matches!(written.outputs[0], OutputAppended::Fresh { .. }));
    // While its lease holds, nothing is claimed.
    assert!(alive.take_over(100).unwrap().entries.is_empty());
    let died = Instant::now();
    dying.vanish();
    let taken = entries_taken_over(&alive, Duration::from_secs(10));
    // Not before its last renewal (at most a third of the lease before it vanished) ran out.
    assert!(died.elapsed() >= lease / 2, "{:?}", died.elapsed());
    let keys: Vec<&str> = taken.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["E1", "E3"], "the unfinished ones, oldest first");
    assert!(taken
        .entries
        .iter()
        .all(|e| e.state == EntryState::Dispatched && e.attempts == 1));
    assert_eq!(taken.outputs.len(), 1);
    assert_eq!(taken.outputs[0].key, "E1#0");
    // Now the survivor's own, and claimed once only.
    assert_eq!(alive.unfinished(100).unwrap().len(), 2);
    assert_eq!(alive.outbox_unfinished(100).unwrap().len(), 1);
    assert!(alive.take_over(100).unwrap().entries.is_empty());

    // A replica that stops cleanly gives its lease up: its leftovers are claimed at once.
    let leaving = open(&prefix, Duration::from_secs(30));
    leaving.commit(&[entry("E4")], &[]).unwrap();
    drop(leaving);
    let taken = alive.take_over(100).unwrap();
    assert_eq!(taken.entries.len(), 1);
    assert_eq!(taken.entries[0].key, "E4");
}

/// Redis away for longer than the lease: every lease ran out meanwhile, the live replicas'
/// too. The first replica back must not take a live one for dead: it claims nobody's work
/// until Redis has answered it for a whole lease, time in which a live replica renews.
#[test]
fn after_an_outage_longer_than_the_lease_nobody_takes_a_live_replica_for_dead() {
    let mut redis = common::OwnRedis::start();
    let lease = Duration::from_secs(2);
    let first_back = open_on(&redis, "outage", lease);
    let other = open_on(&redis, "outage", lease);
    other.commit(&[entry("Busy1")], &[]).unwrap();

    redis.down();
    assert!(first_back.take_over(100).is_err());
    // The outage itself, longer than the lease.
    std::thread::sleep(lease + lease / 2);
    redis.up();
    let back = Instant::now();
    // Every lease ran out in the outage; `other` lives, and has not renewed yet. (The first
    // call after a restart may find its old connection gone: once more then.)
    let taken = first_back
        .take_over(100)
        .or_else(|_| first_back.take_over(100))
        .unwrap();
    assert!(
        taken.entries.is_empty(),
        "took a live replica's work: {taken:?}"
    );
    // `other` renews (its timer, or here its next batch), and keeps its work.
    other
        .commit(&[], &[])
        .or_else(|_| other.commit(&[], &[]))
        .unwrap();
    while back.elapsed() < lease + lease / 2 {
        assert!(first_back.take_over(100).unwrap().entries.is_empty());
        std::thread::sleep(Duration::from_millis(100));
    }
    // A replica started just now cannot tell a live replica that has not renewed yet from a
    // dead one either: it too waits a lease before it claims anybody's work.
    let newcomer = open_on(&redis, "outage", lease);
    let quiet = open_on(&redis, "outage", lease);
    quiet.commit(&[entry("Quiet1")], &[]).unwrap();
    quiet.vanish();
    let started = Instant::now();
    assert!(newcomer.take_over(100).unwrap().entries.is_empty());
    // A replica that really died after the outage is still taken over.
    other.vanish();
    let taken = entries_taken_over(&first_back, Duration::from_secs(30));
    assert_eq!(taken.entries[0].key, "Busy1");
    let taken = entries_taken_over(&newcomer, Duration::from_secs(30));
    assert!(started.elapsed() >= lease, "{:?}", started.elapsed());
    assert_eq!(taken.entries[0].key, "Quiet1");
}

/// The envelope and the answer's arguments are kept apart from their hashes so that Redis
/// keeps the hashes in its compact encoding (about a third less memory per event,
/// BENCHMARKS.md): this fails loudly if a long field creeps back into them.
#[test]
fn entry_and_answer_hashes_keep_redis_compact_encoding() {
    let prefix = RedisPrefix::new("encoding");
    let store = open(&prefix, Duration::from_secs(30));
    let long = "x".repeat(4096);
    let mut long_raw = entry("Enc1");
    long_raw.raw = Arc::from(format!(
        r#"{{"envelope_id":"env-Enc1","payload":{{"text":"{long}"}}}}"#
    ));
    let mut long_args = answer("Enc1#0");
    long_args.args = format!(r#"{{"channel":"C1","text":"{long}"}}"#);
    let written = store
        .write(&nonstop::journal::Batch {
            entries: &[long_raw],
            outputs: &[long_args],
            ..Default::default()
        })
        .unwrap();
    let OutputAppended::Fresh { id } = written.outputs[0] else {
        panic!("{written:?}")
    };
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    for key in [
        format!("{}:e:Enc1", prefix.0),
        format!("{}:o:{id}", prefix.0),
    ] {
        let encoding: String = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(&key)
            .query(&mut conn)
            .unwrap();
        // `listpack` since Redis 7, `ziplist` before.
        assert!(
            encoding == "listpack" || encoding == "ziplist",
            "{key} is {encoding}"
        );
    }
    let stored = store.outbox_get(id).unwrap().unwrap();
    assert!(stored.args.contains(&long), "the arguments are all there");
    assert!(
        store.unfinished(1).unwrap()[0].raw.contains(&long),
        "and the envelope"
    );
}

/// Everything an event and its answer put in Redis goes when they are pruned: what is left
/// under the prefix is the counters and the lease, whatever the volume was.
#[test]
fn pruning_everything_leaves_no_key_of_an_event_or_answer_behind() {
    let prefix = RedisPrefix::new("prune-all");
    let store = open(&prefix, Duration::from_secs(30));
    let keys: Vec<String> = (0..50).map(|i| format!("P{i}")).collect();
    let entries: Vec<NewEntry> = keys.iter().map(|k| entry(k)).collect();
    let answers: Vec<NewOutput> = keys.iter().map(|k| answer(&format!("{k}#0"))).collect();
    let written = store
        .write(&nonstop::journal::Batch {
            entries: &entries,
            outputs: &answers,
            ..Default::default()
        })
        .unwrap();
    // Half done and sent, half failed both ways.
    let marks: Vec<Mark> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| match i % 2 {
            0 => Mark::Done { key: k.clone() },
            _ => Mark::Failed {
                key: k.clone(),
                error: "boom".into(),
            },
        })
        .collect();
    let output_marks: Vec<nonstop::journal::OutputMark> = written
        .outputs
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let OutputAppended::Fresh { id } = o else {
                panic!("{o:?}")
            };
            match i % 2 {
                0 => nonstop::journal::OutputMark::Sent {
                    id: *id,
                    result: "{}".into(),
                },
                _ => nonstop::journal::OutputMark::Failed {
                    id: *id,
                    error: "boom".into(),
                },
            }
        })
        .collect();
    store
        .write(&nonstop::journal::Batch {
            marks: &marks,
            output_marks: &output_marks,
            ..Default::default()
        })
        .unwrap();
    let future = SystemTime::now() + Duration::from_secs(60);
    while store.prune(future, 1_000_000, 30).unwrap() > 0 {}
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut left: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:*", prefix.0))
        .query(&mut conn)
        .unwrap();
    left.sort();
    let left: Vec<&str> = left
        .iter()
        .map(|k| k.strip_prefix(&format!("{}:", prefix.0)).unwrap_or(k))
        .collect();
    assert_eq!(
        left,
        ["oseq", "replicas", "seq", "sockets", "sockexp"],
        "{left:?}"
    );
}

/// REDIS_URL naming a replica (the old primary after a failover becomes one): refused at
/// open, saying so and what to point it at.
#[test]
fn a_read_only_replica_is_refused_at_open_and_named() {
    let primary = common::OwnRedis::start_with(&[]);
    let port = primary
        .url()
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_owned();
    let replica = common::OwnRedis::start_with(&["--replicaof", "127.0.0.1", &port]);
    let err = RedisStore::open(&replica.url(), RedisOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Unreachable { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("read-only replica"), "{shown}");
    assert!(shown.contains("primary"), "{shown}");
}

#[test]
fn a_password_in_the_url_never_shows_in_errors_or_debug() {
    // This Redis has no password (or another one): AUTH fails, and says so without it.
    let url = redis_url().replacen("redis://", "redis://:xyzzy-not-the-password@", 1);
    let err = RedisStore::open(&url, RedisOptions::default()).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("xyzzy-not-the-password"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    // Redis said no: no waiting will change that.
    assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
}

#[test]
fn an_unreachable_redis_is_an_open_error_naming_it_within_the_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let started = Instant::now();
    let err = RedisStore::open(
        &format!("redis://127.0.0.1:{port}/"),
        RedisOptions::default(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}")),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// A replica's store on a `redis-server` of the test's own (which holds nothing else).
fn open_on(redis: &common::OwnRedis, prefix: &str, lease: Duration) -> RedisStore {
    let options = RedisOptions {
        prefix: prefix.to_owned(),
        lease,
        ..RedisOptions::default()
    };
    RedisStore::open(&redis.url(), options).unwrap()
}

fn unfinished_keys(store: &RedisStore) -> Vec<String> {
    store
        .unfinished(10)
        .unwrap()
        .into_iter()
        .map(|e| e.key)
        .collect()
}

/// Redis at its `maxmemory` (with `noeviction`, as docs/storage.md asks) refuses writes: a
/// batch fails whole and says why and what to do; reads and pruning (which only deletes) go
/// on; once Redis has room, the same batch is taken, its envelopes fresh.
#[test]
fn a_full_redis_refuses_a_batch_whole_names_the_cause_and_takes_it_once_it_has_room() {
    let redis = common::OwnRedis::start_with(&["--maxmemory-policy", "noeviction"]);
    let store = open_on(&redis, "full", Duration::from_secs(30));
    store.commit(&[entry("F1")], &[]).unwrap();
    redis.config_set("maxmemory", "1");
    let err = store.commit(&[entry("F2"), entry("F3")], &[]).unwrap_err();
    assert!(matches!(err, StoreError::Write { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(shown.contains("out of memory"), "{shown}");
    assert!(shown.contains("maxmemory"), "{shown}");
    assert!(shown.contains("not acked"), "{shown}");
    assert!(!shown.contains("disk"), "not SQLite's hint: {shown}");
    // Nothing of the refused batch was written; reads and pruning work meanwhile.
    assert_eq!(unfinished_keys(&store), ["F1"]);
    store.prune(SystemTime::now(), 10, 100).unwrap();

    redis.config_set("maxmemory", "0");
    let again = store.commit(&[entry("F2"), entry("F3")], &[]).unwrap();
    assert!(
        again.iter().all(|a| matches!(a, Appended::Fresh { .. })),
        "{again:?}"
    );
    assert_eq!(unfinished_keys(&store), ["F1", "F2", "F3"], "each once");
}

#[test]
fn an_envelope_whose_write_answer_was_lost_is_fresh_when_slack_sends_it_again() {
    let prefix = RedisPrefix::new("lost-reply");
    let a = open(&prefix, Duration::from_secs(30));
    let b = open(&prefix, Duration::from_secs(30));
    // The write lands in Redis, but its answer is lost: the writer acks nothing.
    a.lose_next_reply();
    assert!(a.commit(&[entry("Lost1")], &[]).is_err());
    assert_eq!(a.unfinished(10).unwrap().len(), 1, "it did land");
    // Slack delivers it again: to this replica it is fresh (it never handled it), once.
    let again = a.commit(&[entry("Lost1")], &[]).unwrap();
    let Appended::Fresh { seq } = again[0] else {
        panic!("{again:?}")
    };
    assert_eq!(a.unfinished(10).unwrap()[0].seq, seq);
    assert_eq!(
        a.commit(&[entry("Lost1")], &[]).unwrap(),
        [Appended::Duplicate]
    );
    // To another replica it is a duplicate: it is this one's.
    assert_eq!(
        b.commit(&[entry("Lost1")], &[]).unwrap(),
        [Appended::Duplicate]
    );
    // A finished one is not taken again.
    a.lose_next_reply();
    assert!(a.commit(&[entry("Lost2")], &[]).is_err());
    a.commit(
        &[],
        &[Mark::Done {
            key: "Lost2".into(),
        }],
    )
    .unwrap();
    assert_eq!(
        a.commit(&[entry("Lost2")], &[]).unwrap(),
        [Appended::Duplicate]
    );
    assert_eq!(
        a.counts().unwrap(),
        [(EntryState::Dispatched, 1), (EntryState::Done, 1)]
    );
}

#[test]
fn rediss_with_a_password_works_with_the_private_ca_and_is_refused_without_it() {
    let (_redis, tls_port) =
        common::OwnRedis::start_tls(&["--appendonly", "yes", "--requirepass", "tls-secret-7"]);
    let url = format!("rediss://:tls-secret-7@localhost:{tls_port}/");
    let prefix = RedisPrefix::new("tls");
    let ca = format!("{}/ca.pem", common::redis_tls_fixtures());
    let options = prefix_options(&prefix, Duration::from_secs(30))
        .with_ca_file(Some(std::path::Path::new(&ca)))
        .unwrap();
    let store = RedisStore::open(&url, options).unwrap();
    assert_eq!(
        store.commit(&[entry("Tls1")], &[]).unwrap(),
        [Appended::Fresh { seq: 1 }]
    );
    assert_eq!(store.unfinished(10).unwrap()[0].key, "Tls1");
    assert!(!format!("{store:?}").contains("tls-secret-7"));
    // Without the CA, the public ones do not vouch for this certificate: refused, saying so.
    let err = RedisStore::open(&url, prefix_options(&prefix, Duration::from_secs(30))).unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(matches!(err, StoreError::Unreachable { .. }), "{shown}");
    assert!(
        shown.contains("UnknownIssuer") || shown.contains("certificate"),
        "{shown}"
    );
    assert!(shown.contains("NONSTOP_REDIS_CA"), "{shown}");
    assert!(!shown.contains("tls-secret-7"), "{shown}");
}

#[test]
fn an_envelope_whose_write_answer_was_lost_is_claimed_by_its_writer_when_another_replica_saw_it_again(
) {
    let prefix = RedisPrefix::new("lost-reply-elsewhere");
    let a = open(&prefix, Duration::from_secs(30));
    let b = open(&prefix, Duration::from_secs(30));
    a.lose_next_reply();
    assert!(a.commit(&[entry("Lost3"), entry("Lost4")], &[]).is_err());
    // Slack redelivers Lost3 to the other replica: a duplicate there (it is A's entry).
    assert_eq!(
        b.commit(&[entry("Lost3")], &[]).unwrap(),
        [Appended::Duplicate]
    );
    // A claims both on its next look, once; B never does (A is alive).
    let taken = a.take_over(100).unwrap();
    let keys: Vec<&str> = taken.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["Lost3", "Lost4"]);
    assert!(a.take_over(100).unwrap().entries.is_empty());
    assert!(b.take_over(100).unwrap().entries.is_empty());
    // A redelivery to A after the claim is a duplicate: it runs once.
    assert_eq!(
        a.commit(&[entry("Lost4")], &[]).unwrap(),
        [Appended::Duplicate]
    );
}

fn answer(key: &str) -> NewOutput {
    NewOutput {
        key: key.to_owned(),
        lane: "C1".into(),
        method: "chat.postMessage".into(),
        args: r#"{"channel":"C1","text":"hi"}"#.into(),
        created_at: SystemTime::now(),
        attempt_covered_until: None,
        workspace: None,
    }
}

/// A Redis that forgot its last writes (here restarted without persistence; a crash with
/// `appendfsync everysec` or a failover loses the last second) must not hand out again the
/// seqs and answer ids a live replica still holds: the mark of an answer that was in flight
/// would land on another event's answer and call it sent when it never was.
#[test]
fn a_redis_that_forgot_its_last_writes_hands_out_no_id_a_replica_still_holds() {
    let mut redis = common::OwnRedis::start_with(&[]);
    let store = open_on(&redis, "forgetful", Duration::from_secs(30));
    let old = store
        .write(&nonstop::journal::Batch {
            entries: &[entry("Old1")],
            outputs: &[answer("Old1#0")],
            ..Default::default()
        })
        .unwrap();
    let Appended::Fresh { seq: old_seq } = old.appended[0] else {
        panic!("{old:?}")
    };
    let OutputAppended::Fresh { id: old_id } = old.outputs[0] else {
        panic!("{old:?}")
    };

    redis.down();
    redis.up();
    // Redis forgot everything. The old answer's sender finishes; its mark goes with the
    // next batch, beside a new event and its answer.
    let sent = [nonstop::journal::OutputMark::Sent {
        id: old_id,
        result: r#"{"channel":"C1","ts":"1.000001"}"#.into(),
    }];
    let batch = nonstop::journal::Batch {
        entries: &[entry("New1")],
        outputs: &[answer("New1#0")],
        output_marks: &sent,
        ..Default::default()
    };
    // The first call after the restart may find the old connection gone.
    let new = store
        .write(&batch)
        .or_else(|_| store.write(&batch))
        .unwrap();
    let Appended::Fresh { seq: new_seq } = new.appended[0] else {
        panic!("{new:?}")
    };
    let OutputAppended::Fresh { id: new_id } = new.outputs[0] else {
        panic!("{new:?}")
    };
    assert!(new_seq > old_seq, "seq {new_seq} handed out again");
    assert!(new_id > old_id, "answer id {new_id} handed out again");
    let waiting = store.outbox_unfinished(10).unwrap();
    assert_eq!(waiting.len(), 1, "{waiting:?}");
    assert_eq!(waiting[0].key, "New1#0", "still to be sent");
}

#[test]
fn an_answer_whose_write_answer_was_lost_is_new_to_its_writer_when_written_again() {
    let prefix = RedisPrefix::new("lost-output");
    let a = open(&prefix, Duration::from_secs(30));
    let answer = NewOutput {
        key: "Ev9#0".into(),
        lane: "C1".into(),
        method: "chat.postMessage".into(),
        args: r#"{"channel":"C1","text":"hi"}"#.into(),
        created_at: SystemTime::now(),
        attempt_covered_until: None,
        workspace: None,
    };
    let write = |store: &RedisStore| {
        store.write(&nonstop::journal::Batch {
            outputs: std::slice::from_ref(&answer),
            ..Default::default()
        })
    };
    a.lose_next_reply();
    assert!(write(&a).is_err());
    // The writer tries the carried answer again: it landed before, but its sender never
    // heard of it, so it is Fresh (to be sent), with the id it has.
    let again = write(&a).unwrap();
    let OutputAppended::Fresh { id } = again.outputs[0] else {
        panic!("{again:?}")
    };
    assert_eq!(a.outbox_unfinished(10).unwrap()[0].id, id);
    // Once more (a replayed handler sending it again): it exists.
    assert!(matches!(
        write(&a).unwrap().outputs[0],
        OutputAppended::Existing(_)
    ));
}

#[test]
fn a_takeover_whose_answer_was_lost_is_returned_by_the_next() {
    let prefix = RedisPrefix::new("lost-claim");
    let dying = open(&prefix, Duration::from_secs(30));
    let alive = open(&prefix, Duration::from_secs(30));
    dying.commit(&[entry("Claim1")], &[]).unwrap();
    drop(dying); // a clean stop: its leftovers are claimable at once
    alive.lose_next_reply();
    assert!(alive.take_over(100).is_err());
    let taken = alive.take_over(100).unwrap();
    assert_eq!(taken.entries.len(), 1, "{taken:?}");
    assert_eq!(taken.entries[0].key, "Claim1");
    assert!(alive.take_over(100).unwrap().entries.is_empty());
}

/// Takes a socket for `store` as soon as the count allows, within `within`; whether it did.
fn taken_within(store: &RedisStore, total: usize, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if store.take_socket(total).unwrap() == SocketShare::Taken {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn replicas_keep_a_socket_total_together_and_a_dead_ones_share_comes_back_with_its_lease() {
    let prefix = RedisPrefix::new("sockets");
    let lease = Duration::from_secs(2);
    let (a, b) = (open(&prefix, lease), open(&prefix, lease));
    assert_eq!(a.take_socket(3).unwrap(), SocketShare::Taken);
    assert_eq!(a.take_socket(3).unwrap(), SocketShare::Taken);
    assert_eq!(b.take_socket(3).unwrap(), SocketShare::Taken);
    assert_eq!(b.take_socket(3).unwrap(), SocketShare::Full { held: 3 });
    assert_eq!(a.take_socket(3).unwrap(), SocketShare::Full { held: 3 });

    // One closes on A: B may open one as soon as A has said so (its timer, woken at once;
    // well before the lease's renewal at 0.67 s, which is not what this waits for).
    a.give_socket();
    assert!(taken_within(&b, 3, Duration::from_millis(500)));
    assert_eq!(b.take_socket(3).unwrap(), SocketShare::Full { held: 3 });

    // A is killed holding one: it counts until its lease runs out, then not.
    let a_id = a.replica().to_owned();
    a.vanish();
    assert_eq!(b.take_socket(3).unwrap(), SocketShare::Full { held: 3 });
    assert!(taken_within(&b, 3, Duration::from_secs(20)));
    // As `nonstop journal` shows them: B live with its 3, A gone.
    let facts = b.replicas().unwrap();
    let of = |id: &str| facts.iter().find(|r| r.id == id).unwrap();
    assert!(
        of(b.replica()).lease_left.is_some() && of(b.replica()).sockets == 3,
        "{facts:?}"
    );
    assert!(of(&a_id).lease_left.is_none(), "{facts:?}");

    // A replica that stops cleanly takes its count with it at once.
    let c = open(&prefix, lease);
    assert_eq!(c.take_socket(4).unwrap(), SocketShare::Taken);
    assert_eq!(b.take_socket(4).unwrap(), SocketShare::Full { held: 4 });
    drop(c);
    assert_eq!(b.take_socket(4).unwrap(), SocketShare::Taken);

    // Stores one process owns have no one to share with.
    let memory = nonstop::journal::MemoryStore::new();
    assert_eq!(memory.take_socket(1).unwrap(), SocketShare::Taken);
    assert_eq!(memory.take_socket(1).unwrap(), SocketShare::Taken);
}

#[test]
fn each_replica_reads_only_its_own_entries_waiting_for_dispatch() {
    let prefix = RedisPrefix::new("received");
    let (a, b) = (
        open(&prefix, Duration::from_secs(30)),
        open(&prefix, Duration::from_secs(30)),
    );
    let waiting = |key: &str| NewEntry {
        dispatched: false,
        ..entry(key)
    };
    // Interleaved, so each replica's are spread among the other's.
    for i in 0..300 {
        let store = if i % 3 == 0 { &b } else { &a };
        store.commit(&[waiting(&format!("Wait{i}"))], &[]).unwrap();
    }
    // And some of each go straight to a handler: not waiting.
    a.commit(&[entry("Straight-a")], &[]).unwrap();
    b.commit(&[entry("Straight-b")], &[]).unwrap();
    let of = |store: &RedisStore, after: i64| -> Vec<String> {
        let found = store.received_after(after, 1000).unwrap();
        assert!(
            found.windows(2).all(|w| w[0].seq < w[1].seq),
            "in arrival order"
        );
        assert!(found.iter().all(|e| e.seq > after));
        found.into_iter().map(|e| e.key).collect()
    };
    let all_a = of(&a, 0);
    assert_eq!(all_a.len(), 200);
    assert!(all_a.iter().all(|k| k.starts_with("Wait")));
    assert_eq!(of(&b, 0).len(), 100);
    // From a seq on, and at most `limit`.
    let after = a.received_after(0, 50).unwrap();
    assert_eq!(after.len(), 50);
    let rest = of(&a, after[49].seq);
    assert_eq!(rest, all_a[50..]);
    // Once dispatched, no longer waiting.
    a.commit(
        &[],
        &[Mark::Dispatched {
            key: all_a[0].clone(),
        }],
    )
    .unwrap();
    assert_eq!(of(&a, 0).len(), 199);
}

/// A replica paused past its lease (SIGSTOP, a long GC-like stall, a VM migration) wakes to
/// find its work taken over. Its late marks are fenced: the attempt its sender would make
/// before posting an answer the taker posts is refused (so it does not post it), a handler's
/// outcome does not overwrite the taker's record, and it says its lease had run out. What it
/// still owns, and what it writes afterwards, is its own as before.
#[test]
fn a_replica_paused_past_its_lease_has_its_marks_on_what_was_taken_refused() {
    let prefix = RedisPrefix::new("fenced");
    let lease = Duration::from_secs(2);
    let paused = open(&prefix, lease);
    let taker = open(&prefix, lease);
    paused.commit(&[entry("E1")], &[]).unwrap();
    let written = paused
        .write(&nonstop::journal::Batch {
            outputs: &[answer("E1#0")],
            ..Default::default()
        })
        .unwrap();
    let OutputAppended::Fresh { id } = written.outputs[0] else {
        panic!("{written:?}")
    };
    assert!(written.fenced.is_empty());

    // Paused: no renewal, no write, until the taker has claimed everything it had.
    paused.hold_renewals(true);
    let taken = entries_taken_over(&taker, Duration::from_secs(20));
    assert_eq!(taken.entries[0].key, "E1");
    assert_eq!(taken.outputs.len(), 1);
    assert_eq!(paused.leases_lost(), 0);

    // It wakes: the attempt before its call and its handler's outcome come late.
    paused.hold_renewals(false);
    let late = paused
        .write(&nonstop::journal::Batch {
            marks: &[Mark::Done { key: "E1".into() }],
            output_marks: &[nonstop::journal::OutputMark::Attempt {
                id,
                at: SystemTime::now(),
            }],
            ..Default::default()
        })
        .unwrap();
    assert_eq!(
        late.fenced,
        vec![id],
        "the attempt on a taken answer applied"
    );
    assert_eq!(paused.leases_lost(), 1, "the lapse went unnoticed");
    // Nothing of it applied: the taker's entry is still running, its answer untried.
    let unfinished = taker.unfinished(10).unwrap();
    assert_eq!(unfinished.len(), 1, "the paused replica's outcome applied");
    assert_eq!(unfinished[0].state, EntryState::Dispatched);
    let output = taker.outbox_get(id).unwrap().unwrap();
    assert_eq!(
        output.attempts, 0,
        "the paused replica's attempt was counted"
    );
    assert!(paused.outbox_unfinished(10).unwrap().is_empty());

    // What it writes now is its own, and its marks on that apply.
    let fresh = paused
        .write(&nonstop::journal::Batch {
            entries: &[entry("E2")],
            outputs: &[answer("E2#0")],
            ..Default::default()
        })
        .unwrap();
    let OutputAppended::Fresh { id: mine } = fresh.outputs[0] else {
        panic!("{fresh:?}")
    };
    let marked = paused
        .write(&nonstop::journal::Batch {
            marks: &[Mark::Done { key: "E2".into() }],
            output_marks: &[nonstop::journal::OutputMark::Attempt {
                id: mine,
                at: SystemTime::now(),
            }],
            ..Default::default()
        })
        .unwrap();
    assert!(marked.fenced.is_empty());
    assert!(paused.unfinished(10).unwrap().is_empty());
    assert_eq!(paused.outbox_get(mine).unwrap().unwrap().attempts, 1);
    assert_eq!(paused.leases_lost(), 1);
}

/// Issue 25's crash loop: a replica killed holding sockets kept the others from opening
/// theirs until its lease ran out (30 s by default): the deployment was deaf 25 s. A count
/// is good for 6 s unless renewed, whatever the lease; a planted count no replica would
/// write (good for longer than a share lives) counts for nothing.
#[test]
fn a_dead_replicas_socket_share_is_free_in_seconds_long_before_its_lease_runs_out() {
    let prefix = RedisPrefix::new("shares");
    let lease = Duration::from_secs(60);
    let (dying, alive) = (open(&prefix, lease), open(&prefix, lease));
    assert_eq!(dying.take_socket(2).unwrap(), SocketShare::Taken);
    assert_eq!(dying.take_socket(2).unwrap(), SocketShare::Taken);
    assert_eq!(alive.take_socket(2).unwrap(), SocketShare::Full { held: 2 });
    let died = Instant::now();
    dying.vanish();
    assert!(taken_within(&alive, 2, Duration::from_secs(20)));
    assert!(
        died.elapsed() < lease / 3,
        "freed only after {:?}",
        died.elapsed()
    );
    // Its lease still holds: its events are not taken over yet.
    assert!(alive.take_over(10).unwrap().entries.is_empty());

    // A phantom replica's count, planted by hand with a time far ahead.
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let far: i64 = 4_000_000_000_000;
    let () = redis::pipe()
        .hset(format!("{}:sockets", prefix.0), "phantom", 10)
        .zadd(format!("{}:sockexp", prefix.0), "phantom", far)
        .zadd(format!("{}:replicas", prefix.0), "phantom", far)
        .query(&mut conn)
        .unwrap();
    assert_eq!(alive.take_socket(4).unwrap(), SocketShare::Taken);
}

/// Issue 25: after a FLUSHDB the running replica did not write its bot's name again, and a
/// different bot on the same prefix was accepted. The name is written again with the next
/// renewal or batch, and the other bot is refused as before.
#[test]
fn the_bots_name_comes_back_after_redis_lost_it_and_keeps_another_bot_out() {
    let prefix = RedisPrefix::new("bot-marker");
    let store = open(&prefix, Duration::from_secs(2));
    store.claim_for_bot("T1/U1").unwrap();
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let forget = |conn: &mut redis::Connection| {
        let () = redis::cmd("DEL")
            .arg(format!("{}:bot", prefix.0))
            .query(conn)
            .unwrap();
    };
    // A batch writes it again at once.
    forget(&mut conn);
    store.commit(&[entry("E1")], &[]).unwrap();
    assert_eq!(store.bot().unwrap().as_deref(), Some("T1/U1"));
    // With no traffic, the lease's renewal does, within a third of the lease.
    forget(&mut conn);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.bot().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the name never came back");
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = open(&prefix, Duration::from_secs(2));
    assert!(matches!(
        other.claim_for_bot("T2/U9"),
        Err(StoreError::OtherBot { .. })
    ));
    assert_eq!(store.bot().unwrap().as_deref(), Some("T1/U1"));
}

fn open_as(prefix: &RedisPrefix, lease: Duration, id: &str) -> Result<RedisStore, StoreError> {
    RedisStore::open(
        &redis_url(),
        RedisOptions {
            replica_id: Some(id.to_owned()),
            ..prefix_options(prefix, lease)
        },
    )
}

/// Issue 25's crash loop: a replica killed and started again waited a lease (30 s), then a
/// lease of start-up grace, before anybody ran what it left. Under a stable id
/// (`NONSTOP_REPLICA_ID`, the pod's name) the restarted process resumes its own work at once,
/// long before the lease runs out; a second live process under the same id is refused; and
/// a predecessor that was only paused writes nothing once its successor holds the id.
#[test]
fn a_stable_replica_id_resumes_its_own_work_at_once_and_never_runs_twice() {
    let prefix = RedisPrefix::new("replica-id");
    let lease = Duration::from_secs(60);
    let first = open_as(&prefix, lease, "web-0").unwrap();
    assert_eq!(first.replica(), "web-0");
    first.commit(&[entry("E1")], &[]).unwrap();
    let killed = Instant::now();
    first.vanish();

    // Restarted at once: its lease still runs, nobody renews it, so the id is taken.
    let second = open_as(&prefix, lease, "web-0").unwrap();
    let unfinished = second.unfinished(10).unwrap();
    assert_eq!(unfinished.len(), 1);
    assert_eq!(unfinished[0].key, "E1");
    assert!(killed.elapsed() < lease / 3, "{:?}", killed.elapsed());

    // A twin started while it lives is refused, naming the id.
    match open_as(&prefix, lease, "web-0") {
        Err(e @ StoreError::ReplicaIdInUse { .. }) => {
            assert!(e.to_string().contains("web-0"), "{e}")
        }
        Err(e) => panic!("not refused as in use: {e}"),
        Ok(_) => panic!("a twin was let in"),
    }

    // A paused predecessor: its successor takes the id; woken, it writes nothing.
    second.hold_renewals(true);
    let third = open_as(&prefix, lease, "web-0").unwrap();
    second.hold_renewals(false);
    let refused = second
        .commit(&[], &[Mark::Done { key: "E1".into() }])
        .unwrap_err();
    assert!(
        refused.to_string().contains("NONSTOP_REPLICA_ID"),
        "{refused}"
    );
    assert_eq!(
        third.unfinished(10).unwrap().len(),
        1,
        "the fenced mark applied"
    );
    third
        .commit(&[], &[Mark::Done { key: "E1".into() }])
        .unwrap();
    assert!(third.unfinished(10).unwrap().is_empty());
}
