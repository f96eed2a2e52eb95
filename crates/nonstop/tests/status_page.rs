//! The status page in a real browser: headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` with the `fantoccini` WebDriver client) opens `/` of a bot that went through
//! a drop and an outage, and the timeline shows both, each with its cause. Where Chromium is
//! not installed the test skips and says so in the test command's summary; `.ci/run`
//! installs it, and sets `NONSTOP_NO_SKIPS=1` so that CI fails instead.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{bot_config, sim_config, Harness, WAIT};
use fantoccini::{ClientBuilder, Locator};
use nonstop::{App, LifecycleChange};
use nonstop_sim::{Fault, Sim};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

/// chromedriver on a free port of this machine, ended with the test.
struct Driver(std::process::Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn chromedriver() -> Driver {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "chromedriver never listened"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver(child, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_drop_and_an_outage_with_their_causes() {
    let installed =
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists();
    let missing = format!(
        "{CHROMIUM} and {CHROMEDRIVER} are not installed (apt-get install chromium chromium-driver; .ci/run does)"
    );
    if !nonstop_test_support::unless_missing(
        installed,
        "the_status_page_shows_a_drop_and_an_outage_with_their_causes",
        &missing,
    ) {
        return;
    }
    let sim = Sim::start(sim_config()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let config = bot_config(&sim);
    let h = Harness::launch(
        sim,
        App::new(config)
            .with_builtin_commands()
            .with_http_listener(listener),
    );
    h.wait_live(2).await;
    // A drop: one socket closes without a close frame and is replaced.
    h.drop_one_and_recover(2).await;
    // Pauses between the faults only spread the picture out; nothing is timed by them.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // An outage: every socket dropped, and Slack refusing new ones for 3 s.
    h.sim().inject(Fault::Outage {
        secs: 3.0,
        drop_all: true,
    });
    let refused = h
        .status()
        .wait_for(WAIT, |_| {
            h.status()
                .history()
                .iter()
                .any(|r| matches!(r.change, LifecycleChange::OpenFailed { .. }))
        })
        .await;
    assert!(refused, "no open failed during the outage");
    h.wait_live(2).await;
    // Spreads the picture out (as above); nothing is timed by it.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let driver = chromedriver().await;
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,700"]}),
    );
    // chromedriver speaks plain HTTP on loopback: no TLS stack needed.
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a browser session");
    client.goto(&url).await.unwrap();
    let mut causes = Vec::new();
    for mark in client
        .find_all(Locator::Css("#timeline .mark"))
        .await
        .unwrap()
    {
        causes.push(mark.attr("data-cause").await.unwrap().unwrap_or_default());
    }
    // The drop (one socket) and the outage's drops (both; a drop that catches a write in
    // flight reads as a reset), and the refused opens between.
    let drops = causes
        .iter()
        .filter(|c| *c == "eof_without_close" || *c == "reset")
        .count();
    assert!(drops >= 3, "{causes:?}");
    assert!(
        causes.iter().any(|c| c == "eof_without_close"),
        "{causes:?}"
    );
    assert!(causes.iter().any(|c| c == "connect_api"), "{causes:?}");
    let live = client
        .find_all(Locator::Css("#timeline rect.live"))
        .await
        .unwrap();
    assert!(live.len() >= 2, "live stretches on both slots");
    let words = client
        .find(Locator::Css("#disconnects"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(words.contains("eof_without_close"), "{words}");
    // The picture, for docs/status-page.png when the page changes.
    let png = client.screenshot().await.unwrap();
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    std::fs::write(&shot, png).unwrap();
    eprintln!("screenshot: {}", shot.display());
    client.close().await.unwrap();
    h.stop().await.unwrap();
}
