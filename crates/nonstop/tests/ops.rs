//! The operator endpoint over a real socket: `/healthz` follows the sockets (503 once the bot
//! has been deaf past the grace, 200 again after recovery), `/readyz` too, and `/metrics`
//! reads as Prometheus reads it, with the disconnects counted by the cause of each fault.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bot_config, sim_config, Harness, WAIT};
use nonstop::App;
use nonstop_sim::{Fault, Sim};
use serde_json::Value;

/// A bot with the endpoint on a free port of this machine, and the endpoint's root URL.
async fn start() -> (Harness, String) {
    let sim = Sim::start(sim_config()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut config = bot_config(&sim);
    // Scaled down from 30 s, as the other intervals of the tests are.
    config.health_grace = Duration::from_secs(1);
    let app = App::new(config)
        .with_builtin_commands()
        .with_http_listener(listener);
    (Harness::launch(sim, app), url)
}

async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    let code = response.status().as_u16();
    (code, response.text().await.unwrap())
}

/// Polls `path` until it answers `code` (health changes as the bot's sockets do).
async fn wait_for_code(url: &str, path: &str, code: u16) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (got, body) = get(&format!("{url}{path}")).await;
        if got == code {
            return serde_json::from_str(&body).unwrap();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never answered {code}; last {got}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_and_readyz_follow_the_sockets_through_an_outage() {
    let (h, url) = start().await;
    h.wait_live(2).await;
    // The live count goes up as a socket says hello; its slot's state a moment after.
    let deadline = tokio::time::Instant::now() + WAIT;
    let healthy = loop {
        let healthy = wait_for_code(&url, "/healthz", 200).await;
        if healthy["slots"][1]["state"] == "live" {
            break healthy;
        }
        assert!(tokio::time::Instant::now() < deadline, "{healthy}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(healthy["live_connections"], 2);
    assert_eq!(healthy["slots"][0]["state"], "live");
    assert!(
        healthy["slots"][0]["connection"].as_u64().is_some(),
        "{healthy}"
    );
    assert!(
        healthy["slots"][1]["age_secs"].as_u64().is_some(),
        "{healthy}"
    );
    wait_for_code(&url, "/readyz", 200).await;

    // Every socket dropped and Slack refusing new ones: not ready at once.
    h.sim().inject(Fault::Outage {
        secs: 3600.0,
        drop_all: true,
    });
    let not_ready = wait_for_code(&url, "/readyz", 503).await;
    assert_eq!(not_ready["why"], "no live socket");
    assert!(not_ready["last_disconnect"]["cause"]
        .as_str()
        .unwrap()
        .starts_with("eof_without_close"));
    // Unhealthy once deaf past the grace (healthy until then: a supervisor should not
    // restart a bot for a drop it recovers from at once).
    let unhealthy = wait_for_code(&url, "/healthz", 503).await;
    assert!(
        unhealthy["deaf_for_secs"].as_f64().unwrap() >= 1.0,
        "{unhealthy}"
    );
    assert_eq!(unhealthy["live_connections"], 0);

    h.sim().inject(Fault::Heal);
    h.wait_live(2).await;
    let back = wait_for_code(&url, "/healthz", 200).await;
    assert!(
        back["slots"][0]["last_cause"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{back}"
    );
    wait_for_code(&url, "/readyz", 200).await;
    h.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_parse_as_prometheus_and_count_disconnects_by_cause() {
    let (h, url) = start().await;
    h.wait_live(2).await;
    h.ping("metrics").await;
    h.drop_one_and_recover(2).await;
    // The live count goes up as a socket says hello; its slot's state a moment after.
    let settled = |s: &nonstop::StatusSnapshot| {
        s.live_connections == 2 && s.slots.iter().all(|phase| phase.is_live())
    };
    assert!(
        h.status().wait_for(WAIT, settled).await,
        "{:?}",
        h.status().snapshot()
    );

    let (code, text) = get(&format!("{url}/metrics")).await;
    assert_eq!(code, 200);
    let lines = text.lines().map(|l| Ok(l.to_owned()));
    let scrape = prometheus_parse::Scrape::parse(lines).unwrap();
    let value = |name: &str, label: Option<(&str, &str)>| -> f64 {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
            .unwrap_or_else(|| panic!("no {name} {label:?} in\n{text}"));
        match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            ref other => panic!("{name}: {other:?}"),
        }
    };
    assert_eq!(value("nonstop_live_connections", None), 2.0);
    assert_eq!(value("nonstop_slots", Some(("state", "live"))), 2.0);
    assert_eq!(value("nonstop_slots", Some(("state", "opening"))), 0.0);
    assert!(value("nonstop_events_handled_total", None) >= 1.0);
    assert!(value("nonstop_answers_sent_total", None) >= 1.0);
    // The one drop, named by its cause: the simulator closed the TCP connection without a
    // close frame, which the bot reads as an end of stream, or as a reset when the close
    // found bytes of the bot's still unread (a busy machine).
    let drops: Vec<(&str, f64)> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == "nonstop_disconnects_total")
        .filter_map(|s| match s.value {
            prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n) => {
                Some((s.labels.get("cause")?, n))
            }
            _ => None,
        })
        .collect();
    assert!(
        matches!(drops[..], [("eof_without_close" | "reset", 1.0)]),
        "{drops:?}"
    );
    assert!(value("nonstop_uptime_seconds", None) > 0.0);
    assert!(value("nonstop_journal_backlog", None) >= 0.0);
    // The ping's answer, by method and outcome.
    let posted = scrape.samples.iter().find(|s| {
        s.metric == "nonstop_web_calls_total"
            && s.labels.get("method") == Some("chat.postMessage")
            && s.labels.get("outcome") == Some("ok")
    });
    assert!(
        matches!(posted.map(|s| &s.value),
            Some(prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n)) if *n >= 1.0),
        "{text}"
    );
    // The ping's ack and its handler, in the histograms.
    for histogram in [
        "nonstop_ack_latency_seconds",
        "nonstop_handler_duration_seconds",
    ] {
        let sample = scrape
            .samples
            .iter()
            .find(|s| s.metric == histogram)
            .unwrap_or_else(|| panic!("no {histogram} in\n{text}"));
        let prometheus_parse::Value::Histogram(buckets) = &sample.value else {
            panic!("{histogram}: {:?}", sample.value);
        };
        let all = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
        assert!(all >= 1.0, "{histogram}: {buckets:?}");
    }
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_port_in_use_stops_the_start_naming_it() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut config = bot_config(&sim);
    config.http_addr = Some(taken.local_addr().unwrap());
    let err = App::new(config)
        .run(std::future::pending())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("operator endpoint"), "{text}");
    assert!(
        text.contains(&taken.local_addr().unwrap().to_string()),
        "{text}"
    );
}

/// A quiet bot still says it is alive: the summary line comes at its interval, with what the
/// bot has done. (Current-thread runtime: the log is captured per thread.)
#[tokio::test]
async fn a_summary_line_says_the_bot_is_alive_at_its_interval() {
    let (log, _capturing) = common::capture_logs();
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.summary_every = Some(Duration::from_millis(200));
    let h = Harness::launch(sim, App::new(config).with_builtin_commands());
    h.wait_live(2).await;
    h.ping("summary").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let line = loop {
        let text = log.text();
        if let Some(line) = text
            .lines()
            .find(|l| l.contains("still running") && l.contains("handled=1"))
        {
            break line.to_owned();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no summary line in:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(line.contains("live_sockets=2"), "{line}");
    assert!(line.contains("last_cause=none"), "{line}");
    h.stop().await.unwrap();
}

/// A 429 on the method answers go through is counted, and so is the time calls then waited.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_counted_with_the_time_waited() {
    let (h, url) = start().await;
    h.wait_live(2).await;
    h.sim().inject(Fault::RateLimitMethod {
        method: "chat.postMessage".into(),
        secs: 1,
    });
    h.ping("limited").await;
    let (_, text) = get(&format!("{url}/metrics")).await;
    let line = |prefix: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    };
    assert!(
        line(r#"nonstop_web_calls_total{method="chat.postMessage",outcome="rate_limited"}"#) >= 1.0
    );
    assert!(line(r#"nonstop_web_rate_limit_wait_seconds_total{method="chat.postMessage"}"#) > 0.0);
    h.stop().await.unwrap();
}

/// Issue 25: 3,000 half-sent requests were held 40 s and more, and about 1,100 of them (with
/// 1,024 open files) made `/healthz` unreachable and a slot unable to reconnect. Now a
/// request has a few seconds to say what it wants, connections beyond a small limit wait in
/// the kernel's queue (holding no file of the bot's) until some end, and the bot's sockets to
/// Slack never wait for a file of their own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_requests_are_cut_off_and_never_starve_the_bot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (h, url) = start().await;
    h.wait_live(2).await;
    let addr = url.trim_start_matches("http://").to_owned();
    let mut held = Vec::new();
    for _ in 0..300 {
        let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        // Headers begun, never finished.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        held.push(stream);
    }
    // The bot still hears and answers, and a socket dropped now comes back.
    h.drop_one_and_recover(2).await;
    h.ping("during-the-flood").await;
    // Every one of them is closed by the endpoint once its time to send the headers is up
    // (those beyond the limit after they are let in).
    let closed = async {
        for stream in &mut held {
            let mut buf = [0u8; 256];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    };
    assert!(
        tokio::time::timeout(WAIT, closed).await.is_ok(),
        "half-sent requests were held past {WAIT:?}"
    );
    wait_for_code(&url, "/healthz", 200).await;
    h.stop().await.unwrap();
}
