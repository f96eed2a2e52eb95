//! The HTTP transport end to end: the simulator posts signed requests to the bot's request
//! URL as Slack's Events API does, and the bot answers each inside Slack's 3 s, journaled
//! first, with the listener's ack payload in the answer; forged, aged and replayed requests
//! run nothing, and Slack's retries run once.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop::blocks::{self, ViewResponse};
use nonstop::signature::SigningSecrets;
use nonstop::testing::{inbound, TestBot};
use nonstop::{App, Context, HandlerResult, Message, OptionsRequest, SlashCommand, ViewPayload};
use nonstop_sim::{Fault, SimConfig};
use serde_json::json;

async fn hello(ctx: Context, message: Message) -> HandlerResult {
    ctx.say(format!("hi <@{}>", message.user().unwrap_or("?")))
        .await?;
    Ok(())
}

async fn todo(ctx: Context, command: SlashCommand) -> HandlerResult {
    ctx.ack(json!({"text": format!("noted: {}", command.text)}));
    Ok(())
}

async fn submit(ctx: Context, p: ViewPayload) -> HandlerResult {
    if p.view.input("title", "title").unwrap_or("").is_empty() {
        ctx.ack_view(ViewResponse::error("title", "A title, please"))?;
    }
    Ok(())
}

async fn options(ctx: Context, o: OptionsRequest) -> HandlerResult {
    let option = blocks::SelectOption::new(o.value.clone(), o.value);
    ctx.ack_options(blocks::OptionsResponse::Options(vec![option]))?;
    Ok(())
}

fn app(config: nonstop::Config) -> App {
    App::new(config)
        .hears("^hello", hello)
        .command("/todo", todo)
        .view_submission("new", submit)
        .options("team", options)
}

#[tokio::test]
async fn events_commands_and_interactions_come_over_http_and_are_answered_in_the_response() {
    let bot = TestBot::start_over_http(app).await;
    bot.send(inbound::message("hello").channel("C1").user("U1"));
    bot.expect_text("hi <@U1>").await;

    let sent = bot.send(inbound::slash_command("/todo").text("buy milk & eggs"));
    assert_eq!(
        bot.ack(&sent).await,
        Some(json!({"text": "noted: buy milk & eggs"})),
        "the command's answer is the HTTP response's body"
    );
    let sent = bot.send(inbound::view_submission("new").text("title", "title", ""));
    assert_eq!(
        bot.ack(&sent).await,
        Some(json!({"response_action": "errors", "errors": {"title": "A title, please"}}))
    );
    let sent = bot.send(inbound::options_load("team").query("design"));
    assert_eq!(
        bot.ack(&sent).await.unwrap()["options"][0]["value"],
        "design"
    );
    // A click: a plain 200.
    let sent = bot.send(inbound::button("nobody-listens").channel("C1"));
    assert_eq!(bot.ack(&sent).await, None);

    bot.settled().await;
    let stats = bot.sim().stats();
    // Five sent, and the bot's own message, which Slack sends it too.
    assert_eq!(stats.http_answered, 6, "{stats:?}");
    assert_eq!(stats.http_failed + stats.http_turned_away, 0, "{stats:?}");
    assert_eq!(stats.sockets_opened, 0, "no socket is opened over HTTP");
    assert_eq!(bot.status().snapshot().requests, 6);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn forged_and_aged_requests_run_nothing_and_are_counted() {
    let bot = TestBot::start_over_http(app).await;
    // Beside each of Slack's requests, an attacker's copy: forged, then captured and
    // replayed ten minutes later.
    bot.sim().inject(Fault::BadSignature { count: 1 });
    bot.send(inbound::message("hello").channel("C1").user("U6"));
    bot.sim().inject(Fault::StaleTimestamp { count: 1 });
    bot.send(inbound::message("hello").channel("C1").user("U7"));
    bot.expect_text("hi <@U7>").await;
    bot.settled().await;
    let stats = bot.sim().stats();
    assert_eq!(stats.http_turned_away, 2, "{stats:?}");
    assert_eq!(stats.http_forgeries_taken, 0, "{stats:?}");
    let snapshot = bot.status().snapshot();
    assert_eq!(snapshot.requests_rejected, 2);
    assert_eq!(snapshot.envelopes, 2, "only Slack's own were journaled");
    let texts: Vec<_> = bot
        .posts()
        .iter()
        .filter_map(|p| p.text().map(str::to_owned))
        .collect();
    assert_eq!(texts, ["hi <@U6>", "hi <@U7>"], "each answered once");
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn replays_and_slacks_retries_of_what_was_journaled_run_once() {
    let bot = TestBot::start_over_http(app).await;
    bot.sim().inject(Fault::ReplayRequest { count: 1 });
    bot.send(inbound::message("hello once").channel("C1").user("U1"));
    // Slack takes the answer as late and sends the request again (http_timeout).
    bot.sim().inject(Fault::LateAnswer { count: 1 });
    bot.send(inbound::message("hello twice").channel("C1").user("U2"));
    let sent = bot.send(inbound::slash_command("/todo").text("x"));
    bot.settled().await;
    assert_eq!(bot.ack(&sent).await, Some(json!({"text": "noted: x"})));
    let stats = bot.sim().stats();
    assert!(stats.http_posts >= 5, "{stats:?}");
    assert_eq!(stats.http_failed, 1, "{stats:?}");
    let texts: Vec<_> = bot
        .posts()
        .iter()
        .map(|p| p.text().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, ["hi <@U1>", "hi <@U2>"], "each ran once");
    let snapshot = bot.status().snapshot();
    assert_eq!(snapshot.envelopes, 3);
    // The replay and the retry are not journaled again.
    assert!(snapshot.duplicates >= 2, "{snapshot:?}");
    bot.stop().await.unwrap();
}

/// Slack's retry count and reason, as a handler saw them.
type Retry = (u32, Option<String>);

#[tokio::test]
async fn a_retry_of_what_never_arrived_reaches_the_handler_with_slacks_count_and_reason() {
    let seen: Arc<Mutex<Vec<Retry>>> = Arc::default();
    let record = Arc::clone(&seen);
    let bot = TestBot::start_over_http(move |config| {
        App::new(config).hears("^hello", move |ctx: Context, _m: Message| {
            let record = Arc::clone(&record);
            async move {
                let retry = (ctx.retry_num(), ctx.retry_reason().map(str::to_owned));
                record.lock().unwrap().push(retry);
                ctx.say("hi").await?;
                Ok(())
            }
        })
    })
    .await;
    // Nothing listens here: the first delivery fails, and Slack retries.
    let gone = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nowhere = format!("http://{}/slack/events", gone.local_addr().unwrap());
    drop(gone);
    let here = bot.sim().request_url().unwrap();
    bot.sim().set_request_url(Some(&nowhere));
    bot.send(inbound::message("hello again").channel("C1").user("U3"));
    let failed = bot
        .sim()
        .wait_for_stats(Duration::from_secs(20), |s| s.http_failed >= 1)
        .await;
    assert!(failed, "{:?}", bot.sim().stats());
    bot.sim().set_request_url(Some(&here));
    bot.expect_text("hi").await;
    bot.settled().await;
    assert_eq!(
        seen.lock().unwrap().as_slice(),
        [(1, Some("connection_failed".to_owned()))]
    );
    bot.stop().await.unwrap();
}

/// Requests a test makes itself, as Slack would sign them (or not).
#[tokio::test]
async fn the_url_check_answers_the_challenge_and_unsigned_or_oversized_requests_are_refused() {
    let bot = TestBot::start_over_http(app).await;
    let url = bot.sim().request_url().unwrap();
    let secrets = SigningSecrets::new(SimConfig::default().signing_secret);
    let client = reqwest::Client::new();
    let post = |body: String, signed: bool| {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", now.to_string());
        if signed {
            request = request.header("x-slack-signature", secrets.sign(now, body.as_bytes()));
        }
        request.body(body).send()
    };
    let challenge = r#"{"token":"t","challenge":"3eZbrw1aB","type":"url_verification"}"#;
    let answer = post(challenge.to_owned(), true).await.unwrap();
    assert_eq!(answer.status(), 200);
    assert_eq!(
        answer.json::<serde_json::Value>().await.unwrap(),
        json!({"challenge": "3eZbrw1aB"})
    );
    let unsigned = post(challenge.to_owned(), false).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let huge = format!(
        r#"{{"type":"event_callback","x":"{}"}}"#,
        "a".repeat(2 << 20)
    );
    assert_eq!(post(huge, true).await.unwrap().status(), 413);
    let garbled = post("{not json".to_owned(), true).await.unwrap();
    assert_eq!(garbled.status(), 400);
    assert_eq!(garbled.headers()["x-slack-no-retry"], "1");
    assert_eq!(bot.status().snapshot().requests_rejected, 2);
    bot.stop().await.unwrap();
}

/// `NONSTOP_HTTP` at the receiver's own address: one listener serves Slack's requests and the
/// operator endpoint, and the receiver's health is what `/healthz` reports.
#[tokio::test]
async fn the_operator_endpoint_can_share_the_receivers_listener() {
    let sim = nonstop_sim::Sim::start(SimConfig::default()).await.unwrap();
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    let mut config = TestBot::http_config_for(&sim);
    config.events_addr = addr;
    config.http_addr = Some(addr);
    sim.set_request_url(Some(&format!("http://{addr}/slack/events")));
    let mut bot = TestBot::launch(sim, App::new(config).hears("^hello", hello));
    bot.live().await;
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["slots"][0]["state"], "live", "{body}");
    bot.send(inbound::message("hello").channel("C1").user("U5"));
    bot.expect_text("hi <@U5>").await;
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("nonstop_http_requests_total"), "{metrics}");
    bot.stop().await.unwrap();
}

/// The signing secret never reaches a log line or an error, whatever is refused.
#[tokio::test]
async fn no_signing_secret_in_any_log_line_or_error() {
    let (captured, _capturing) = nonstop_test_support::capture_logs();
    let secret = SimConfig::default().signing_secret;
    let bot = TestBot::start_over_http(app).await;
    bot.sim().inject(Fault::BadSignature { count: 1 });
    bot.send(inbound::message("hello").channel("C1"));
    bot.sim().inject(Fault::StaleTimestamp { count: 1 });
    bot.send(inbound::message("hello").channel("C1"));
    bot.send(inbound::message("hello").channel("C1"));
    bot.expect_text("hi <@U0USER>").await;
    // Signed, but not readable: logged as such.
    let url = bot.sim().request_url().unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let body = "{\"no\":\"type\"}";
    let answer = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .header("x-slack-request-timestamp", now.to_string())
        .header(
            "x-slack-signature",
            SigningSecrets::new(secret.clone()).sign(now, body.as_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 400);
    bot.settled().await;
    let (stopped, sim) = bot.stop_keeping_sim().await;
    stopped.unwrap();

    let logs = captured.text();
    // Vacuous unless the refusals were logged.
    assert!(logs.contains("turned away"), "{logs}");
    assert!(
        logs.contains("matches none of the signing secrets"),
        "{logs}"
    );
    assert!(logs.contains("could not be read"), "{logs}");
    assert!(!logs.contains(&secret), "the signing secret is in the log");
    let config = TestBot::http_config_for(&sim);
    assert!(!format!("{config:?}").contains(&secret));
}

/// Bursts past what the receiver serves at once (512 connections): 1,000 requests in a
/// second, then 3,000 at once with 300 of them sent twice (a duplicate storm): every event
/// is handled exactly once, none lost, none doubled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_thousands_of_requests_are_each_handled_once() {
    let seen: Arc<Mutex<std::collections::HashMap<String, u32>>> = Arc::default();
    let record = Arc::clone(&seen);
    let bot = TestBot::start_over_http(move |config| {
        App::new(config).hears("^burst", move |_ctx: Context, m: Message| {
            let record = Arc::clone(&record);
            async move {
                *record.lock().unwrap().entry(m.text).or_default() += 1;
                Ok(())
            }
        })
    })
    .await;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    for n in 0..1_000 {
        tick.tick().await;
        bot.send(inbound::message(format!("burst a{n}")).channel("C1"));
    }
    bot.sim().inject(Fault::ReplayRequest { count: 300 });
    for n in 0..3_000 {
        bot.send(inbound::message(format!("burst b{n}")).channel("C1"));
    }
    bot.settled().await;
    let stats = bot.sim().stats();
    assert_eq!(stats.expired, 0, "Slack gave up on none: {stats:?}");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 4_000, "none lost: {stats:?}");
    let doubled: Vec<_> = seen.iter().filter(|(_, n)| **n != 1).collect();
    assert!(doubled.is_empty(), "none doubled: {doubled:?}");
}
