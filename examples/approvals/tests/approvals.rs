//! The approval workflow against the simulator (`nonstop::testing::TestBot`): request,
//! self-approval refused, decision, later reactions ignored.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop::testing::{inbound, TestBot};

/// `user` reacts with `name` to the message `ts` in C1.
fn reaction(user: &str, name: &str, ts: &str) -> inbound::ReactionIn {
    inbound::reaction_added(name)
        .user(user)
        .on_message("C1", ts)
        .item_user("U1")
}

fn request(text: &str, ts: &str) -> inbound::MessageIn {
    inbound::message(text).channel("C1").user("U1").ts(ts)
}

fn decisions(bot: &TestBot) -> Vec<String> {
    bot.posts()
        .iter()
        .filter_map(|p| p.text().map(str::to_owned))
        .filter(|t| t.starts_with("Approved") || t.starts_with("Rejected"))
        .collect()
}

#[tokio::test]
async fn requests_are_decided_once_by_someone_else() {
    let bot = TestBot::start(nonstop_example_approvals::app).await;

    bot.send(request("request: buy a 3D printer", "100.0"));
    let waiting = bot
        .expect_post(|p| {
            p.text()
                .is_some_and(|t| t.starts_with("Waiting for approval"))
        })
        .await;
    assert_eq!(waiting.thread_ts(), Some("100.0"));

    // The requester's own ✅ is refused, privately.
    bot.send(reaction("U1", "white_check_mark", "100.0"));
    let refusal = bot.expect_call("chat.postEphemeral", |_| true).await;
    assert_eq!(refusal.user(), Some("U1"));

    // Reactions on other messages and other emoji change nothing.
    bot.send(reaction("U2", "white_check_mark", "50.0"));
    bot.send(reaction("U2", "tada", "100.0"));

    bot.send(reaction("U2", "white_check_mark", "100.0"));
    let approved = bot.expect_text("Approved by <@U2>: buy a 3D printer").await;
    assert_eq!(approved.thread_ts(), Some("100.0"));

    // Decided already: a later ❌ does nothing, once everything sent is handled.
    bot.send(reaction("U3", "x", "100.0"));
    bot.send(request("request: more coffee", "101.0"));
    bot.expect_post(|p| p.thread_ts() == Some("101.0")).await;
    bot.settled().await;
    assert_eq!(decisions(&bot), vec!["Approved by <@U2>: buy a 3D printer"]);

    // The second request is rejected.
    bot.send(reaction("U3", "x", "101.0"));
    bot.expect_text("Rejected by <@U3>: more coffee").await;
    bot.settled().await;
    assert_eq!(
        decisions(&bot),
        vec![
            "Approved by <@U2>: buy a 3D printer",
            "Rejected by <@U3>: more coffee"
        ]
    );
    bot.stop().await.unwrap();
}

/// `approvals manifest` prints a manifest Slack takes (the simulator's `apps.manifest.validate`).
#[tokio::test]
async fn its_manifest_is_one_slack_accepts() {
    let bot = nonstop::testing::TestBot::start(nonstop_example_approvals::app).await;
    let manifest = nonstop_example_approvals::app(nonstop::testing::TestApp::config()).manifest();
    assert_eq!(bot.manifest_problems(&manifest).await, Vec::<String>::new());
    bot.stop().await.unwrap();
}
