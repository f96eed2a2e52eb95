//! The Web API client against the simulator, over loopback: rate limits, pacing, retries,
//! pagination, typed calls and uploads.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nonstop_model::web::{PostMessageRequest, UpdateMessageRequest};
use nonstop_sim::{Fault, Sim, SimConfig};
use nonstop_web::{ClientOptions, FileUpload, Pace, Secret, WebClient, WebError};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

async fn start(options: ClientOptions) -> (Sim, WebClient) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let token = Secret::new(sim.config().bot_token.clone());
    let web = WebClient::with_options(&sim.api_url(), Some(token), options).unwrap();
    (sim, web)
}

fn fast_retries() -> ClientOptions {
    ClientOptions {
        backoff_base: Duration::from_millis(20),
        backoff_cap: Duration::from_millis(100),
        post_pace: None,
        ..ClientOptions::default()
    }
}

#[tokio::test]
async fn a_429_holds_that_method_until_retry_after_and_no_other() {
    let (sim, web) = start(fast_retries()).await;
    sim.inject(Fault::RateLimitMethod {
        method: "reactions.add".into(),
        secs: 1,
    });
    let started = Instant::now();
    let limited = {
        let web = web.clone();
        tokio::spawn(async move { web.reactions_add("C1", "1.0", ":tada:").await })
    };
    // While reactions.add waits, other methods go through at once.
    sim.wait_for_call("reactions.add", WAIT, |c| c.status == 429)
        .await
        .unwrap();
    let other = Instant::now();
    web.chat_update(&UpdateMessageRequest {
        channel: "C1".into(),
        ts: "1.0".into(),
        text: "edited".into(),
        ..UpdateMessageRequest::default()
    })
    .await
    .unwrap();
    assert!(other.elapsed() < Duration::from_millis(500));

    limited.await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let calls = sim.calls("reactions.add");
    assert_eq!(calls.last().unwrap().status, 200);
    assert_eq!(
        calls.last().unwrap().args["name"],
        "tada",
        "colons are stripped"
    );
    // Every call to the method waited for Retry-After: none came early.
    assert_eq!(sim.early_calls(), 0);
}

#[tokio::test]
async fn concurrent_callers_all_wait_out_one_retry_after() {
    let (sim, web) = start(fast_retries()).await;
    sim.inject(Fault::RateLimitMethod {
        method: "chat.delete".into(),
        secs: 1,
    });
    let mut callers = tokio::task::JoinSet::new();
    for i in 0..5 {
        let web = web.clone();
        callers.spawn(async move { web.chat_delete("C1", &format!("{i}.0")).await });
    }
    while let Some(done) = callers.join_next().await {
        done.unwrap().unwrap();
    }
    assert_eq!(sim.early_calls(), 0);
    let ok = sim
        .calls("chat.delete")
        .iter()
        .filter(|c| c.status == 200)
        .count();
    assert_eq!(ok, 5);
}

#[tokio::test]
async fn a_hundred_messages_to_one_channel_go_out_paced_and_none_is_lost() {
    let pace = Pace {
        interval: Duration::from_millis(20),
        burst: 1,
        queue: 1000,
    };
    let (sim, web) = start(ClientOptions {
        post_pace: Some(pace),
        ..fast_retries()
    })
    .await;
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for i in 0..100 {
        let web = web.clone();
        senders.spawn(async move {
            web.chat_post_message(&PostMessageRequest::text("C1", format!("m{i}")))
                .await
        });
    }
    while let Some(done) = senders.join_next().await {
        done.unwrap().unwrap();
    }
    // 100 messages one slot apart take at least 99 intervals.
    assert!(started.elapsed() >= Duration::from_millis(99 * 20));
    let posted = sim.posted();
    let mut texts: Vec<&str> = posted.iter().map(|p| p.text.as_str()).collect();
    texts.sort_unstable();
    texts.dedup();
    assert_eq!(texts.len(), 100, "every message arrived exactly once");
    let mut times: Vec<u64> = posted.iter().map(|p| p.requested_at_ms).collect();
    times.sort_unstable();
    let span = times[times.len() - 1] - times[0];
    assert!(span >= 99 * 20 * 9 / 10, "sent over {span} ms");
    // Within a 5-slot window there are never more than 5 + 1 sends (timer jitter aside).
    let crowded = times.windows(7).filter(|w| w[6] - w[0] < 5 * 20).count();
    assert_eq!(crowded, 0, "sends bunched up: {times:?}");

    // Another channel is not held up by C1's queue.
    let other = Instant::now();
    web.chat_post_message(&PostMessageRequest::text("C2", "hi"))
        .await
        .unwrap();
    assert!(other.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn a_full_channel_queue_refuses_instead_of_growing() {
    let pace = Pace {
        interval: Duration::from_millis(50),
        burst: 1,
        queue: 5,
    };
    let (sim, web) = start(ClientOptions {
        post_pace: Some(pace),
        ..fast_retries()
    })
    .await;
    let mut senders = tokio::task::JoinSet::new();
    for i in 0..12 {
        let web = web.clone();
        senders.spawn(async move {
            web.chat_post_message(&PostMessageRequest::text("C1", format!("m{i}")))
                .await
        });
    }
    let (mut sent, mut refused) = (0, 0);
    while let Some(done) = senders.join_next().await {
        match done.unwrap() {
            Ok(_) => sent += 1,
            Err(WebError::QueueFull { limit: 5, .. }) => refused += 1,
            Err(other) => panic!("unexpected {other}"),
        }
    }
    assert_eq!((sent, refused), (5, 7));
    assert_eq!(sim.posted_count(), 5);
}

#[tokio::test]
async fn server_errors_and_transient_codes_are_retried() {
    let (sim, web) = start(fast_retries()).await;
    sim.inject(Fault::FailMethod {
        method: "conversations.info".into(),
        count: 2,
        status: 503,
        code: None,
    });
    let channel = web.conversations_info("C42").await.unwrap();
    assert_eq!(channel.id, "C42");
    assert!(channel.extra.contains_key("topic"), "unknown fields kept");
    assert_eq!(sim.calls("conversations.info").len(), 3);

    // ok:false internal_error is Slack's passing trouble too.
    sim.inject(Fault::FailMethod {
        method: "users.info".into(),
        count: 1,
        status: 200,
        code: None,
    });
    let user = web.users_info("U7").await.unwrap();
    assert_eq!(user.id, "U7");
    assert_eq!(sim.calls("users.info").len(), 2);

    // More failures than retries: the error reaches the caller, typed.
    sim.inject(Fault::FailMethod {
        method: "users.info".into(),
        count: 10,
        status: 502,
        code: None,
    });
    let error = web.users_info("U7").await.unwrap_err();
    assert!(
        matches!(error, WebError::Http { status: 502, .. }),
        "{error}"
    );
    assert_eq!(
        sim.calls("users.info").len(),
        2 + 4,
        "one call and three retries"
    );
}

#[tokio::test]
async fn ok_false_is_a_typed_error_with_its_code_and_is_not_retried() {
    let (sim, web) = start(fast_retries()).await;
    let error = web
        .chat_update(&UpdateMessageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("message_not_found"));
    assert!(error.to_string().contains("chat.update"), "{error}");
    assert_eq!(sim.calls("chat.update").len(), 1);
    let unknown = web.call("no.such.method", &json!({})).await.unwrap_err();
    assert_eq!(unknown.code(), Some("unknown_method"));
}

#[tokio::test]
async fn pagination_follows_cursors_to_the_end() {
    let (sim, web) = start(fast_retries()).await;
    let channels: Vec<_> = web
        .conversations_list("public_channel")
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(channels.len(), sim.config().channels);
    let mut ids: Vec<&str> = channels.iter().map(|c| c.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), channels.len(), "no page read twice");
    // 450 channels at 200 a page; cursors ending in '=' survived the form encoding.
    assert_eq!(sim.calls("conversations.list").len(), 3);

    let users = web.users_list().collect::<Vec<_>>().await;
    assert_eq!(users.len(), sim.config().users);
    let members: Vec<String> = web
        .conversations_members("C1")
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(members.len(), sim.config().users);

    // A reader that stops early fetches no more pages.
    let before = sim.calls("users.list").len();
    let first_three: Vec<_> = web.users_list().take(3).collect().await;
    assert_eq!(first_three.len(), 3);
    assert_eq!(sim.calls("users.list").len(), before + 1);
}

#[tokio::test]
async fn generic_calls_reach_any_method() {
    let (sim, web) = start(fast_retries()).await;
    let answer = web
        .call(
            "conversations.info",
            &json!({"channel": "C9", "include_num_members": true}),
        )
        .await
        .unwrap();
    assert_eq!(answer["channel"]["id"], "C9");
    let call = sim.calls("conversations.info").pop().unwrap();
    assert_eq!(call.args["include_num_members"], "true");
}

#[tokio::test]
async fn files_upload_in_three_steps() {
    let (sim, web) = start(fast_retries()).await;
    let file_id = web
        .files_upload_v2(&FileUpload {
            filename: "report.csv".into(),
            content: b"a,b\n1,2\n".to_vec(),
            channel: Some("C1".into()),
            initial_comment: Some("the report".into()),
            ..FileUpload::default()
        })
        .await
        .unwrap();
    assert_eq!(sim.uploaded(&file_id), Some(8));
    let complete = sim.calls("files.completeUploadExternal").pop().unwrap();
    assert_eq!(complete.args["channel_id"], "C1");
    assert_eq!(complete.args["files"][0]["id"], file_id.as_str());
}

#[tokio::test]
async fn views_and_response_urls() {
    let (sim, web) = start(fast_retries()).await;
    let view = web
        .views_open("1.trigger", &json!({"type": "modal", "callback_id": "x"}))
        .await
        .unwrap();
    assert!(view["id"].as_str().is_some_and(|id| id.starts_with('V')));
    let error = web
        .views_open("", &json!({"type": "modal"}))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some("invalid_trigger_id"));

    web.respond(&sim.response_url("r1"), &json!({"text": "later"}))
        .await
        .unwrap();
    let response = sim.responses().pop().unwrap();
    assert_eq!(
        (response.id.as_str(), &response.body["text"]),
        ("r1", &json!("later"))
    );
}

#[tokio::test]
async fn a_failed_response_url_call_does_not_print_the_url() {
    let (_sim, web) = start(ClientOptions {
        retries: 0,
        ..fast_retries()
    })
    .await;
    // A port nothing listens on: the connection is refused at once.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = unused.local_addr().unwrap().port();
    drop(unused);
    let url = format!("http://127.0.0.1:{port}/commands/T1/42/S3CR3TPATH");
    let error = web.respond(&url, &json!({"text": "x"})).await.unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(matches!(error, WebError::Transport { .. }), "{text}");
    assert!(!text.contains("S3CR3TPATH"), "{text}");
}

/// `attempt` is one request: a 5xx comes back as is (the caller decides), and a 429 holds
/// the method for every caller until Slack's Retry-After is up.
#[tokio::test]
async fn an_attempt_is_one_call_and_its_429_holds_the_method() {
    let (sim, web) = start(fast_retries()).await;
    sim.inject(Fault::FailMethod {
        method: "chat.postMessage".into(),
        count: 1,
        status: 503,
        code: None,
    });
    let args = || {
        let serde_json::Value::Object(map) = json!({"channel": "C1", "text": "once"}) else {
            unreachable!()
        };
        map
    };
    let error = web
        .attempt::<serde_json::Value>("chat.postMessage", args())
        .await
        .unwrap_err();
    assert!(error.may_have_reached_slack(), "{error}");
    assert_eq!(sim.calls("chat.postMessage").len(), 1, "not retried");

    sim.inject(Fault::RateLimitMethod {
        method: "chat.postMessage".into(),
        secs: 1,
    });
    let limited = web
        .attempt::<serde_json::Value>("chat.postMessage", args())
        .await
        .unwrap_err();
    assert!(limited.rate_limit_wait().is_some(), "{limited}");
    assert!(!limited.may_have_reached_slack());
    let started = Instant::now();
    let answer: serde_json::Value = web.attempt("chat.postMessage", args()).await.unwrap();
    assert!(answer["ts"].is_string());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited out Retry-After"
    );
    assert_eq!(sim.early_calls(), 0);
}

/// The token's scopes, as Slack names them in its answer to `auth.test`.
#[tokio::test]
async fn auth_test_reads_the_tokens_scopes() {
    let (sim, web) = start(fast_retries()).await;
    assert_eq!(web.granted_scopes(), None, "not before auth.test");
    web.auth_test().await.unwrap();
    assert_eq!(web.granted_scopes(), Some(sim.config().scopes.clone()));
}

/// A listener that answers every connection with `reply` and closes; its address.
async fn answering_with(reply: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buffer = [0u8; 1024];
            let _ = stream.read(&mut buffer).await;
            let _ = stream.write_all(reply).await;
        }
    });
    address
}

/// The two classic mix-ups of a hand-set API URL are said in words: https:// to a plain HTTP
/// server, and http:// to a server that speaks TLS.
#[tokio::test]
async fn a_scheme_mix_up_is_named_in_the_error() {
    let options = ClientOptions {
        retries: 0,
        ..ClientOptions::default()
    };
    let token = Secret::new("xoxb-1-scheme-test");
    let plain = answering_with(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}").await;
    let web = WebClient::with_options(
        &format!("https://{plain}/api/"),
        Some(token.clone()),
        options.clone(),
    )
    .unwrap();
    let error = web.auth_test().await.unwrap_err().to_string();
    assert!(error.contains("plain text, not TLS"), "{error}");
    // A TLS server's first bytes (an alert record) to a plain HTTP request.
    let tls = answering_with(b"\x15\x03\x03\x00\x02\x02\x46").await;
    let web = WebClient::with_options(&format!("http://{tls}/api/"), Some(token), options).unwrap();
    let error = web.auth_test().await.unwrap_err().to_string();
    assert!(error.contains("does it speak TLS"), "{error}");
}

/// Issue 25: a 307 from the API host to a plain-http address elsewhere was followed. It is
/// refused, saying why.
#[tokio::test]
async fn a_redirect_to_clear_text_elsewhere_is_not_followed() {
    let redirecting = answering_with(
        b"HTTP/1.1 307 Temporary Redirect\r\nlocation: http://192.0.2.1/api/auth.test\r\ncontent-length: 0\r\n\r\n",
    )
    .await;
    let web = WebClient::with_options(
        &format!("http://{redirecting}/api/"),
        Some(Secret::new("xoxb-1-redirect-test")),
        ClientOptions {
            retries: 0,
            ..ClientOptions::default()
        },
    )
    .unwrap();
    let error = web.auth_test().await.unwrap_err().to_string();
    assert!(
        error.contains("plain http:// beyond this machine"),
        "{error}"
    );
}

/// An error code (or a warning) a server makes up is shown with its control characters
/// escaped: it reaches log lines and the outbox's recorded failures.
#[tokio::test]
async fn a_made_up_error_code_cannot_forge_a_log_line() {
    let (sim, web) = start(ClientOptions {
        retries: 0,
        ..fast_retries()
    })
    .await;
    sim.inject(Fault::FailMethod {
        method: "auth.test".into(),
        count: 1,
        status: 200,
        code: Some("bad\n2026-01-01T00:00:00Z ERROR forged\u{1b}[31m".into()),
    });
    let error = web.auth_test().await.unwrap_err();
    let code = error.code().unwrap_or_default().to_owned();
    assert!(!code.chars().any(char::is_control), "{code:?}");
    assert!(code.starts_with("bad\\n2026"), "{code:?}");
    assert!(!error.to_string().contains('\n'), "{error}");
}
