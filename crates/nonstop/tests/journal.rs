//! The journal across a crash: what was cut off is replayed, told it is a replay, and events
//! seen before the crash are still recognised as duplicates after it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nonstop::journal::JournalStore;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{bot_config, sim_config, text_of, WAIT};
use nonstop::journal::{EntryState, Store};
use nonstop::model::web::PostMessageRequest;
use nonstop::{App, Context, Envelope, SqliteStore};
use nonstop_sim::{MessageSpec, Sim, TempJournal};

/// Polls the journal file from a second connection until `check` holds (the writer commits
/// on its own thread; there is no event to await across processes).
async fn journal_shows(path: &PathBuf, check: impl Fn(&SqliteStore) -> bool) -> bool {
    let store = SqliteStore::open_read_only(path).unwrap();
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if check(&store) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn a_handler_cut_off_by_a_crash_is_replayed_once_and_told_so() {
    let db = TempJournal::new("replay");
    let sim = Sim::start(sim_config()).await.unwrap();

    // First life: the handler for "ping crash" never finishes; then the process "dies".
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    config.handler_timeout = Duration::from_secs(3600);
    let first = App::with_handler(
        config.clone(),
        |ctx: Context, envelope: Envelope| async move {
            let text = text_of(&envelope);
            if text == "ping crash" {
                std::future::pending::<()>().await;
            }
            if let Some(tag) = text.strip_prefix("ping ") {
                ctx.post(&PostMessageRequest::text("C1", format!("pong {tag}")))
                    .await?;
            }
            Ok(())
        },
    );
    let status = first.status();
    let run = tokio::spawn(first.run(std::future::pending()));
    assert!(status.wait_for(WAIT, |s| s.live_connections == 2).await);
    sim.send_message(MessageSpec::new("C1", "U1", "ping before"));
    assert!(sim
        .wait_for_post(WAIT, |p| p.text == "pong before")
        .await
        .is_some());
    sim.send_message(MessageSpec::new("C1", "U1", "ping crash"));
    assert!(
        journal_shows(&db.0, |store| store
            .recent(10, Some(EntryState::Dispatched))
            .unwrap()
            .iter()
            .any(|e| e.raw.contains("ping crash") && e.key.starts_with("msg:C1:")))
        .await,
        "the crash event was never journaled as dispatched"
    );
    // A message is journaled under its channel and ts, whichever way it came.
    let event_id = SqliteStore::open_read_only(&db.0)
        .unwrap()
        .recent(10, Some(EntryState::Dispatched))
        .unwrap()
        .into_iter()
        .find(|e| e.raw.contains("ping crash"))
        .map(|e| e.key)
        .unwrap();
    let crash_ts = event_id.rsplit(':').next().unwrap().to_owned();
    assert!(
        sim.wait_for_stats(WAIT, |s| s.pending == 0).await,
        "acked before the crash"
    );
    run.abort();
    let _ = run.await;
    common::journal_released(&db.0).await;

    // Second life on the same journal: the cut-off handler runs again, as attempt 1.
    let second = App::with_handler(config, |ctx: Context, envelope: Envelope| async move {
        let text = text_of(&envelope);
        if let Some(tag) = text.strip_prefix("ping ") {
            // A handler can't assert (a panic is caught and counted); report instead.
            let consistent =
                ctx.attempt() == envelope.attempt() && ctx.is_replay() == (envelope.attempt() > 0);
            ctx.post(&PostMessageRequest::text(
                "C1",
                format!(
                    "pong {tag} attempt={} consistent={consistent}",
                    ctx.attempt()
                ),
            ))
            .await?;
        }
        Ok(())
    });
    let status = second.status();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(second.run(async move {
        let _ = stopped.await;
    }));
    let replayed = sim
        .wait_for_post(WAIT, |p| p.text == "pong crash attempt=1 consistent=true")
        .await;
    assert!(replayed.is_some(), "not replayed: {:?}", sim.posted());
    assert_eq!(
        status.snapshot().replayed,
        1,
        "only the unfinished event replays"
    );

    // Slack delivering that event again after the restart is a duplicate, from the journal.
    let payload = serde_json::json!({
        "type": "event_callback",
        "event_id": "EvAGAIN",
        "event": {"type": "message", "channel": "C1", "user": "U1", "text": "ping crash", "ts": crash_ts},
    });
    assert!(status.wait_for(WAIT, |s| s.live_connections == 2).await);
    sim.send_envelope("events_api", payload, false);
    assert!(
        status.wait_for(WAIT, |s| s.duplicates >= 1).await,
        "{:?}",
        status.snapshot()
    );
    let crash_posts = sim
        .posted()
        .iter()
        .filter(|p| p.text.starts_with("pong crash"))
        .count();
    assert_eq!(crash_posts, 1, "{:?}", sim.posted());
    assert_eq!(
        sim.posted()
            .iter()
            .filter(|p| p.text.starts_with("pong before"))
            .count(),
        1
    );

    let _ = stop.send(());
    run.await.unwrap().unwrap();
    let store = SqliteStore::open_read_only(&db.0).unwrap();
    assert!(
        store.unfinished(10).unwrap().is_empty(),
        "everything finished"
    );
    let store: Arc<dyn Store> = Arc::new(store);
    let done = store.recent(10, Some(EntryState::Done)).unwrap();
    assert!(
        done.iter().any(|e| e.key == event_id && e.attempts == 2),
        "{done:?}"
    );
}

/// A handler's storage lives in the journal's file: a count kept by one run of the bot is there
/// for the next.
#[tokio::test]
async fn storage_survives_a_restart() {
    let (log, _capturing) = common::capture_logs();
    let db = TempJournal::new("storage");
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    for life in 1..=2u64 {
        let app = App::with_handler(
            config.clone(),
            |ctx: Context, envelope: Envelope| async move {
                if text_of(&envelope) != "count me" {
                    return Ok(());
                }
                let n = ctx
                    .storage()
                    .update::<u64, _>("user:U1:count", |n| Some(n.unwrap_or(0) + 1))
                    .await?
                    .unwrap_or(0);
                ctx.post(&PostMessageRequest::text("C1", format!("count {n}")))
                    .await?;
                Ok(())
            },
        );
        let status = app.status();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        assert!(
            status.wait_for(WAIT, |s| s.live_connections == 2).await,
            "life {life}: {}",
            log.text()
        );
        sim.send_message(MessageSpec::new("C1", "U1", "count me"));
        let want = format!("count {life}");
        assert!(
            sim.wait_for_post(WAIT, |p| p.text == want).await.is_some(),
            "life {life}: {:?}",
            sim.posted()
        );
        let _ = stop.send(());
        run.await.unwrap().unwrap();
    }
}

/// Handlers saturated: new envelopes are still journaled and acked at once, wait in the
/// journal, and reach the handlers in arrival order when they free up. Nothing is refused,
/// nothing is redelivered.
#[tokio::test]
async fn a_burst_beyond_the_dispatch_queue_waits_in_the_journal_acked() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.dispatch_queue = 4;
    config.max_concurrent_handlers = 1;
    let store = Arc::new(nonstop::MemoryStore::new());
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let handled = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (handler_gate, handler_log) = (Arc::clone(&gate), Arc::clone(&handled));
    let app = App::with_handler(config, move |_ctx: Context, envelope: Envelope| {
        let (gate, log) = (Arc::clone(&handler_gate), Arc::clone(&handler_log));
        async move {
            gate.acquire().await?.forget();
            log.lock().unwrap().push(envelope.dedup_key().to_owned());
            Ok(())
        }
    })
    .with_store(store.clone());
    let status = app.status();
    let run = tokio::spawn(app.run(std::future::pending()));
    assert!(status.wait_for(WAIT, |s| s.live_connections == 2).await);

    const BURST: usize = 60;
    for i in 0..BURST {
        sim.send_message(MessageSpec::new("C1", "U1", &format!("burst {i}")));
    }
    // Every envelope is acked while one handler runs and four wait in the queue.
    assert!(
        sim.wait_for_stats(WAIT, |s| s.acks as usize >= BURST).await,
        "not all acked: {:?}",
        sim.stats()
    );
    assert_eq!(handled.lock().unwrap().len(), 0, "no handler finished yet");
    assert_eq!(status.snapshot().refused, 0);

    gate.add_permits(BURST);
    assert!(
        status.wait_for(WAIT, |s| s.handled as usize >= BURST).await,
        "{:?}",
        status.snapshot()
    );
    let stats = sim.stats();
    assert_eq!((stats.redeliveries, stats.expired), (0, 0), "{stats:?}");
    // Handled once each, in the journal's arrival order.
    let journal_order: Vec<String> = store
        .recent(BURST, None)
        .unwrap()
        .into_iter()
        .rev()
        .map(|e| e.key)
        .collect();
    assert_eq!(*handled.lock().unwrap(), journal_order);
    run.abort();
}

#[tokio::test]
async fn an_event_cut_off_by_every_stop_is_given_up_not_replayed_forever() {
    use nonstop::journal::{Mark, NewEntry, MAX_INTERRUPTED_STARTS};
    let db = TempJournal::new("crash-loop");
    // The journal as three stops in the middle of one handler would leave it, and an event
    // cut off once.
    {
        let store = SqliteStore::open(&db.0, nonstop::config::Durability::Full).unwrap();
        let entry = |key: &str, text: &str| NewEntry {
            key: key.to_owned(),
            envelope_id: format!("env-{key}"),
            kind: "events_api".to_owned(),
            raw: Arc::from(format!(
                r#"{{"envelope_id":"env-{key}","type":"events_api","payload":{{"type":"event_callback","event_id":"{key}","event":{{"type":"message","channel":"C1","user":"U1","text":"{text}","ts":"1.000001"}}}}}}"#
            )),
            received_at: std::time::SystemTime::now(),
            dispatched: true,
        };
        let restarts = (1..MAX_INTERRUPTED_STARTS).map(|_| Mark::Dispatched {
            key: "EvLOOP".into(),
        });
        store
            .commit(
                &[entry("EvLOOP", "ping loop"), entry("EvONCE", "ping once")],
                &restarts.collect::<Vec<_>>(),
            )
            .unwrap();
    }
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let app = {
        let seen = Arc::clone(&seen);
        App::with_handler(config, move |ctx: Context, envelope: Envelope| {
            let seen = Arc::clone(&seen);
            async move {
                seen.lock()
                    .unwrap()
                    .push((text_of(&envelope), ctx.attempt()));
                Ok(())
            }
        })
    };
    let status = app.status();
    let run = tokio::spawn(app.run(std::future::pending()));
    assert!(
        status
            .wait_for(WAIT, |s| s.live_connections == 2 && s.handled >= 1)
            .await
    );

    // Only the event cut off once is replayed, told it is a replay.
    assert_eq!(*seen.lock().unwrap(), vec![("ping once".to_owned(), 1)]);
    assert_eq!(status.snapshot().replayed, 1);
    assert!(
        journal_shows(&db.0, |store| store
            .recent(10, Some(EntryState::Failed))
            .unwrap()
            .iter()
            .any(|e| e.key == "EvLOOP"
                && e.error
                    .as_deref()
                    .is_some_and(|m| m.contains("started 3 times"))))
        .await,
        "the crash-looping event is recorded as failed, with why"
    );
    // The replay's start was written before it ran: a stop during it would count.
    assert!(
        journal_shows(&db.0, |store| store
            .recent(10, Some(EntryState::Done))
            .unwrap()
            .iter()
            .any(|e| e.key == "EvONCE" && e.attempts == 2))
        .await,
        "the replay's start was not recorded"
    );
    run.abort();
    let _ = run.await;
    common::journal_released(&db.0).await;
}

/// A handler's `Storage::update` whose closure takes 2 s, while events flow at about 1,000 a
/// second: the closure is user code and must hold up no ack. It used to run inside the
/// journal's SQLite connection, so every envelope waited for it. The closure is also raced by
/// a plain `set` of the same key: it runs again on the new value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_storage_update_holds_up_no_ack() {
    let db = TempJournal::new("slow-storage");
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    config.handler_timeout = Duration::from_secs(30);
    let rounds = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counted = Arc::clone(&rounds);
    let app = App::with_handler(config, move |ctx: Context, envelope: Envelope| {
        let rounds = Arc::clone(&counted);
        async move {
            if text_of(&envelope) == "slow update" {
                let storage = ctx.storage().clone();
                let racer = ctx.storage().clone();
                let stored = storage
                    .update::<u64, _>("slow", move |n| {
                        let round = rounds.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if round == 0 {
                            // Another writer lands while this one thinks.
                            let racer = racer.clone();
                            std::thread::spawn(move || {
                                tokio::runtime::Builder::new_current_thread()
                                    .build()
                                    .unwrap()
                                    .block_on(racer.set("slow", &10u64))
                                    .unwrap();
                            })
                            .join()
                            .unwrap();
                        }
                        std::thread::sleep(Duration::from_secs(2));
                        Some(n.unwrap_or(0) + 1)
                    })
                    .await?;
                ctx.post(&PostMessageRequest::text(
                    "C1",
                    format!("stored {}", stored.unwrap_or(0)),
                ))
                .await?;
            }
            Ok(())
        }
    });
    let h = common::Harness::launch(sim, app);
    h.wait_live(2).await;
    let sim = &h.sim();
    sim.send_message(MessageSpec::new("C1", "U1", "slow update"));
    // Reactions the bot only journals and acks, about 1,000 a second for 5 s: the update's
    // two rounds of 2 s fall inside.
    sim.take_ack_latencies();
    for _ in 0..500 {
        for _ in 0..10 {
            sim.send_event(serde_json::json!({
                "type": "reaction_added",
                "user": "U1",
                "reaction": "eyes",
                "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"},
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let post = sim
        .wait_for_post(WAIT, |p| p.text.starts_with("stored "))
        .await;
    assert_eq!(
        post.map(|p| p.text).as_deref(),
        Some("stored 11"),
        "the raced update ran again on the new value"
    );
    assert_eq!(rounds.load(std::sync::atomic::Ordering::SeqCst), 2);
    let mut latencies = sim.take_ack_latencies();
    latencies.sort();
    assert!(latencies.len() > 3000, "{} acks", latencies.len());
    let p99 = latencies[latencies.len() * 99 / 100];
    println!(
        "{} acks during a 2 s storage closure: p50 {:?}, p99 {p99:?}",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    // Behind the closure, acks waited for it: seconds. Without it, milliseconds (a debug build
    // on a busy machine stays far under a second).
    assert!(p99 < Duration::from_secs(1), "ack p99 {p99:?}");
    h.stop().await.unwrap();
}

/// A journal another bot wrote (two bots started from one directory share `nonstop.db`;
/// on Redis, two bots on the default prefix): refused at start, naming both bots and the
/// setting, before anything of it is replayed: the other bot's unfinished event is not run by
/// this one's handlers, nor answered with its token.
#[tokio::test]
async fn a_journal_another_bot_wrote_is_refused_before_anything_is_replayed() {
    use nonstop::journal::{NewEntry, StoreError};
    let db = TempJournal::new("other-bot");
    {
        let store = SqliteStore::open(&db.0, nonstop::config::Durability::Full).unwrap();
        store.claim_for_bot("T0OTHER/U0OTHER").unwrap();
        store
            .commit(
                &[NewEntry {
                    key: "EvOTHER".to_owned(),
                    envelope_id: "env-other".to_owned(),
                    kind: "events_api".to_owned(),
                    raw: Arc::from(
                        r#"{"envelope_id":"env-other","type":"events_api","payload":{"type":"event_callback","event_id":"EvOTHER","event":{"type":"message","channel":"C1","user":"U1","text":"ping other","ts":"1.000001"}}}"#,
                    ),
                    received_at: std::time::SystemTime::now(),
                    dispatched: true,
                }],
                &[],
            )
            .unwrap();
    }
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let app = App::with_handler(config, |ctx: Context, envelope: Envelope| async move {
        if let Some(tag) = text_of(&envelope).strip_prefix("ping ") {
            ctx.post(&PostMessageRequest::text("C1", format!("pong {tag}")))
                .await?;
        }
        Ok(())
    });
    let ended = tokio::time::timeout(WAIT, app.run(std::future::pending()))
        .await
        .expect("the run ends by itself");
    let Err(nonstop::Error::Journal(e @ StoreError::OtherBot { .. })) = ended else {
        panic!("{ended:?}")
    };
    let shown = e.to_string();
    assert!(shown.contains("T0OTHER/U0OTHER"), "{shown}");
    assert!(shown.contains("T0SIM/U0BOT"), "{shown}");
    assert!(shown.contains("NONSTOP_DB"), "{shown}");
    assert!(sim.posted().is_empty(), "{:?}", sim.posted());
    assert_eq!(sim.stats().sockets_opened, 0, "refused before any socket");
}
