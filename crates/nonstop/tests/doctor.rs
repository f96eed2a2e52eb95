//! `nonstop doctor` against the simulator: every step passes on a healthy setup, and each fault
//! the simulator can put at a step makes that step fail, naming the problem and the fix, with
//! the steps after it skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{bot_config, sim_config};
use nonstop::doctor::{diagnose, DoctorOptions, Finding, Step, Verdict};
use nonstop::Config;
use nonstop_sim::{Fault, Sim, SimConfig, TempJournal};

async fn findings(config: &Config, options: &DoctorOptions) -> Vec<Finding> {
    diagnose(config, options, |_| {}).await
}

fn verdict(findings: &[Finding], step: Step) -> &Verdict {
    &findings
        .iter()
        .find(|f| f.step == step)
        .unwrap_or_else(|| panic!("no {step:?} in {findings:#?}"))
        .verdict
}

fn failed(findings: &[Finding]) -> Vec<Step> {
    findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Fail { .. }))
        .map(|f| f.step)
        .collect()
}

/// The one step that failed, its problem and fix; every network step after it skipped.
fn only_failure(findings: &[Finding]) -> (Step, String, String) {
    let failures: Vec<&Finding> = findings
        .iter()
        .filter(|f| matches!(f.verdict, Verdict::Fail { .. }))
        .collect();
    assert_eq!(failures.len(), 1, "{findings:#?}");
    let Verdict::Fail { problem, fix } = &failures[0].verdict else {
        unreachable!()
    };
    let at = findings
        .iter()
        .position(|f| f.step == failures[0].step)
        .unwrap();
    for later in &findings[at + 1..] {
        if later.step != Step::Journal {
            assert!(
                matches!(later.verdict, Verdict::Skipped(_)),
                "{:?} after the failure: {findings:#?}",
                later.step
            );
        }
    }
    (failures[0].step, problem.clone(), fix.clone())
}

#[tokio::test]
async fn a_healthy_setup_passes_every_step_and_posts_when_asked() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let db = TempJournal::new("doctor-healthy");
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let options = DoctorOptions::default().post_to("C0DOCTOR");
    let mut printed = Vec::new();
    let found = diagnose(&config, &options, |f| printed.push(f.step)).await;
    assert!(failed(&found).is_empty(), "{found:#?}");
    // Reported as they happened, in the order of the walk.
    assert_eq!(
        printed,
        vec![
            Step::Settings,
            Step::Dns,
            Step::Tcp,
            Step::Tls,
            Step::AuthTest,
            Step::SocketUrl,
            Step::Upgrade,
            Step::Hello,
            Step::Ping,
            Step::TestPost,
            Step::Journal,
        ]
    );
    let Verdict::Pass(seen) = verdict(&found, Step::AuthTest) else {
        panic!()
    };
    assert!(seen.contains("scopes:"), "{seen}");
    assert!(matches!(verdict(&found, Step::Tls), Verdict::Skipped(_)));
    assert!(sim
        .posted()
        .iter()
        .any(|p| p.channel == "C0DOCTOR" && p.text.contains("doctor")));
    // The journal does not exist yet: the bot would create it.
    let Verdict::Pass(journal) = verdict(&found, Step::Journal) else {
        panic!()
    };
    assert!(journal.contains("does not exist yet"), "{journal}");
    // Nothing was opened for good: the doctor's socket is gone again.
    assert!(
        sim.wait_for_stats(common::WAIT, |s| s.live_sockets == 0)
            .await
    );
}

#[tokio::test]
async fn an_rtm_bot_is_walked_through_rtm_connect() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = common::rtm_bot_config(&sim);
    let found = findings(&config, &DoctorOptions::default()).await;
    assert!(failed(&found).is_empty(), "{found:#?}");
    let Verdict::Pass(seen) = verdict(&found, Step::SocketUrl) else {
        panic!()
    };
    assert!(seen.starts_with("rtm.connect"), "{seen}");
}

/// Over HTTP there is no socket to open: the socket steps are skipped, and the last step
/// says where the receiver listens and what to give Slack, or that it cannot listen there.
#[tokio::test]
async fn an_http_bot_is_walked_to_its_request_url() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = nonstop::testing::TestBot::http_config_for(&sim);
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    config.events_addr = taken.local_addr().unwrap();
    config.public_url = Some("https://bot.example.com".to_owned());
    let found = findings(&config, &DoctorOptions::default()).await;
    assert!(matches!(
        verdict(&found, Step::SocketUrl),
        Verdict::Skipped(_)
    ));
    let Verdict::Fail { problem, fix } = verdict(&found, Step::RequestUrl) else {
        panic!("{found:#?}")
    };
    assert!(
        problem.contains("cannot listen") && fix.contains("NONSTOP_HTTP_LISTEN"),
        "{problem} {fix}"
    );
    drop(taken);
    let found = findings(&config, &DoctorOptions::default()).await;
    assert!(failed(&found).is_empty(), "{found:#?}");
    let Verdict::Pass(said) = verdict(&found, Step::RequestUrl) else {
        panic!("{found:#?}")
    };
    assert!(
        said.contains("https://bot.example.com/slack/events"),
        "{said}"
    );
}

#[tokio::test]
async fn an_unresolvable_host_fails_at_dns() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.api_url = "https://nonstop-doctor.invalid/api/".to_owned();
    let (step, problem, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Dns);
    assert!(problem.contains("does not resolve"), "{problem}");
    assert!(fix.contains("DNS"), "{fix}");
}

#[tokio::test]
async fn a_closed_port_fails_at_tcp() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut config = bot_config(&sim);
    config.api_url = format!("http://127.0.0.1:{port}/api/");
    let (step, _, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Tcp);
    assert!(fix.contains("firewall"), "{fix}");
}

#[tokio::test]
async fn a_server_without_tls_fails_at_tls() {
    // The simulator speaks plain HTTP: asked for https, the handshake fails.
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.api_url = sim.api_url().replace("http://", "https://");
    let (step, problem, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Tls, "{problem}");
    assert!(fix.contains("does not speak TLS"), "{fix}");
}

#[tokio::test]
async fn a_wrong_bot_token_fails_at_auth_test_and_a_revoked_app_token_at_the_socket_url() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    config.bot_token = nonstop::Secret::new("xoxb-not-the-right-one");
    let (step, problem, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::AuthTest);
    assert!(problem.contains("invalid_auth"), "{problem}");
    assert!(!fix.is_empty());
    assert!(
        !problem.contains("not-the-right-one"),
        "no token in the report"
    );

    let config = bot_config(&sim);
    sim.inject(Fault::RevokeToken {
        code: "token_revoked".into(),
    });
    let (step, problem, _) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::SocketUrl);
    assert!(problem.contains("apps.connections.open"), "{problem}");
    assert!(problem.contains("token_revoked"), "{problem}");
}

#[tokio::test]
async fn an_outage_fails_at_the_socket_url() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let config = bot_config(&sim);
    sim.inject(Fault::Outage {
        secs: 60.0,
        drop_all: false,
    });
    let (step, _, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::SocketUrl);
    assert!(fix.contains("try again"), "{fix}");
}

#[tokio::test]
async fn a_socket_without_hello_fails_at_hello() {
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::WithholdHello { count: 1 });
    let mut config = bot_config(&sim);
    config.hello_timeout = std::time::Duration::from_millis(500);
    let (step, problem, _) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Hello);
    assert!(problem.contains("no hello"), "{problem}");
}

#[tokio::test]
async fn a_socket_silent_after_hello_fails_at_the_ping() {
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::HalfOpenAfterHello { count: 1 });
    let config = bot_config(&sim);
    let (step, problem, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Ping);
    assert!(problem.contains("no pong"), "{problem}");
    assert!(fix.contains("half-open"), "{fix}");
}

#[tokio::test]
async fn a_test_post_to_a_missing_channel_fails_with_slacks_code() {
    let sim = Sim::start(sim_config()).await.unwrap();
    sim.inject(Fault::FailMethod {
        method: "chat.postMessage".into(),
        count: 1,
        status: 200,
        code: Some("channel_not_found".into()),
    });
    let config = bot_config(&sim);
    let found = findings(&config, &DoctorOptions::default().post_to("C0GONE")).await;
    let (step, problem, _) = only_failure(&found);
    assert_eq!(step, Step::TestPost);
    assert!(problem.contains("channel_not_found"), "{problem}");
}

#[tokio::test]
async fn a_journal_others_can_read_fails() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let db = TempJournal::new("doctor-journal");
    nonstop::SqliteStore::open(&db.0, nonstop::config::Durability::Normal).unwrap();
    let mut config = bot_config(&sim);
    config.journal_path = Some(db.0.clone());
    let found = findings(&config, &DoctorOptions::default()).await;
    assert!(failed(&found).is_empty(), "{found:#?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&db.0, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (step, problem, fix) =
            only_failure(&findings(&config, &DoctorOptions::default()).await);
        assert_eq!(step, Step::Journal);
        assert!(problem.contains("644"), "{problem}");
        assert!(fix.starts_with("chmod 600"), "{fix}");
    }
}

#[tokio::test]
async fn scopes_the_listeners_need_and_the_token_lacks_are_named() {
    async fn ticket(_: nonstop::Context, _: nonstop::SlashCommand) -> nonstop::HandlerResult {
        Ok(())
    }
    let sim = Sim::start(SimConfig {
        scopes: ["channels:history", "chat:write"]
            .map(str::to_owned)
            .to_vec(),
        ..sim_config()
    })
    .await
    .unwrap();
    let app = nonstop::App::new(bot_config(&sim))
        .with_builtin_commands()
        .command("/ticket", ticket);
    // ping and status need a history scope and chat:write (granted); /ticket needs commands.
    assert_eq!(app.needed_scopes().len(), 5);
    let found = app.doctor(&DoctorOptions::default(), |_| {}).await;
    let (step, problem, fix) = only_failure(&found);
    assert_eq!(step, Step::AuthTest);
    assert!(
        problem.contains("commands (command \"/ticket\")"),
        "{problem}"
    );
    assert!(!problem.contains("chat:write"), "{problem}");
    assert!(fix.contains("reinstall"), "{fix}");
}

/// A TLS server on loopback that presents a self-signed certificate for `localhost` (as a
/// proxy that intercepts TLS does), completes handshakes and then says nothing. The
/// certificate and key in tests/fixtures are made for this test only and trust nothing.
async fn self_signed_tls_server() -> u16 {
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio_rustls::rustls::{crypto::ring, ServerConfig};

    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/");
    let cert = std::fs::read(format!("{fixtures}self-signed-localhost.cert.der")).unwrap();
    let key = std::fs::read(format!("{fixtures}self-signed-localhost.key.der")).unwrap();
    let config = ServerConfig::builder_with_provider(std::sync::Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key)),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                // The client refuses the certificate, so this fails; that is the point.
                if let Ok(tls) = acceptor.accept(tcp).await {
                    tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                    drop(tls);
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn an_untrusted_certificate_fails_at_tls_and_is_named() {
    let sim = Sim::start(sim_config()).await.unwrap();
    let port = self_signed_tls_server().await;
    let mut config = bot_config(&sim);
    config.api_url = format!("https://localhost:{port}/api/");
    let (step, problem, fix) = only_failure(&findings(&config, &DoctorOptions::default()).await);
    assert_eq!(step, Step::Tls, "{problem}");
    assert!(problem.contains("certificate"), "{problem}");
    assert!(problem.contains("not trusted"), "{problem}");
    assert!(fix.contains("CA"), "{fix}");
}

/// The doctor's Redis step against a `redis-server` of the test's own with `settings`.
async fn redis_verdict(settings: &'static [&'static str], password: Option<&str>) -> Verdict {
    let redis = tokio::task::spawn_blocking(move || common::OwnRedis::start_with(settings))
        .await
        .unwrap();
    let sim = Sim::start(sim_config()).await.unwrap();
    let mut config = bot_config(&sim);
    let url = match password {
        Some(password) => redis
            .url()
            .replacen("redis://", &format!("redis://:{password}@"), 1),
        None => redis.url(),
    };
    config.redis_url = Some(nonstop_web::Secret::new(url));
    let found = findings(&config, &DoctorOptions::default()).await;
    assert!(
        matches!(verdict(&found, Step::Journal), Verdict::Skipped(why) if why.contains("Redis")),
        "{found:#?}"
    );
    let redis_verdict = verdict(&found, Step::Redis).clone();
    drop(redis);
    redis_verdict
}

#[tokio::test]
async fn a_redis_that_keeps_what_it_acknowledged_passes() {
    let Verdict::Pass(seen) =
        redis_verdict(&["--appendonly", "yes", "--appendfsync", "always"], None).await
    else {
        panic!("did not pass")
    };
    assert!(seen.contains("appendfsync always"), "{seen}");
    assert!(seen.contains("no maxmemory"), "{seen}");
}

/// Near its `maxmemory` Redis is about to refuse every write: the doctor says so before the
/// bot stops acking.
#[tokio::test]
async fn a_redis_near_its_maxmemory_fails_the_redis_step() {
    // An empty Redis already holds more than this.
    let settings = &["--appendonly", "yes", "--maxmemory", "100kb"];
    let Verdict::Fail { problem, fix } = redis_verdict(settings, None).await else {
        panic!("passed")
    };
    assert!(problem.contains("full"), "{problem}");
    assert!(fix.contains("raise maxmemory"), "{fix}");
}

#[tokio::test]
async fn a_redis_without_an_append_only_file_fails_the_redis_step() {
    let Verdict::Fail { problem, fix } = redis_verdict(&["--appendonly", "no"], None).await else {
        panic!("passed")
    };
    assert!(problem.contains("no append-only file"), "{problem}");
    assert!(fix.contains("appendonly yes"), "{fix}");
}

#[tokio::test]
async fn a_redis_that_evicts_keys_fails_the_redis_step() {
    let settings = &["--appendonly", "yes", "--maxmemory-policy", "allkeys-lru"];
    let Verdict::Fail { problem, fix } = redis_verdict(settings, None).await else {
        panic!("passed")
    };
    assert!(problem.contains("allkeys-lru"), "{problem}");
    assert!(fix.contains("noeviction"), "{fix}");
}

#[tokio::test]
async fn a_wrong_redis_password_fails_the_redis_step_without_showing_it() {
    let settings = &["--appendonly", "yes", "--requirepass", "the-right-one"];
    let verdict = redis_verdict(settings, Some("hunter2-wrong")).await;
    let Verdict::Fail { problem, .. } = &verdict else {
        panic!("passed")
    };
    assert!(
        !format!("{verdict:?}").contains("hunter2-wrong"),
        "{verdict:?}"
    );
    assert!(problem.contains("***"), "{problem}");
}
