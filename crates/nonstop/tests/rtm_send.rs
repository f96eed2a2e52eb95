//! Answers over the RTM socket itself: plain text goes as a socket frame at RTM's pace and is
//! confirmed with its `ts` (confirmations matched by id in any order, refusals and frames too
//! large for RTM going through `chat.postMessage`); a message whose socket died before its
//! confirmation is neither lost nor posted twice.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{sim_config, text_of, Harness, WAIT};
use nonstop::model::web::PostMessageRequest;
use nonstop::{App, Config, Context, DeliveryError, Envelope};
use nonstop_sim::{Fault, MessageSpec, PostedMessage, Sim, SimConfig, TempJournal};
use serde_json::json;

/// `echo N`: says `said N`, waits until Slack took it, then says `said N at <its ts>`.
/// `rich`: posts a message with blocks. `long`: says 5,000 characters.
async fn handler(ctx: Context, envelope: Envelope) -> nonstop::HandlerResult {
    let text = text_of(&envelope);
    if let Some(n) = text.strip_prefix("echo ") {
        let said = format!("said {n}");
        let delivered = match ctx.say(&said).await?.delivered().await {
            // The crash test ends the bot in-process, its sender first: a process that
            // really dies would not get to record this handler as failed.
            Err(DeliveryError::Stopped) => std::future::pending().await,
            other => other?,
        };
        let ts = delivered.ts().unwrap_or("none").to_owned();
        ctx.say(&format!("{said} at {ts}")).await?;
    } else if text == "rich" {
        let channel = ctx.channel().unwrap_or_default().to_owned();
        let request = PostMessageRequest::text(channel, "rich").with_blocks(
            json!([{"type": "section", "text": {"type": "mrkdwn", "text": "*rich*"}}]),
        );
        ctx.post(&request).await?;
    } else if text == "long" {
        ctx.say(&"long ".repeat(1000)).await?;
    } else if text == "huge" {
        // Within 4,000 characters, but each escaped to six bytes in JSON: over 16 KB.
        ctx.say(&"\u{7}".repeat(4000)).await?;
    }
    Ok(())
}

/// An RTM bot running [`handler`] with the test settings, tweaked.
async fn start(sim_config: SimConfig, tweak: impl FnOnce(&mut Config)) -> Harness {
    let sim = Sim::start(sim_config).await.unwrap();
    let mut config = common::rtm_bot_config(&sim);
    tweak(&mut config);
    Harness::launch(sim, App::with_handler(config, handler))
}

/// Says `echo <n>` in `channel`, and checks the bot said `said <n>` once and then named the
/// `ts` Slack gave that message.
async fn echo(h: &Harness, channel: &str, n: u32) -> PostedMessage {
    h.sim()
        .send_message(MessageSpec::new(channel, "U1", &format!("echo {n}")));
    let said = h.expect_post(&format!("said {n}")).await;
    h.expect_post(&format!("said {n} at {}", said.ts)).await;
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_answers_go_over_the_socket_at_rtms_pace_and_rich_ones_through_the_web_api() {
    let h = start(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    // Four conversations at once: their lanes run side by side, so the socket's pace decides
    // which answers it carries.
    for (n, channel) in ["C1", "C2", "C3", "C4"].into_iter().enumerate() {
        h.sim()
            .send_message(MessageSpec::new(channel, "U1", &format!("echo {n}")));
    }
    for n in 0..4 {
        let said = h.expect_post(&format!("said {n}")).await;
        h.expect_post(&format!("said {n} at {}", said.ts)).await;
    }
    h.sim().send_message(MessageSpec::new("C1", "U1", "rich"));
    h.sim().send_message(MessageSpec::new("C2", "U1", "long"));
    let rich = h.expect_post("rich").await;
    let long = h.expect_post(&"long ".repeat(1000)).await;
    assert!(
        !rich.over_rtm && !long.over_rtm,
        "blocks and 5,000 characters need the Web API"
    );
    assert!(rich.metadata.is_some(), "posted with its outbox key");

    let posted = h.sim().posted();
    let mut over_rtm: Vec<&PostedMessage> = posted.iter().filter(|p| p.over_rtm).collect();
    assert!(
        !over_rtm.is_empty(),
        "some answers went over the socket: {posted:?}"
    );
    assert!(
        over_rtm.len() < posted.len(),
        "answers beyond RTM's pace went through the Web API"
    );
    // Never faster than one a second (half of that allowed for when each reached the
    // simulator), so Slack never refused one for its pace.
    over_rtm.sort_by_key(|p| p.recorded_at_ms);
    for pair in over_rtm.windows(2) {
        let gap = pair[1].recorded_at_ms - pair[0].recorded_at_ms;
        assert!(gap >= 500, "two socket messages {gap} ms apart");
    }
    let stats = h.sim().stats();
    assert_eq!(stats.rtm_rate_limited, 0, "{stats:?}");
    assert_eq!(stats.oversized_client_frames, 0, "{stats:?}");
    assert_eq!(
        h.status().snapshot().answers_over_rtm,
        over_rtm.len() as u64
    );
    // Each went out once.
    for n in 0..4 {
        assert_eq!(h.count_posts(&format!("said {n}")), 1);
    }
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_or_oversized_socket_message_goes_through_the_web_api_instead() {
    let h = start(sim_config(), |_| {}).await;
    h.wait_live(2).await;
    h.sim().inject(Fault::RefuseMessages { count: 1 });
    let said = echo(&h, "C1", 0).await;
    assert!(
        !said.over_rtm,
        "refused over RTM, posted by chat.postMessage"
    );
    assert!(said.metadata.is_some());
    assert_eq!(h.count_posts("said 0"), 1);
    h.sim().send_message(MessageSpec::new("C1", "U1", "huge"));
    let huge = h.expect_post(&"\u{7}".repeat(4000)).await;
    assert!(!huge.over_rtm);
    let stats = h.sim().stats();
    assert_eq!(stats.oversized_client_frames, 0, "never sent: {stats:?}");
    assert_eq!(h.status().snapshot().answers_failed, 0);
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confirmations_out_of_order_give_each_answer_its_own_ts() {
    // The bot's own pings are rare here, so a held confirmation waits for the next message.
    let h = start(sim_config(), |config| {
        config.connections = 1;
        config.ping_interval = Duration::from_secs(30);
        config.dead_after = Duration::from_secs(60);
    })
    .await;
    h.wait_live(1).await;
    h.sim().inject(Fault::ReorderReplies);
    h.sim().send_message(MessageSpec::new("C1", "U1", "echo 0"));
    let first = h.expect_post("said 0").await;
    assert!(first.over_rtm);
    // Its confirmation is held back until the next frame is answered; that frame is the
    // next message, once RTM's pace allows one.
    assert_eq!(h.count_posts(&format!("said 0 at {}", first.ts)), 0);
    // Not a window: RTM takes one message a second per socket, and the second message must
    // go over the socket too, so it is sent once the pace has room again.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    h.sim().send_message(MessageSpec::new("C2", "U1", "echo 1"));
    let second = h.expect_post("said 1").await;
    assert!(second.over_rtm, "the second went over the socket too");
    // The second's confirmation came first; each answer got its own ts.
    h.expect_post(&format!("said 0 at {}", first.ts)).await;
    h.expect_post(&format!("said 1 at {}", second.ts)).await;
    assert_eq!(h.status().snapshot().answers_over_rtm, 2);
    h.stop().await.unwrap();
}

/// How many times the bot read a channel's history to look for an answer (catch-up reads
/// history too, without metadata).
fn lookups(h: &Harness) -> usize {
    h.sim()
        .calls("conversations.history")
        .iter()
        .filter(|call| call.args.contains_key("include_all_metadata"))
        .count()
}

/// The socket dies right after the bot sent `echo 0`'s answer over it; the answer is in the
/// channel exactly once and the handler learns its real ts.
async fn unconfirmed(connections: usize, posted: bool, late_reply: bool) -> Harness {
    let h = start(sim_config(), |config| config.connections = connections).await;
    h.wait_live(connections).await;
    h.sim()
        .inject(Fault::DropBeforeReply { posted, late_reply });
    let said = echo(&h, "C1", 0).await;
    assert!(said.over_rtm, "{said:?}");
    assert_eq!(h.count_posts("said 0"), 1);
    assert!(h.status().wait_for(WAIT, |s| s.handled == 1).await);
    // The bot answers over the socket again afterwards (once RTM's pace of one message a
    // second has room: not a window, nothing is asserted absent after it).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let next = echo(&h, "C2", 1).await;
    assert!(next.over_rtm, "{next:?}");
    assert_eq!(h.count_posts("said 0"), 1, "not posted twice");
    h
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_lost_with_its_socket_is_sent_again_on_the_next() {
    let h = unconfirmed(1, false, false).await;
    assert_eq!(lookups(&h), 1, "looked for before it was sent again");
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_landed_is_known_by_its_echo_on_the_other_socket() {
    let h = unconfirmed(2, true, false).await;
    assert_eq!(lookups(&h), 0, "the echo was proof enough");
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_landed_is_known_by_its_late_confirmation_on_the_next_socket() {
    let h = unconfirmed(1, true, true).await;
    assert_eq!(lookups(&h), 0, "the late confirmation was proof enough");
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_landed_unconfirmed_and_unechoed_is_found_in_history() {
    let h = unconfirmed(1, true, false).await;
    // Found by its text, so the history was read for it.
    assert_eq!(lookups(&h), 1);
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_rtm_send_web_every_answer_goes_through_chat_post_message() {
    let h = start(sim_config(), |config| config.rtm_send_over_socket = false).await;
    h.wait_live(2).await;
    let said = echo(&h, "C1", 0).await;
    assert!(!said.over_rtm);
    assert!(said.metadata.is_some());
    assert_eq!(h.status().snapshot().answers_over_rtm, 0);
    h.stop().await.unwrap();
}

/// A crash between sending over the socket and the confirmation: after the restart the
/// replayed handler's answer is found in the channel by its text (an RTM message has no
/// metadata) and not posted again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_sent_over_rtm_before_a_crash_is_found_not_sent_again() {
    let db = TempJournal::new("rtm-send-crash");
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = common::rtm_bot_config(&sim);
    config.connections = 1;
    config.journal_path = Some(db.0.clone());
    config.outbox_settle = Duration::from_secs(1);
    let first = Harness::launch(sim, App::with_handler(config.clone(), handler));
    first.wait_live(1).await;
    // Taken by Slack, but the socket dies before the confirmation; the process dies before
    // it could look.
    first.sim().inject(Fault::DropBeforeReply {
        posted: true,
        late_reply: false,
    });
    first
        .sim()
        .send_message(MessageSpec::new("C1", "U1", "echo 0"));
    let said = first.expect_post("said 0").await;
    assert!(said.over_rtm);
    let sim = first.crash().await;
    common::journal_released(&db.0).await;

    let second = Harness::launch(sim, App::with_handler(config, handler));
    second.expect_post(&format!("said 0 at {}", said.ts)).await;
    assert_eq!(second.status().snapshot().replayed, 1);
    assert_eq!(
        second.count_posts("said 0"),
        1,
        "{:?}",
        second.sim().posted()
    );
    second.stop().await.unwrap();
}
