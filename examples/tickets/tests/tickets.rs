//! The ticket command against the simulator (`nonstop::testing::TestBot`): ack payload,
//! modal, validation, announcement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop::testing::{inbound, Picked, TestBot};

/// U1 submits the ticket form with `title` and `urgency`, for channel C42.
fn submission(title: &str, urgency: &str) -> inbound::ViewIn {
    inbound::view_submission(nonstop_example_tickets::FORM)
        .text("title", "value", title)
        .input("urgency", "value", Picked::Option(urgency.into()))
        .private_metadata("C42")
        .user("U1")
}

#[tokio::test]
async fn a_ticket_from_command_to_announcement() {
    let bot = TestBot::start(nonstop_example_tickets::app).await;

    let command = bot.send(
        inbound::slash_command("/ticket")
            .text("printer on fire")
            .channel("C42")
            .user("U1"),
    );
    let ack = bot.ack(&command).await.unwrap();
    assert_eq!(ack["text"], "Opening the ticket form…");
    let open = bot.expect_call("views.open", |_| true).await;
    assert_eq!(
        open.args["trigger_id"].as_str(),
        command.trigger_id.as_deref()
    );
    // The form Slack was asked to open is the one the bot builds, field for field.
    assert_eq!(
        open.view(),
        Some(nonstop_example_tickets::form("C42", "printer on fire"))
    );

    // Too short: the form shows an error and nothing is announced.
    let sent = bot.send(submission("hm", "low"));
    let ack = bot.ack(&sent).await.unwrap();
    assert_eq!(ack["response_action"], "errors");
    assert!(ack["errors"]["title"]
        .as_str()
        .unwrap()
        .contains("5 characters"));

    let sent = bot.send(submission("Printer on fire", "high"));
    assert_eq!(bot.ack(&sent).await.unwrap()["response_action"], "clear");
    let post = bot
        .expect_text("Ticket #1 opened by <@U1>: Printer on fire (high)")
        .await;
    assert_eq!(post.channel(), Some("C42"));

    let sent = bot.send(submission("Coffee machine empty", "normal"));
    bot.ack(&sent).await;
    bot.expect_post(|p| p.text().is_some_and(|t| t.starts_with("Ticket #2 ")))
        .await;
    bot.settled().await;
    let tickets = bot
        .posts()
        .iter()
        .filter(|p| p.text().is_some_and(|t| t.starts_with("Ticket #")))
        .count();
    assert_eq!(tickets, 2);
    bot.stop().await.unwrap();
}
