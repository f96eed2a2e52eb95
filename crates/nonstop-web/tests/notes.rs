//! Slack's `warning` and `response_metadata` notes on successful calls are logged, with the
//! method; and the client's own JSON calls give Slack no reason for one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use nonstop_model::web::PostMessageRequest;
use nonstop_sim::{CapturedLog, Fault, Sim, SimConfig};
use nonstop_web::{ClientOptions, Secret, WebClient};

#[tokio::test]
async fn warnings_and_notes_are_logged_with_the_method() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let web = WebClient::with_options(
        &sim.api_url(),
        Some(Secret::new(sim.config().bot_token.clone())),
        ClientOptions {
            post_pace: None,
            ..ClientOptions::default()
        },
    )
    .unwrap();

    // JSON calls carry their charset: Slack has nothing to warn about.
    web.chat_post_message(&PostMessageRequest::text("C1", "hi"))
        .await
        .unwrap();
    assert!(
        !captured.text().contains("missing_charset"),
        "{}",
        captured.text()
    );

    sim.inject(Fault::WarnMethod {
        method: "conversations.info".into(),
        warning: "superfluous_charset".into(),
    });
    web.conversations_info("C1").await.unwrap();
    let log = captured.text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("conversations.info") && l.contains("superfluous_charset"))
        .collect();
    // The `warning` field, and the note in response_metadata.warnings and .messages.
    assert_eq!(lines.len(), 3, "{log}");
    assert!(lines.iter().all(|l| l.contains("WARN")), "{log}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("[WARN] superfluous_charset")),
        "{log}"
    );
}
