//! The bot against the simulator over real loopback sockets: the happy path and every fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use nonstop::journal::JournalStore;
use std::time::Duration;

use common::{
    assert_each_answered_once, never_down_during, open_failures, sim_config, Harness, WAIT,
};
use nonstop::model::web::PostMessageRequest;
use nonstop_sim::{Fault, MessageSpec, SimConfig};

#[tokio::test]
async fn answers_ping_in_channel_and_in_thread() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let post = h.ping("hello").await;
    assert_eq!(post.channel, "C1");
    assert_eq!(post.thread_ts, None);

    h.sim()
        .send_message(MessageSpec::new("C2", "U1", "ping threaded").in_thread("1700000000.000001"));
    let post = h.expect_post("pong threaded").await;
    assert_eq!(post.channel, "C2");
    assert_eq!(post.thread_ts.as_deref(), Some("1700000000.000001"));

    // Someone else's text is echoed inert: no mass mention, no disguised link, no unfurl.
    h.sim().send_message(MessageSpec::new(
        "C1",
        "U1",
        "ping <!channel> <https://evil.example|https://slack.com/reset>",
    ));
    let echoed = "pong &lt;!channel&gt; &lt;https://evil.example|https://slack.com/reset&gt;";
    h.expect_post(echoed).await;
    let call = h
        .sim()
        .calls("chat.postMessage")
        .into_iter()
        .find(|c| c.args["text"] == echoed)
        .unwrap();
    assert_eq!(call.args["unfurl_links"], "false");
    assert_eq!(call.args["unfurl_media"], "false");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn never_answers_its_own_messages() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let bot_user = h.sim().config().bot_user_id.clone();
    h.sim()
        .send_message(MessageSpec::new("C1", &bot_user, "ping from myself"));
    // A later message is answered, so the earlier one had its chance.
    h.ping("after").await;
    assert_eq!(h.count_posts("pong from myself"), 0);
    // An edit of one of its messages is the bot's own too.
    h.sim().send_event(serde_json::json!({
        "type": "message",
        "subtype": "message_changed",
        "channel": "C1",
        "hidden": true,
        "message": {"type": "message", "user": bot_user, "text": "ping edited", "ts": "1.000001"},
        "ts": "1.000002",
    }));
    // Its own messages (the one above, the echo of its pong, the edit) are acked at receipt
    // and go no further: not journaled, not handed to a handler.
    assert!(
        h.status().wait_for(WAIT, |s| s.own_messages == 3).await,
        "{:?}",
        h.status().snapshot()
    );
    assert!(
        h.sim().wait_for_stats(WAIT, |s| s.pending == 0).await,
        "all acked"
    );
    let status = h.status().snapshot();
    assert_eq!(
        status.envelopes, 1,
        "only `ping after` was journaled: {status:?}"
    );
    assert_eq!(status.handled, 1, "{status:?}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn status_reports_connections_and_last_disconnect() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::Drop { target: None });
    assert!(
        h.status()
            .wait_for(WAIT, |s| s.reconnects >= 1 && s.live_connections == 2)
            .await
    );
    h.sim().send_message(MessageSpec::new("C1", "U1", "status"));
    let post = h
        .sim()
        .wait_for_post(WAIT, |p| p.text.starts_with("up "))
        .await
        .expect("status answered");
    assert!(post.text.contains("2 live connections"), "{}", post.text);
    assert!(post.text.contains("1 reconnect"), "{}", post.text);
    assert!(post.text.contains("eof_without_close"), "{}", post.text);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn abrupt_drop_is_named_and_recovered_without_losing_events() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    h.sim().inject(Fault::Drop { target: None });
    let tags: Vec<String> = (0..20).map(|i| format!("drop-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert!(
        h.sim()
            .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
            .await
    );
    h.wait_live(2).await;
    let last = h
        .status()
        .snapshot()
        .last_disconnect
        .expect("a disconnect was recorded");
    assert!(
        last.cause.starts_with("eof_without_close"),
        "{}",
        last.cause
    );
    assert_each_answered_once(&h, &tags).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn half_open_socket_is_declared_dead_and_replaced() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::HalfOpen { target: None });
    // Events routed to the silent socket come back as redeliveries on the other one.
    let tags: Vec<String> = (0..10).map(|i| format!("half-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert!(
        h.status()
            .wait_for(WAIT, |s| s
                .last_disconnect
                .as_ref()
                .is_some_and(|d| d.cause.starts_with("dead(no frame for")))
            .await,
        "half-open socket not declared dead: {:?}",
        h.status().snapshot()
    );
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 2).await);
    assert_each_answered_once(&h, &tags).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn connect_outage_is_retried_until_it_ends() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    // Taken before the outage begins, so that a late look at the clock cannot shorten it.
    let down = tokio::time::Instant::now();
    h.sim().inject(Fault::Outage {
        secs: 3.0,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    // Sent while no socket is open: Slack holds them and delivers later.
    let tags: Vec<String> = (0..5).map(|i| format!("outage-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    h.wait_live(2).await;
    let gap = down.elapsed();
    assert!(
        gap >= Duration::from_secs(3),
        "came back during the outage: {gap:?}"
    );
    // Back within a backoff cap of the outage's end: no wait between tries was longer than
    // the cap (500 ms in tests), as recorded, whatever the machine's load did to the clock.
    let waits = open_failures(&h);
    assert!(waits.len() >= 3, "retries were not made: {waits:?}");
    assert!(
        waits.iter().all(|w| *w <= Duration::from_millis(500)),
        "a retry waited longer than the cap: {waits:?}"
    );
    let refusals = h.sim().stats().connect_refusals;
    assert!(refusals >= 3, "retries were not made: {refusals}");
    assert_each_answered_once(&h, &tags).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn disconnect_warning_replaces_before_closing() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    let replaced = never_down_during(&h, 1, async {
        h.sim().inject(Fault::DisconnectWarning {
            target: None,
            close_after_secs: 2.0,
        });
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
                .await
        );
        h.ping("during-warning").await;
        h.wait_live(2).await;
    })
    .await;
    assert!(replaced >= 1, "no replacement recorded");
    // The old socket was closed by us as replaced, not dropped by Slack.
    assert!(h.status().snapshot().last_disconnect.is_none());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn refresh_requested_without_warning_keeps_two_sockets() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    let replaced = never_down_during(&h, 1, async {
        h.sim().inject(Fault::Refresh {
            target: Some(1),
            close_after_secs: 1.0,
        });
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened > opened)
                .await
        );
        h.wait_live(2).await;
    })
    .await;
    assert_eq!(replaced, 1, "one socket was asked to go, one replaced it");
    h.ping("after-refresh").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn rate_limited_reconnect_waits_for_retry_after() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let down = tokio::time::Instant::now();
    h.sim().inject(Fault::RateLimit {
        secs: 2,
        drop_all: true,
    });
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 0).await);
    h.wait_live(2).await;
    let gap = down.elapsed();
    assert!(
        gap >= Duration::from_secs(2),
        "did not honour Retry-After: {gap:?}"
    );
    // Each slot waited what Slack's Retry-After said (whole seconds, at most 2: less when
    // the call came late), plus at most 100 ms of jitter, as recorded: not the backoff's
    // immediate first retry, and not longer.
    let waits = open_failures(&h);
    assert!(!waits.is_empty());
    assert!(
        waits.iter().all(|w| *w >= Duration::from_secs(1)
            && *w <= Duration::from_millis(2100)
            && w.subsec_millis() <= 100),
        "{waits:?}"
    );
    // One refused call per slot, then it waited: no hammering.
    let refusals = h.sim().stats().connect_refusals;
    assert!(refusals <= 4, "kept calling while rate limited: {refusals}");
    h.ping("after-429").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn too_many_websockets_closes_then_reopens() {
    // The wait at Slack's socket limit (30 s by default) shortened for the test.
    let h = Harness::start_with(sim_config(), |c| {
        c.socket_limit_wait = Duration::from_millis(300)
    })
    .await;
    h.wait_live(2).await;
    h.sim().inject(Fault::TooManyWebsockets { target: None });
    assert!(
        h.status()
            .wait_for(WAIT, |s| s.last_disconnect.as_ref().is_some_and(|d| d
                .cause
                == "slack_disconnect(too_many_websockets)"))
            .await
    );
    assert!(h.status().wait_for(WAIT, |s| s.reconnects >= 1).await);
    h.wait_live(2).await;
    h.ping("after-too-many").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn close_frame_code_and_reason_are_reported() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::CloseFrame {
        target: None,
        code: 4002,
        reason: "maintenance".into(),
    });
    assert!(
        h.status()
            .wait_for(WAIT, |s| s
                .last_disconnect
                .as_ref()
                .is_some_and(|d| d.cause == "close_frame(4002, \"maintenance\")"))
            .await,
        "{:?}",
        h.status().snapshot()
    );
    h.wait_live(2).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn link_disabled_stops_with_a_clear_error() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::LinkDisabled);
    let err = h.finished().await.unwrap_err();
    let shown = err.to_string();
    assert!(matches!(err, nonstop::Error::Fatal { .. }), "{shown}");
    assert!(shown.contains("link_disabled"), "{shown}");
    assert!(shown.contains("turn Socket Mode on"), "{shown}");
}

#[tokio::test]
async fn revoked_token_stops_with_a_clear_error() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::RevokeToken {
        code: "token_revoked".into(),
    });
    let err = h.finished().await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("token_revoked"), "{shown}");
    assert!(shown.contains("create a new one"), "{shown}");
    assert!(!shown.contains("simulatedapptoken"), "{shown}");
}

#[tokio::test]
async fn wrong_app_token_is_fatal_at_start() {
    let h = Harness::start_with(common::sim_config(), |config| {
        config.app_token = Some(nonstop::Secret::new("xapp-1-WRONG-token"));
    })
    .await;
    let err = h.finished().await.unwrap_err();
    let shown = err.to_string();
    assert!(shown.contains("invalid_auth"), "{shown}");
    assert!(!shown.contains("WRONG"), "{shown}");
}

#[tokio::test]
async fn bad_frames_cost_one_error_each_and_never_the_socket() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let opened = h.sim().stats().sockets_opened;
    let acks = h.sim().stats().acks;
    for fault in [
        Fault::Malformed { target: None },
        Fault::Binary { target: None },
        Fault::Oversized {
            target: None,
            bytes: 2 * 1024 * 1024,
        },
        Fault::UnknownEnvelope { target: None },
    ] {
        h.sim().inject(fault);
    }
    // Malformed, binary and oversized are counted; the unknown envelope is acked and handed on.
    assert!(
        h.status().wait_for(WAIT, |s| s.bad_frames >= 3).await,
        "{:?}",
        h.status().snapshot()
    );
    assert!(h.sim().wait_for_stats(WAIT, |s| s.acks > acks).await);
    h.ping("after-bad-frames").await;
    assert_eq!(
        h.sim().stats().sockets_opened,
        opened,
        "a bad frame cost a socket"
    );
    assert!(h.status().snapshot().last_disconnect.is_none());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn the_same_event_on_two_sockets_is_handled_once() {
    let h = Harness::start().await;
    h.wait_live(2).await;
    let payload = serde_json::json!({
        "type": "event_callback",
        "team_id": "T0SIM",
        "event_id": "EvTWICE",
        "event": {"type": "message", "channel": "C1", "user": "U1", "text": "ping twice", "ts": "1.1"},
    });
    // Two envelopes carrying one event, round-robined onto both sockets.
    h.sim().send_envelope("events_api", payload.clone(), false);
    h.sim().send_envelope("events_api", payload, false);
    h.expect_post("pong twice").await;
    assert!(
        h.sim().wait_for_stats(WAIT, |s| s.pending == 0).await,
        "both acked"
    );
    h.settled().await;
    assert_eq!(h.count_posts("pong twice"), 1);
    assert!(h.status().snapshot().duplicates >= 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn panicking_and_hanging_handlers_never_delay_acks() {
    let h = Harness::start_with_handler(
        |ctx: nonstop::Context, envelope: nonstop::Envelope| async move {
            let text = common::text_of(&envelope);
            match text.as_str() {
                "boom" => panic!("handler exploded"),
                "hang" => std::future::pending::<()>().await,
                "fine" => {}
                _ => return Ok(()), // the bot's own posts, echoed back
            }
            ctx.post(&PostMessageRequest::text("C1", format!("done {text}")))
                .await?;
            Ok(())
        },
    )
    .await;
    h.wait_live(2).await;
    for text in ["boom", "hang", "hang", "boom"] {
        h.sim().send_message(MessageSpec::new("C1", "U1", text));
    }
    h.sim().send_message(MessageSpec::new("C1", "U1", "fine"));
    h.expect_post("done fine").await;
    // All five acked at once; none waited for a handler.
    assert!(
        h.sim()
            .wait_for_stats(Duration::from_millis(500), |s| s.acks >= 5
                && s.pending == 0)
            .await,
        "{:?}",
        h.sim().stats()
    );
    assert!(
        h.status()
            .wait_for(WAIT, |s| s.panicked == 2 && s.timed_out == 2)
            .await,
        "{:?}",
        h.status().snapshot()
    );
    assert_eq!(h.sim().stats().redeliveries, 0);
    h.stop().await.unwrap();
}

/// With a short `hello_timeout`, `fault` on the next socket (one is dropped to make one): an
/// open fails with a cause `named` accepts, then both sockets are live and answer.
async fn hello_fault_is_named_and_outlasted(fault: Fault, named: fn(&str) -> bool, tag: &str) {
    let h = Harness::start_with(common::sim_config(), |config| {
        config.hello_timeout = Duration::from_millis(500);
    })
    .await;
    h.wait_live(2).await;
    h.sim().inject(fault);
    h.sim().inject(Fault::Drop { target: None });
    assert!(
        h.status()
            .wait_for(WAIT, |_| h.status().history().iter().any(|r| matches!(
                &r.change,
                nonstop::LifecycleChange::OpenFailed { cause, .. } if named(cause)
            )))
            .await,
        "{:?}",
        h.status().history()
    );
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 2).await);
    h.ping(tag).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn missing_hello_times_out_and_is_retried() {
    hello_fault_is_named_and_outlasted(
        Fault::WithholdHello { count: 1 },
        |cause| cause.starts_with("connect_failed(hello_timeout"),
        "after-no-hello",
    )
    .await;
}

/// Issue 25: a hello whose `approximate_connection_time` was odd was refused whole; every
/// socket ended as `hello_timeout` and the bot stayed deaf for the whole run. Each odd value
/// now leaves a live socket that hears and answers, without a planned refresh.
#[tokio::test]
async fn a_hello_with_an_odd_lifetime_opens_a_live_socket() {
    let h = Harness::start_with(common::sim_config(), |config| {
        config.hello_timeout = Duration::from_millis(500);
    })
    .await;
    h.wait_live(2).await;
    for value in [
        serde_json::json!(1.5),
        serde_json::json!(1e300),
        serde_json::json!(-5),
        serde_json::json!("abc"),
    ] {
        h.sim().inject(Fault::OddHello {
            count: 2,
            value: Some(value.clone()),
        });
        let opened = h.sim().stats().sockets_opened;
        h.sim().inject(Fault::DropAll);
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened >= opened + 2
                    && s.live_sockets == 2)
                .await,
            "{value}: {:?}",
            h.sim().stats()
        );
        h.wait_live(2).await;
        h.ping(&format!("after-odd-hello-{value}")).await;
    }
    let timeouts = h
        .status()
        .history()
        .iter()
        .filter(|r| matches!(&r.change, nonstop::LifecycleChange::OpenFailed { .. }))
        .count();
    assert_eq!(timeouts, 0, "{:?}", h.status().history());
    h.stop().await.unwrap();
}

/// A hello that cannot be read at all is named as what it is, not as a hello that never came.
#[tokio::test]
async fn a_garbled_hello_is_named_and_the_socket_is_opened_again() {
    hello_fault_is_named_and_outlasted(
        Fault::OddHello {
            count: 1,
            value: None,
        },
        |cause| cause.starts_with("protocol(no hello within") && cause.contains("unreadable frame"),
        "after-garbled-hello",
    )
    .await;
}

#[tokio::test]
async fn sockets_are_replaced_before_slack_recycles_them() {
    let sim_config = nonstop_sim::SimConfig {
        approximate_connection_time: Duration::from_secs(4),
        ..common::sim_config()
    };
    let h = Harness::start_with(sim_config, |config| {
        config.refresh_margin = Duration::from_secs(1);
    })
    .await;
    h.wait_live(2).await;
    let replaced = never_down_during(&h, 4, async {
        // Each socket is replaced 2-3 s after it opens: at least 4 more sockets.
        assert!(
            h.sim()
                .wait_for_stats(WAIT, |s| s.sockets_opened >= 6)
                .await
        );
        h.wait_live(2).await;
    })
    .await;
    assert!(replaced >= 4, "{replaced} replacements");
    assert!(
        h.status().snapshot().last_disconnect.is_none(),
        "{:?}",
        h.status().snapshot()
    );
    h.ping("after-planned-refresh").await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn every_event_delivered_three_times_is_handled_once() {
    let h = Harness::start_with(
        SimConfig {
            duplicate_delivery: true,
            ..common::sim_config()
        },
        |_| {},
    )
    .await;
    h.wait_live(2).await;
    let tags: Vec<String> = (0..30).map(|i| format!("thrice-{i}")).collect();
    for tag in &tags {
        h.sim()
            .send_message(MessageSpec::new("C1", "U1", &format!("ping {tag}")));
    }
    assert_each_answered_once(&h, &tags).await;
    let status = h.status().snapshot();
    // Each event came three times (the bot's own pongs too, echoed back): two of every three
    // are duplicates.
    assert!(status.duplicates >= 2 * tags.len() as u64, "{status:?}");
    h.stop().await.unwrap();
}

/// A server that says extreme numbers in `hello`: a connection time of 2^64-1 s used to
/// overflow the clock (a panic that ended the slot for good), one of 0 to replace every socket
/// at once, again and again. Both bots stay on two sockets and recover from a drop.
#[tokio::test]
async fn extreme_connection_times_in_hello_neither_panic_nor_churn() {
    for seconds in [u64::MAX, 0] {
        let h = Harness::start_with(
            SimConfig {
                approximate_connection_time: Duration::from_secs(seconds),
                ..sim_config()
            },
            |_| {},
        )
        .await;
        h.wait_live(2).await;
        h.ping(&format!("after hello {seconds}")).await;
        // No replacement storm: the sockets it opened are the two it keeps. An absence
        // window, kept on purpose: a storm would open sockets within milliseconds of the
        // hello, and there is no fact to wait for that says no more will come.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            h.sim().stats().sockets_opened,
            2,
            "{seconds}: {:?}",
            h.sim().stats()
        );
        h.sim().inject(Fault::Drop { target: None });
        assert!(
            h.status()
                .wait_for(WAIT, |s| s.reconnects >= 1 && s.live_connections == 2)
                .await,
            "{seconds}: {:?}",
            h.status().snapshot()
        );
        h.stop().await.unwrap();
    }
}

/// An envelope whose id reads but whose payload does not is acked (Slack would redeliver it
/// for as long as it tries) and journaled as failed with why, once however often it comes.
#[tokio::test]
async fn an_unreadable_envelope_is_acked_and_recorded_as_failed() {
    let db = nonstop_sim::TempJournal::new("unreadable-envelope");
    let path = db.0.clone();
    let h = Harness::start_with(sim_config(), move |config| {
        config.journal_path = Some(path);
    })
    .await;
    h.wait_live(2).await;
    let envelope_id = h
        .sim()
        .send_envelope("events_api", serde_json::json!("a string"), false);
    assert!(
        h.sim().wait_for_ack(&envelope_id, WAIT).await.is_some(),
        "never acked: {:?}",
        h.sim().stats()
    );
    assert!(h.status().wait_for(WAIT, |s| s.bad_frames >= 1).await);
    let journal = nonstop::SqliteStore::open_read_only(&db.0).unwrap();
    let failed = {
        use nonstop::journal::EntryState;
        journal.recent(10, Some(EntryState::Failed)).unwrap()
    };
    let entry = failed
        .iter()
        .find(|e| e.envelope_id == envelope_id)
        .unwrap_or_else(|| panic!("not journaled as failed: {failed:?}"));
    assert!(
        entry
            .error
            .as_deref()
            .unwrap_or("")
            .contains("could not be read"),
        "{entry:?}"
    );
    // One larger than max_frame_bytes (1 MiB) the same way, without its bytes.
    let oversized = h.sim().send_envelope(
        "events_api",
        serde_json::json!({"padding": "x".repeat(1_100_000)}),
        false,
    );
    assert!(
        h.sim().wait_for_ack(&oversized, WAIT).await.is_some(),
        "oversized never acked"
    );
    let failed = {
        use nonstop::journal::EntryState;
        let journal = nonstop::SqliteStore::open_read_only(&db.0).unwrap();
        journal.recent(10, Some(EntryState::Failed)).unwrap()
    };
    assert!(
        failed.iter().any(|e| e.envelope_id == oversized
            && e.error.as_deref().unwrap_or("").contains("max_frame_bytes")),
        "{failed:?}"
    );
    assert_eq!(h.sim().stats().redeliveries, 0);
    // The bot still answers.
    h.ping("after the unreadable envelope").await;
    h.stop().await.unwrap();
}

/// A server that stops reading the bot's frames while it goes on sending: the bot's acks pile
/// up in TCP buffers until its writes block. Reading, pings and the dead-socket check must not
/// wait for them; the socket is replaced with the cause `write_stalled`, and events go on.
#[tokio::test]
async fn a_server_that_stops_reading_is_replaced_as_write_stalled() {
    let h = Harness::start_with(
        SimConfig {
            receive_buffer: Some(4096),
            ..sim_config()
        },
        |_| {},
    )
    .await;
    h.wait_live(2).await;
    h.sim().inject(Fault::StopReading { target: None });
    let stalled = |s: &nonstop::StatusSnapshot| {
        s.last_disconnect
            .as_ref()
            .is_some_and(|d| d.cause.starts_with("write_stalled("))
    };
    // Events the bot only acks (no listener answers a reaction), as fast as the simulator
    // takes them, until the unread acks block the bot's writes.
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut sent = 0u32;
    while !stalled(&h.status().snapshot()) && tokio::time::Instant::now() < deadline {
        for _ in 0..50 {
            h.sim().send_event(serde_json::json!({
                "type": "reaction_added",
                "user": "U1",
                "reaction": "eyes",
                "item": {"type": "message", "channel": "C1", "ts": "1700000000.000100"},
            }));
            sent += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        stalled(&h.status().snapshot()),
        "not replaced as write_stalled after {sent} events: {:?}",
        h.status().snapshot()
    );
    assert!(h.status().wait_for(WAIT, |s| s.live_connections == 2).await);
    h.ping("after-write-stall").await;
    h.stop().await.unwrap();
    println!(
        "write_stalled after {sent} events, {:?}",
        WAIT - deadline.saturating_duration_since(tokio::time::Instant::now())
    );
}

/// A hostile server that says `disconnect refresh_requested` right after every `hello`: each
/// replacement would be asked to go at once, and the bot used to open sockets as fast as it
/// could (900-1,760 in 3-4 s). A slot now replaces on request at most once every few seconds,
/// the storm is logged once per slot with its cause, and shutdown is prompt.
#[tokio::test]
async fn refresh_requested_after_every_hello_is_no_storm() {
    let (captured, _log) = common::capture_logs();
    let h = Harness::start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::RefreshAfterHello);
    // The sockets that replace these two are asked to go as soon as they are live.
    h.sim().inject(Fault::DropAll);
    let opened_before = h.sim().stats().sockets_opened;
    // A rate is measured here, so a span of time is the point: 7 s covers the first
    // replacements and one more refresh per slot (every 5 s), with room for a slow machine
    // in the bounds below.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let opened = h.sim().stats().sockets_opened - opened_before;
    // Two reconnects at once, their replacements at once, then one per slot every 5 s.
    assert!(
        (2..=8).contains(&opened),
        "{opened} sockets in 7 s: {:?}",
        h.sim().stats()
    );
    h.ping("during-refresh-storm").await;
    let logs = captured.text();
    let storm_lines = logs
        .lines()
        .filter(|l| l.contains("replacement asked for again right after the last one"))
        .count();
    assert!((1..=2).contains(&storm_lines), "{storm_lines}: {logs}");
    assert!(
        logs.contains("slack disconnect"),
        "the cause is named: {logs}"
    );
    tokio::time::timeout(Duration::from_secs(10), h.stop())
        .await
        .expect("shutdown held back by the storm")
        .unwrap();
}

/// A server that sends a bad frame every millisecond used to get a warning line for each
/// (8,331 in 10 s). Each socket now writes a few lines per window and counts the rest; the
/// count is logged, and every bad frame is still counted in the status.
#[tokio::test]
async fn a_flood_of_bad_frames_is_folded_in_the_log_and_counted() {
    let (captured, _log) = common::capture_logs();
    let h = Harness::start().await;
    h.wait_live(2).await;
    let flood_started = tokio::time::Instant::now();
    for _ in 0..1000 {
        h.sim().inject(Fault::Malformed { target: None });
    }
    assert!(
        h.status().wait_for(WAIT, |s| s.bad_frames >= 1000).await,
        "{:?}",
        h.status().snapshot()
    );
    h.stop().await.unwrap();
    let logs = captured.text();
    let lines = logs
        .lines()
        .filter(|l| l.contains("unreadable frame dropped"))
        .count();
    // Ten lines per 10 s window the flood touched (two on an idle machine), not 1,000.
    let windows = flood_started.elapsed().as_secs() as usize / 10 + 1;
    assert!(
        (1..=10 * windows).contains(&lines),
        "{lines} lines for 1,000 bad frames over {windows} windows"
    );
    let folded: u64 = logs
        .lines()
        .filter_map(|l| l.split("folded=").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        lines as u64 + folded,
        1000,
        "every bad frame is logged or counted as folded"
    );
}

/// An `auth.test` that never answers: the log says at once what the bot is waiting for, and
/// each try that times out is a warning with its cause, instead of a minute of silence while
/// the client retried on its own. When the Web API answers again, the bot starts.
#[tokio::test]
async fn a_silent_auth_test_is_logged_at_once_and_at_each_retry() {
    let (captured, _log) = common::capture_logs();
    let sim = nonstop_sim::Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::SlowWebApi { millis: 600_000 });
    let mut config = common::bot_config(&sim);
    config.web_timeout = Duration::from_millis(500);
    let h = Harness::launch(sim, nonstop::App::new(config).with_builtin_commands());
    let deadline = tokio::time::Instant::now() + WAIT;
    let failures = || {
        captured
            .text()
            .lines()
            .filter(|l| l.contains("auth.test failed"))
            .count()
    };
    while failures() < 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = captured.text();
    assert!(failures() >= 2, "{logs}");
    let first = logs
        .find("identifying the bot: auth.test")
        .expect("no first line");
    let failed = logs.find("auth.test failed").unwrap();
    assert!(first < failed, "{logs}");
    assert!(logs.contains("timeout"), "the cause is named: {logs}");
    assert!(logs.contains("retrying in"), "{logs}");
    h.sim().inject(Fault::Heal);
    h.wait_live(2).await;
    h.stop().await.unwrap();
}
