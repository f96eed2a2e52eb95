//! The Redis password in `REDIS_URL` never reaches a log line or an error: not at start, not
//! while Redis is away and every write fails, not when it is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bot_config, sim_config, OwnRedis, RedisPrefix, WAIT};
use nonstop::App;
use nonstop_sim::{CapturedLog, MessageSpec, Sim};

const PASSWORD: &str = "redis-pass-8c1f";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_redis_password_is_in_no_log_line_or_error() {
    let captured = CapturedLog::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let mut redis = tokio::task::spawn_blocking(|| {
        OwnRedis::start_with(&["--appendonly", "yes", "--requirepass", PASSWORD])
    })
    .await
    .unwrap();
    let url = redis
        .url()
        .replacen("redis://", &format!("redis://:{PASSWORD}@"), 1);
    let sim = Sim::start(sim_config()).await.unwrap();
    let prefix = RedisPrefix::new("secrets");
    let mut config = bot_config(&sim);
    config.redis_url = Some(nonstop_web::Secret::new(url.clone()));
    config.redis_prefix = prefix.0.clone();
    let app = App::new(config.clone()).with_builtin_commands();
    let status = app.status();
    let run = tokio::spawn(app.run(std::future::pending()));
    assert!(status.wait_for(WAIT, |s| s.live_connections == 2).await);

    // Redis goes away: every write fails, and says so.
    redis = tokio::task::spawn_blocking(move || {
        redis.down();
        redis
    })
    .await
    .unwrap();
    sim.send_message(MessageSpec::new("C1", "U1", "ping while-down"));
    let deadline = tokio::time::Instant::now() + WAIT;
    while !status.journal_failing() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(status.journal_failing());
    redis = tokio::task::spawn_blocking(move || {
        redis.up();
        redis
    })
    .await
    .unwrap();
    assert!(sim
        .wait_for_post(WAIT, |p| p.text == "pong while-down")
        .await
        .is_some());
    run.abort();

    // A wrong password: refused at start, in words that do not hold it.
    let mut wrong = config;
    wrong.redis_url = Some(nonstop_web::Secret::new(
        url.replace(PASSWORD, "wrong-9d2e"),
    ));
    let err = App::new(wrong)
        .run(std::future::pending())
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("***"), "{shown}");
    assert!(!shown.contains("wrong-9d2e"), "{shown}");

    let logs = captured.text();
    // Not vacuous: the lines that name Redis are there.
    assert!(logs.contains("journal open in Redis"), "{logs}");
    assert!(logs.contains("journal write failed"), "{logs}");
    assert!(logs.contains(":***@"), "{logs}");
    assert!(!logs.contains(PASSWORD), "password in logs: {logs}");
    assert!(!shown.contains(PASSWORD), "{shown}");
    drop(redis);
}
