//! Installing the app in a workspace through Slack's OAuth v2 flow, as a browser does it:
//! the install page, Slack's authorize page (the simulator approves at once), the redirect
//! back; the installation kept by the store. Every way the flow can be misused is refused in
//! words, and nothing is kept.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use nonstop::config::OAuthSettings;
use nonstop::journal::{InstallationKey, InstallationStore, MemoryStore};
use nonstop::testing::TestBot;
use nonstop::{App, Secret};
use nonstop_sim::SimConfig;
use reqwest::redirect::Policy;

/// A browser that keeps cookies by hand and follows no redirect by itself.
struct Browser {
    http: reqwest::Client,
    cookie: Option<String>,
}

/// What a page said.
struct Page {
    status: u16,
    body: String,
    location: Option<String>,
}

impl Browser {
    fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            cookie: None,
        }
    }

    async fn get(&mut self, url: &str) -> Page {
        let mut request = self.http.get(url);
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        if let Some(set) = response.headers().get("set-cookie") {
            let pair = set.to_str().unwrap().split(';').next().unwrap().to_owned();
            self.cookie = Some(pair);
        }
        let location = response
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        Page {
            status: response.status().as_u16(),
            location,
            body: response.text().await.unwrap(),
        }
    }

    /// The install page, then Slack's authorize page with `extra` query parameters (the
    /// simulator's `team`, `deny`, `enterprise`): where Slack sends the browser back.
    async fn start(&mut self, bot: &TestBot, extra: &str) -> String {
        self.start_at(&origin(bot), extra).await
    }

    /// [`Browser::start`] at the app's origin (its request URL's scheme, host and port).
    async fn start_at(&mut self, origin: &str, extra: &str) -> String {
        let install = self.get(&format!("{origin}/slack/install")).await;
        assert_eq!(install.status, 200, "{}", install.body);
        let link = install
            .body
            .split("href=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap()
            .replace("&amp;", "&");
        let authorize = self.get(&format!("{link}{extra}")).await;
        assert_eq!(authorize.status, 302, "{}", authorize.body);
        authorize.location.unwrap()
    }
}

fn origin(bot: &TestBot) -> String {
    origin_of(&bot.sim().request_url().unwrap())
}

fn origin_of(request_url: &str) -> String {
    request_url.trim_end_matches("/slack/events").to_owned()
}

async fn bot_with(store: Arc<MemoryStore>, org_admin_installs: bool) -> TestBot {
    let sim = SimConfig::default();
    TestBot::start_over_http(move |mut config| {
        let mut oauth = OAuthSettings::new(sim.client_id, Secret::new(sim.client_secret));
        oauth.org_admin_installs = org_admin_installs;
        config.oauth = Some(oauth);
        App::new(config).with_store(store)
    })
    .await
}

#[tokio::test]
async fn a_workspace_installs_through_the_flow_once_and_is_kept() {
    let store = Arc::new(MemoryStore::new());
    let bot = bot_with(Arc::clone(&store), false).await;
    let mut browser = Browser::new();
    let back = browser
        .start(&bot, "&team=T0ACME&team_name=Acme%20%3Cb%3E")
        .await;
    let cookie = browser.cookie.clone().unwrap();
    assert!(cookie.starts_with("nonstop_oauth_state="), "{cookie}");
    let done = browser.get(&back).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(
        done.body.contains("installed in Acme &lt;b&gt;"),
        "escaped: {}",
        done.body
    );
    let kept = store
        .installation_get(&InstallationKey::Team("T0ACME".into()))
        .unwrap()
        .unwrap();
    assert!(kept.bot_token.expose().starts_with("xoxb-T0ACME-"));
    assert_eq!(kept.team_name.as_deref(), Some("Acme <b>"));
    assert!(
        kept.bot_scopes.contains(&"chat:write".to_owned()),
        "{:?}",
        kept.bot_scopes
    );
    assert_eq!(kept.installer_user_id.as_deref(), Some("U0INSTALLER"));

    // The cookie goes with the install.
    assert_eq!(browser.cookie.as_deref(), Some("nonstop_oauth_state="));
    // The same redirect again, cookie and all (someone who copied both): the state is used.
    browser.cookie = Some(cookie);
    let again = browser.get(&back).await;
    assert_eq!(again.status, 400);
    assert!(again.body.contains("used already"), "{}", again.body);
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn a_redirect_another_browser_a_forged_state_or_a_refusal_brings_installs_nothing() {
    let store = Arc::new(MemoryStore::new());
    let bot = bot_with(Arc::clone(&store), false).await;

    // Started in one browser, finished in another (a link sent to a victim).
    let back = Browser::new().start(&bot, "").await;
    let elsewhere = Browser::new().get(&back).await;
    assert_eq!(elsewhere.status, 400);
    assert!(
        elsewhere.body.contains("another browser"),
        "{}",
        elsewhere.body
    );

    // A state this bot never made.
    let mut browser = Browser::new();
    let back = browser.start(&bot, "").await;
    let (head, _) = back.split_once("state=").unwrap();
    let forged = browser
        .get(&format!("{head}state=abc.9999999999.00ff"))
        .await;
    assert_eq!(forged.status, 400);
    assert!(
        forged.body.contains("not made by this app"),
        "{}",
        forged.body
    );

    // No state at all, and org-admin installs are not taken.
    let code_only = back.split("&state=").next().unwrap().to_owned();
    let stateless = browser.get(&code_only).await;
    assert_eq!(stateless.status, 400, "{}", stateless.body);

    // The person says no on Slack's page.
    let denied = Browser::new().start(&bot, "&deny=1").await;
    let cancelled = Browser::new().get(&denied).await;
    assert!(cancelled.body.contains("cancelled"), "{}", cancelled.body);

    assert!(store.installations(10).unwrap().is_empty());
    bot.stop().await.unwrap();
}

#[tokio::test]
async fn an_org_admins_install_comes_without_a_state_and_is_kept_only_when_org_wide() {
    let store = Arc::new(MemoryStore::new());
    let bot = bot_with(Arc::clone(&store), true).await;
    let client = SimConfig::default().client_id;
    let sim = bot.sim().api_url().trim_end_matches("api/").to_owned();
    let mut browser = Browser::new();
    // The admin's page links straight to Slack, with no state.
    let org = browser
        .get(&format!(
            "{sim}oauth/v2/authorize?client_id={client}&scope=chat:write&enterprise=E0GLOBEX"
        ))
        .await;
    let done = browser.get(&org.location.unwrap()).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let kept = store
        .installation_find(Some("E0GLOBEX"), Some("T0ANY"), false)
        .unwrap();
    assert!(
        kept.is_some_and(|i| i.is_enterprise_install),
        "an org-wide install answers for its workspaces"
    );

    // Without a state, a workspace's install is refused and its token handed back.
    let team = browser
        .get(&format!(
            "{sim}oauth/v2/authorize?client_id={client}&scope=chat:write&team=T0SNEAK"
        ))
        .await;
    let refused = browser.get(&team.location.unwrap()).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(store
        .installation_find(None, Some("T0SNEAK"), false)
        .unwrap()
        .is_none());
    bot.sim()
        .wait_for_call("auth.revoke", std::time::Duration::from_secs(20), |_| true)
        .await
        .unwrap();
    bot.stop().await.unwrap();
}

/// Two workspaces installed through the flow: each one's events are answered with its own
/// token (the handler's own calls and its answers alike), the bot's own workspace with
/// `SLACK_BOT_TOKEN`'s; once a workspace uninstalls the app, its installation goes and
/// nothing more is sent there.
#[tokio::test]
async fn each_workspace_is_answered_with_its_own_token_until_it_uninstalls() {
    async fn hello(ctx: nonstop::Context, _m: nonstop::Message) -> nonstop::HandlerResult {
        let me: serde_json::Value = ctx.web().call("auth.test", &serde_json::json!({})).await?;
        ctx.say(format!("hi from {}", me["team_id"].as_str().unwrap_or("?")))
            .await?;
        Ok(())
    }
    let store = Arc::new(MemoryStore::new());
    let sim = SimConfig::default();
    let kept = Arc::clone(&store);
    let bot = TestBot::start_over_http(move |mut config| {
        config.oauth = Some(OAuthSettings::new(
            sim.client_id,
            Secret::new(sim.client_secret),
        ));
        App::new(config).with_store(kept).hears("^hello", hello)
    })
    .await;
    for team in ["T0ACME", "T0GLOBEX"] {
        let mut browser = Browser::new();
        let back = browser.start(&bot, &format!("&team={team}")).await;
        assert_eq!(browser.get(&back).await.status, 200);
    }
    for team in ["T0ACME", "T0GLOBEX", "T0SIM"] {
        bot.send_in(
            team,
            nonstop::testing::inbound::message("hello").channel(format!("C-{team}")),
        );
    }
    bot.settled().await;
    let posts = bot.posts();
    assert_eq!(posts.len(), 3, "{posts:?}");
    for team in ["T0ACME", "T0GLOBEX", "T0SIM"] {
        let calls: Vec<_> = bot
            .sim()
            .calls("chat.postMessage")
            .into_iter()
            .filter(|c| c.args["channel"] == format!("C-{team}"))
            .collect();
        assert_eq!(calls.len(), 1, "{team}: {calls:?}");
        assert_eq!(
            calls[0].team.as_deref(),
            Some(team),
            "answered in {team} with its own token"
        );
    }
    let texts: Vec<_> = posts
        .iter()
        .filter_map(|p| p.text().map(str::to_owned))
        .collect();
    for team in ["T0ACME", "T0GLOBEX", "T0SIM"] {
        assert!(
            texts.contains(&format!("hi from {team}")),
            "ctx.web() acted in {team}: {texts:?}"
        );
    }

    // Acme uninstalls: its installation goes, and a message from it is no longer answered
    // with another workspace's token.
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::event(serde_json::json!({"type": "app_uninstalled"})),
    );
    bot.settled().await;
    assert!(store
        .installation_find(None, Some("T0ACME"), false)
        .unwrap()
        .is_none());
    assert!(store
        .installation_find(None, Some("T0GLOBEX"), false)
        .unwrap()
        .is_some());
    let before = bot.sim().calls("chat.postMessage").len();
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("hello").channel("C-T0ACME"),
    );
    bot.send_in(
        "T0GLOBEX",
        nonstop::testing::inbound::message("hello").channel("C-T0GLOBEX"),
    );
    bot.settled().await;
    let after: Vec<_> = bot
        .sim()
        .calls("chat.postMessage")
        .into_iter()
        .skip(before)
        .collect();
    assert_eq!(after.len(), 1, "only Globex is answered: {after:?}");
    assert_eq!(after[0].team.as_deref(), Some("T0GLOBEX"));
    bot.stop().await.unwrap();
}

/// Rotating tokens (here living 3 s, renewed 2 s before they expire, looked at every 200 ms):
/// a workspace is answered all along with no call ever made with an expired token, through
/// renewals one of which lost its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotating_tokens_are_renewed_before_they_expire_even_when_an_answer_is_lost() {
    let store = Arc::new(MemoryStore::new());
    let seconds = std::time::Duration::from_secs;
    let bot = acme_with_rotating_tokens(
        &store,
        seconds(3),
        seconds(2),
        std::time::Duration::from_millis(200),
    )
    .await;
    let first = store
        .installation_find(None, Some("T0ACME"), false)
        .unwrap()
        .unwrap();
    assert!(first.bot_token.expose().starts_with("xoxe.xoxb-"));
    assert!(first.bot_refresh_token.is_some());

    let started = tokio::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < std::time::Duration::from_secs(8) {
        if n == 4 {
            bot.sim().inject(nonstop_sim::Fault::LoseReply {
                method: "oauth.v2.access".into(),
                count: 1,
            });
        }
        n += 1;
        bot.send_in(
            "T0ACME",
            nonstop::testing::inbound::message(format!("hello {n}")).channel("C-ACME"),
        );
        bot.expect_text(&format!("hi hello {n}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    bot.settled().await;
    let stats = bot.sim().stats();
    assert!(
        stats.token_refreshes >= 3,
        "renewed along the way: {stats:?}"
    );
    assert_eq!(
        stats.expired_token_calls, 0,
        "no call with an expired token: {stats:?}"
    );
    // The refresh whose answer was lost was asked again with the same refresh token.
    let (refreshes, distinct) = refresh_tokens_asked(bot.sim());
    assert_eq!(
        distinct + 1,
        refreshes.len(),
        "one asked twice: {refreshes:?}"
    );
    let now = store
        .installation_find(None, Some("T0ACME"), false)
        .unwrap()
        .unwrap();
    assert_ne!(now.bot_token, first.bot_token);
    let posts = bot.posts();
    assert_eq!(posts.len(), n, "each answered once: {posts:?}");
    bot.stop().await.unwrap();
}

/// A workspace's rotating token refused before the timer renewed it (it expired early): the
/// answer is kept, the token renewed once, and the answer sent with the new one; a handler's
/// own call refused the same way is made again after one renewal.
#[tokio::test]
async fn an_answer_or_a_handlers_own_call_refused_for_an_expired_token_goes_again_after_a_renewal()
{
    let store = Arc::new(MemoryStore::new());
    let seconds = std::time::Duration::from_secs;
    // Tokens live an hour; the timer would renew only in the last second: the refusal
    // comes first.
    let bot = acme_with_rotating_tokens(&store, seconds(3600), seconds(1), seconds(60)).await;
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("hello 1").channel("C-ACME"),
    );
    bot.expect_text("hi hello 1").await;
    bot.sim().inject(nonstop_sim::Fault::ExpireTokens);
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("hello 2").channel("C-ACME"),
    );
    bot.expect_text("hi hello 2").await;
    bot.settled().await;
    let stats = bot.sim().stats();
    assert!(stats.expired_token_calls >= 1, "{stats:?}");
    assert_eq!(stats.token_refreshes, 1, "renewed once: {stats:?}");
    assert_eq!(bot.posts().len(), 2);

    // A handler's own call (`ctx.web()`, not an answer through the outbox) refused the same
    // way: the token is renewed once and the same call made again, so the handler goes on at
    // its first attempt.
    bot.sim().inject(nonstop_sim::Fault::ExpireTokens);
    let before = bot.sim().calls("auth.test").len();
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("whoami").channel("C-ACME"),
    );
    bot.expect_text("T0ACME attempt=0").await;
    bot.settled().await;
    assert_eq!(bot.sim().stats().token_refreshes, 2);
    // Refused once with Acme's token, then made with Acme's new one.
    let checks: Vec<(u16, Option<String>)> = bot
        .sim()
        .calls("auth.test")
        .into_iter()
        .skip(before)
        .filter(|c| c.team.as_deref() == Some("T0ACME"))
        .map(|c| (c.status, c.team))
        .collect();
    assert_eq!(checks.len(), 2, "{checks:?}");
    assert_eq!((checks[0].0, checks[1].0), (299, 200), "{checks:?}");
    bot.stop().await.unwrap();
}

/// Answers `whoami` with the team its own `auth.test` names and the handler's attempt.
async fn whoami(ctx: nonstop::Context, _m: nonstop::Message) -> nonstop::HandlerResult {
    let me = ctx.web().call("auth.test", &serde_json::json!({})).await?;
    let team = me["team_id"].as_str().unwrap_or("?").to_owned();
    ctx.say(format!("{team} attempt={}", ctx.attempt())).await?;
    Ok(())
}

/// A bot answering `hello …` with `hi hello …` (and `whoami`), Acme installed, its tokens living `life`,
/// renewed `margin` before they expire, looked at every `check`.
async fn acme_with_rotating_tokens(
    store: &Arc<MemoryStore>,
    life: std::time::Duration,
    margin: std::time::Duration,
    check: std::time::Duration,
) -> TestBot {
    async fn hello(ctx: nonstop::Context, m: nonstop::Message) -> nonstop::HandlerResult {
        ctx.say(format!("hi {}", m.text)).await?;
        Ok(())
    }
    let sim = SimConfig {
        token_rotation: Some(life),
        ..SimConfig::default()
    };
    let kept = Arc::clone(store);
    let (id, secret) = (sim.client_id.clone(), sim.client_secret.clone());
    let bot = TestBot::start_over_http_with(sim, move |mut config| {
        let mut oauth = OAuthSettings::new(id, Secret::new(secret));
        oauth.rotation_margin = margin;
        oauth.rotation_check = check;
        config.oauth = Some(oauth);
        App::new(config)
            .with_store(kept)
            .hears("^hello", hello)
            .hears("^whoami", whoami)
    })
    .await;
    let mut browser = Browser::new();
    let back = browser.start(&bot, "&team=T0ACME").await;
    assert_eq!(browser.get(&back).await.status, 200);
    bot
}

/// No client secret, token or refresh token reaches a log line or a page, through installs,
/// renewals and a refusal.
#[tokio::test]
async fn no_oauth_secret_reaches_a_log_line_or_a_page() {
    let (captured, _capturing) = nonstop_test_support::capture_logs();
    let store = Arc::new(MemoryStore::new());
    let seconds = std::time::Duration::from_secs;
    let bot = acme_with_rotating_tokens(
        &store,
        seconds(3600),
        seconds(7200),
        std::time::Duration::from_millis(100),
    )
    .await;
    // Renewed by the timer (everything is due), then a refusal: both logged.
    bot.sim()
        .wait_for_stats(seconds(20), |s| s.token_refreshes >= 1)
        .await;
    bot.sim().inject(nonstop_sim::Fault::FailMethod {
        method: "oauth.v2.access".into(),
        count: 1,
        status: 200,
        code: Some("invalid_refresh_token".into()),
    });
    let installed = store
        .installation_find(None, Some("T0ACME"), false)
        .unwrap()
        .unwrap();
    // A page that fails, for its words too.
    let mut browser = Browser::new();
    let back = browser.start(&bot, "&team=T0OTHER").await;
    let elsewhere = Browser::new().get(&back).await;
    assert_eq!(elsewhere.status, 400);
    // The refused refresh (answered ok:false, recorded as 299) has been made.
    bot.sim()
        .wait_for_call("oauth.v2.access", seconds(20), |c| c.status == 299)
        .await
        .unwrap();
    bot.stop().await.unwrap();
    let logs = captured.text();
    assert!(
        logs.contains("rotating token renewed"),
        "vacuous otherwise: {logs}"
    );
    assert!(
        logs.contains("rotating token not renewed"),
        "the refusal logged: {logs}"
    );
    let sim = SimConfig::default();
    let secrets = [
        sim.client_secret.clone(),
        installed.bot_token.expose().to_owned(),
        installed
            .bot_refresh_token
            .map(|t| t.expose().to_owned())
            .unwrap_or_default(),
        "simulatedrefreshtoken".to_owned(),
        "simulatedrotatingtoken".to_owned(),
    ];
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "{secret} in the log");
        assert!(
            !elsewhere.body.contains(secret.as_str()),
            "{secret} on a page"
        );
    }
}

/// What was said in an installed workspace while the bot was down (and Slack gave up
/// sending it) is read from that workspace's history with its own token after the restart,
/// and answered there.
#[tokio::test]
async fn an_installed_workspace_is_caught_up_with_its_own_token() {
    async fn hello(ctx: nonstop::Context, m: nonstop::Message) -> nonstop::HandlerResult {
        ctx.say(format!("hi {}", m.text)).await?;
        Ok(())
    }
    let sim_config = SimConfig {
        http_retry_delays: vec![std::time::Duration::from_millis(50)],
        ..SimConfig::default()
    };
    let store = Arc::new(MemoryStore::new());
    let app = {
        let (id, secret) = (
            sim_config.client_id.clone(),
            sim_config.client_secret.clone(),
        );
        let store = Arc::clone(&store);
        move |mut config: nonstop::Config| {
            config.oauth = Some(OAuthSettings::new(id, Secret::new(secret)));
            // Compressed: a second away is worth catching up here (10 s by default).
            config.catch_up_after = std::time::Duration::from_secs(1);
            App::new(config).with_store(store).hears("^hello", hello)
        }
    };
    let bot = TestBot::start_over_http_with(sim_config, app.clone()).await;
    let mut browser = Browser::new();
    let back = browser.start(&bot, "&team=T0ACME").await;
    assert_eq!(browser.get(&back).await.status, 200);
    bot.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("hello before").channel("C-ACME"),
    );
    bot.expect_text("hi hello before").await;
    let (stopped, sim) = bot.stop_keeping_sim().await;
    stopped.unwrap();

    // Said while the bot is down; Slack's tries fail and it gives up.
    let expired = sim.stats().expired;
    sim.send_in(
        "T0ACME",
        nonstop::testing::inbound::message("hello while away").channel("C-ACME"),
    );
    assert!(
        sim.wait_for_stats(std::time::Duration::from_secs(20), |s| s.expired > expired)
            .await
    );
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    sim.set_request_url(Some(&format!(
        "http://{}/slack/events",
        listener.local_addr().unwrap()
    )));
    let config = TestBot::http_config_for(&sim);
    let mut bot = TestBot::launch(sim, app(config).with_events_listener(listener));
    bot.live().await;
    bot.expect_text("hi hello while away").await;
    bot.settled().await;
    let answers: Vec<_> = bot
        .sim()
        .calls("chat.postMessage")
        .into_iter()
        .filter(|c| c.args["text"] == "hi hello while away")
        .collect();
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers[0].team.as_deref(),
        Some("T0ACME"),
        "caught up and answered with Acme's token"
    );
    assert!(bot.status().snapshot().caught_up >= 1);
    bot.stop().await.unwrap();
}

/// The app's own workspace's rotating pair, as its settings page shows it once rotation is
/// on: from an install in the simulator's own workspace.
async fn own_rotating_pair(sim: &nonstop_sim::Sim) -> (String, String) {
    let config = sim.config();
    let code = sim.approve_install(&config.team_id);
    let web =
        nonstop::WebClient::new(&sim.api_url(), None, std::time::Duration::from_secs(10)).unwrap();
    let grant = nonstop_web::OAuthGrant::Code {
        code: &code,
        redirect_uri: None,
    };
    let answer = web
        .oauth_v2_access(
            &config.client_id,
            &Secret::new(config.client_secret.clone()),
            grant,
        )
        .await
        .unwrap();
    let text = |field: &str| answer[field].as_str().unwrap().to_owned();
    (text("access_token"), text("refresh_token"))
}

/// A single-workspace bot whose own token rotates (`SLACK_REFRESH_TOKEN`): renewed ahead of
/// expiry with every message answered and no call with an expired token; started again
/// later with the settings' pair (spent by then), it takes the pair the store kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bots_own_rotating_token_is_renewed_and_outlives_a_restart() {
    async fn hello(ctx: nonstop::Context, m: nonstop::Message) -> nonstop::HandlerResult {
        ctx.say(format!("hi {}", m.text)).await?;
        Ok(())
    }
    let sim = nonstop_sim::Sim::start(SimConfig {
        token_rotation: Some(std::time::Duration::from_secs(3)),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (token, refresh) = own_rotating_pair(&sim).await;
    assert!(token.starts_with("xoxe.xoxb-"));
    let store = Arc::new(MemoryStore::new());
    let app = {
        let store = Arc::clone(&store);
        let settings = sim.config().clone();
        move |mut config: nonstop::Config| {
            config.bot_token = Secret::new(token.clone());
            config.refresh_token = Some(Secret::new(refresh.clone()));
            config.oauth = Some(quick_rotation(&settings));
            App::new(config)
                .with_store(Arc::clone(&store) as Arc<dyn nonstop::Store>)
                .hears("^hello", hello)
                .hears("^whoami", whoami)
        }
    };
    let config = TestBot::config_for(&sim);
    let mut bot = TestBot::launch(sim, app(config));
    bot.live().await;
    let mut n = 0;
    let started = tokio::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(7) {
        n += 1;
        bot.send(nonstop::testing::inbound::message(format!("hello {n}")).channel("C1"));
        bot.expect_text(&format!("hi hello {n}")).await;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    let (stopped, sim) = bot.stop_keeping_sim().await;
    stopped.unwrap();
    let refreshed = sim.stats().token_refreshes;
    assert!(
        refreshed >= 3,
        "renewed at start and along the way: {:?}",
        sim.stats()
    );

    // Later, started again from the same settings: their pair is spent, the store's is not.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let config = TestBot::config_for(&sim);
    let mut bot = TestBot::launch(sim, app(config));
    bot.live().await;
    bot.send(nonstop::testing::inbound::message("hello again").channel("C1"));
    bot.expect_text("hi hello again").await;
    bot.settled().await;
    let stats = bot.sim().stats();
    assert_eq!(
        stats.expired_token_calls, 0,
        "no call with an expired token: {stats:?}"
    );

    // The token expires early: the handler's own call is refused once, the token renewed,
    // and the call made again.
    bot.sim().inject(nonstop_sim::Fault::ExpireTokens);
    bot.send(nonstop::testing::inbound::message("whoami").channel("C1"));
    let team = bot.sim().config().team_id.clone();
    bot.expect_text(&format!("{team} attempt=0")).await;
    assert_eq!(bot.sim().stats().expired_token_calls, 1);
    bot.stop().await.unwrap();
}

/// Three replicas on one Redis behind a round-robin load balancer, Acme's tokens living 4 s
/// (Slack's 12 hours, compressed) and renewed 2 s before they expire, each replica's timer
/// looking every 200 ms: through 12 s of traffic every message is answered once, no call
/// fails or goes with an expired token, and each expiry is renewed once (each refresh token
/// used once, by whichever replica took the lock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_on_redis_renew_each_expiry_once_and_no_call_fails() {
    async fn hello(ctx: nonstop::Context, m: nonstop::Message) -> nonstop::HandlerResult {
        ctx.say(format!("hi {}", m.text)).await?;
        Ok(())
    }
    let prefix = nonstop_test_support::RedisPrefix::new("rotation-replicas");
    let life = std::time::Duration::from_secs(4);
    let sim = nonstop_sim::Sim::start(SimConfig {
        token_rotation: Some(life),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let (mut urls, mut replicas) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut config = TestBot::http_config_for(&sim);
        config.redis_url = Some(Secret::new(nonstop_test_support::redis_url()));
        config.redis_prefix = prefix.0.clone();
        config.oauth = Some(quick_rotation(sim.config()));
        urls.push(format!(
            "http://{}{}",
            listener.local_addr().unwrap(),
            config.events_path
        ));
        let app = App::new(config)
            .hears("^hello", hello)
            .with_events_listener(listener);
        let status = app.status();
        replicas.push((status, tokio::spawn(app.run(std::future::pending()))));
    }
    sim.set_request_urls(&urls);
    for (status, _) in &replicas {
        let wait = std::time::Duration::from_secs(30);
        assert!(status.wait_for(wait, |s| s.live_connections > 0).await);
    }
    // Installed through one replica; the others find it in Redis.
    let mut browser = Browser::new();
    let back = browser.start_at(&origin_of(&urls[0]), "&team=T0ACME").await;
    assert_eq!(browser.get(&back).await.status, 200);

    let started = tokio::time::Instant::now();
    let mut n = 0;
    while started.elapsed() < std::time::Duration::from_secs(12) {
        n += 1;
        sim.send_in(
            "T0ACME",
            nonstop::testing::inbound::message(format!("hello {n}")).channel("C-ACME"),
        );
        let text = format!("hi hello {n}");
        let wait = std::time::Duration::from_secs(30);
        assert!(
            sim.wait_for_post(wait, |p| p.text == text).await.is_some(),
            "{text} never posted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let stats = sim.stats();
    assert_eq!(stats.expired_token_calls, 0, "{stats:?}");
    for method in ["chat.postMessage", "oauth.v2.access", "auth.test"] {
        let failed: Vec<_> = sim
            .calls(method)
            .into_iter()
            .filter(|c| c.status != 200)
            .collect();
        assert!(failed.is_empty(), "no call failed: {failed:?}");
    }
    // Each refresh token asked once: one refresh per expiry, never two racing.
    let (refreshes, distinct) = refresh_tokens_asked(&sim);
    assert_eq!(distinct, refreshes.len(), "{refreshes:?}");
    // 12 s of tokens living 4 s, each renewed 2 s before its end: about six renewals.
    assert!(refreshes.len() >= 4, "renewed along the way: {refreshes:?}");
    let mut answers: Vec<String> = sim.posted().into_iter().map(|p| p.text).collect();
    answers.sort();
    answers.dedup();
    assert_eq!(answers.len(), n, "each answered");
    assert_eq!(sim.posted().len(), n, "each answered once");
    // Every replica took requests.
    for (status, run) in replicas {
        assert!(status.snapshot().handled > 0, "{:?}", status.snapshot());
        run.abort();
    }
}

/// The refresh tokens `oauth.v2.access` was asked with, in order, and how many differ.
fn refresh_tokens_asked(sim: &nonstop_sim::Sim) -> (Vec<String>, usize) {
    let asked: Vec<String> = sim
        .calls("oauth.v2.access")
        .iter()
        .filter_map(|c| c.args.get("refresh_token")?.as_str().map(str::to_owned))
        .collect();
    let distinct = asked.iter().collect::<std::collections::HashSet<_>>().len();
    (asked, distinct)
}

/// The simulated app's OAuth settings, renewing a token 2 s before it expires and looking
/// every 200 ms (for tokens living seconds).
fn quick_rotation(sim: &SimConfig) -> OAuthSettings {
    let mut oauth = OAuthSettings::new(
        sim.client_id.clone(),
        Secret::new(sim.client_secret.clone()),
    );
    oauth.rotation_margin = std::time::Duration::from_secs(2);
    oauth.rotation_check = std::time::Duration::from_millis(200);
    oauth
}
