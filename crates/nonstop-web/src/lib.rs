//! A Slack Web API client that keeps to Slack's limits.
//!
//! - Typed calls for the methods bots use most ([`WebClient::chat_post_message`],
//!   [`WebClient::conversations_info`], [`WebClient::views_open`], …) and
//!   [`WebClient::call`] for any other method.
//! - Cursor pagination as a stream ([`WebClient::paginate`] and the `*_all` methods).
//! - HTTP 429: every call to that method waits out `Retry-After`, then the call is retried.
//! - `chat.postMessage` can be paced per channel through a bounded queue
//!   ([`ClientOptions::post_pace`]; off by default: Slack's 429s say when to wait).
//! - HTTP 5xx, network errors and Slack's transient codes are retried with backoff.
//! - `ok:false` is a [`WebError::Slack`] with the code; [`WebError::is_fatal`] says whether
//!   retrying can ever help. `warning` and `response_metadata` notes are logged.
//!
//! Every call goes to `base_url` (Slack's own by default, the simulator in tests) and sends
//! its token in the `Authorization` header, never in a URL or a log.
//!
//! ```no_run
//! # async fn demo() -> Result<(), nonstop_web::WebError> {
//! use nonstop_web::{Secret, WebClient, SLACK_API_URL};
//! use nonstop_model::web::PostMessageRequest;
//!
//! let web = WebClient::new(SLACK_API_URL, Some(Secret::new("xoxb-…")), std::time::Duration::from_secs(10))?;
//! web.chat_post_message(&PostMessageRequest::text("C123", "hello")).await?;
//! # Ok(()) }
//! ```

pub mod backoff;
mod error;
mod limits;
mod methods;
mod pages;
mod stats;
mod token;

pub use backoff::Backoff;
pub use error::{fix_for, WebError};
pub use limits::Pace;
pub use methods::FileUpload;
pub use stats::MethodStats;
pub use token::{redact, Secret};

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nonstop_model::web::{ApiStatus, ConnectionsOpen, RtmConnect};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use tracing::{debug, warn};

use limits::{Pacer, RateGate};

/// Slack's own Web API root.
pub const SLACK_API_URL: &str = "https://slack.com/api/";

/// Upper bound on a response body we are willing to read; Slack's largest common responses are
/// far below it.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// How a client times out, retries and paces.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per HTTP request.
    pub timeout: Duration,
    /// Retries of one call after a transient failure (5xx, network, `internal_error`).
    pub retries: u32,
    /// `Retry-After` waits of one call before its 429 goes to the caller.
    pub rate_limit_retries: u32,
    pub backoff_base: Duration,
    pub backoff_cap: Duration,
    /// `chat.postMessage` per channel; `None` sends at once (for a simulator, or when the
    /// caller paces).
    pub post_pace: Option<Pace>,
    /// HTTP requests in flight at once, across this client and its `with_token` clones;
    /// more wait for a turn. It bounds the connection pool, which otherwise grows to the
    /// largest burst of concurrent calls and keeps those connections for 90 s: each holds
    /// about 40 KiB (measured: a 0.2 s stall at 1,000 answered events/s left 73 open,
    /// 2.8 MiB), and the allocator keeps a burst's memory after it is freed. 16 requests at
    /// Slack's 50-100 ms round trip are 160-320 calls/s, above what Slack's rate limits
    /// allow a bot; against the simulator the bench showed no loss of throughput from 64.
    pub max_in_flight: usize,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            retries: 3,
            rate_limit_retries: 10,
            backoff_base: Duration::from_millis(250),
            backoff_cap: Duration::from_secs(5),
            // Off: Slack answers a channel's limit with 429 and Retry-After, which every call
            // obeys; a pace of our own turned away or delayed answers Slack would have taken.
            post_pace: None,
            max_in_flight: 16,
        }
    }
}

/// What [`WebClient::oauth_v2_access`] exchanges for tokens.
#[derive(Debug, Clone, Copy)]
pub enum OAuthGrant<'a> {
    /// The `code` Slack's redirect brought back from an install, and the `redirect_uri` the
    /// install was started with, if any.
    Code {
        code: &'a str,
        redirect_uri: Option<&'a str>,
    },
    /// A rotating token's refresh token.
    Refresh { refresh_token: &'a Secret },
}

/// Cheap to clone: clones share one connection pool, one rate-limit gate and one pacer.
#[derive(Clone)]
pub struct WebClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    /// Swappable: a rotating token is renewed under every clone at once
    /// ([`WebClient::set_token`]). std RwLock: read once per call, never held across an await.
    bot_token: std::sync::RwLock<Option<Secret>>,
    options: ClientOptions,
    gate: RateGate,
    pacer: Option<Pacer>,
    /// Each method's URL, parsed once: parsing it for every call cost more than encoding
    /// the call's JSON. Bounded: a client calling ever new method names parses those anew.
    urls: std::sync::Mutex<std::collections::HashMap<String, reqwest::Url>>,
    /// Turns for HTTP requests (`ClientOptions::max_in_flight`), shared with the clones
    /// that share the connection pool.
    in_flight: Arc<tokio::sync::Semaphore>,
    /// The token's scopes as Slack named them (`x-oauth-scopes`) in the last `auth.test`
    /// answer. std Mutex: written once per `auth.test`, never held across an await.
    scopes: std::sync::Mutex<Option<String>>,
    /// Calls by method and outcome, and time waited for rate limits.
    stats: stats::Stats,
    /// Who renews this client's token when Slack refuses it ([`WebClient::renewed_by`]).
    renewer: std::sync::OnceLock<Arc<dyn RenewToken>>,
}

/// Renews a rotating token that Slack refused (`token_expired`, or `invalid_auth` for a token
/// rotated away): what a client set up with [`WebClient::renewed_by`] asks, once per call,
/// before it gives up on the call.
pub trait RenewToken: Send + Sync {
    /// Slack refused `refused`'s token: renew it, if it can be, and give the token to try
    /// again with; `None` when there is none (the refusal is the call's answer then).
    fn renew<'a>(
        &'a self,
        refused: &'a WebClient,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<Secret>> + Send + 'a>>;
}

/// Method URLs kept parsed, at most.
const CACHED_URLS: usize = 256;

impl std::fmt::Debug for WebClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebClient")
            .field("base_url", &self.inner.base_url)
            .field("bot_token", &self.token())
            .finish_non_exhaustive()
    }
}

/// How a call's arguments travel.
pub(crate) enum Body {
    Empty,
    /// Form-encoded: every method accepts it; nested values go as JSON strings.
    Form(Vec<(String, String)>),
    /// Serialised once, sent as is on every attempt.
    Json(String),
}

impl WebClient {
    /// A client for `base_url` (with or without a trailing slash) that times out each request
    /// after `timeout`, with default retries and pacing.
    pub fn new(
        base_url: &str,
        bot_token: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, WebError> {
        Self::with_options(
            base_url,
            bot_token,
            ClientOptions {
                timeout,
                ..ClientOptions::default()
            },
        )
    }

    pub fn with_options(
        base_url: &str,
        bot_token: Option<Secret>,
        options: ClientOptions,
    ) -> Result<Self, WebError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("nonstop/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(options.max_in_flight)
            // A redirect must not carry a call (its arguments, a `response_url`) in clear text
            // across a network, and no Referer says where it came from (issue 25).
            .redirect(redirects())
            .referer(false)
            .build()
            .map_err(|e| WebError::Setup {
                detail: e.to_string(),
            })?;
        let in_flight = Arc::new(tokio::sync::Semaphore::new(options.max_in_flight.max(1)));
        Ok(Self::from_parts(
            http,
            in_flight,
            normalize_base_url(base_url),
            bot_token,
            options,
        ))
    }

    fn from_parts(
        http: reqwest::Client,
        in_flight: Arc<tokio::sync::Semaphore>,
        base_url: String,
        bot_token: Option<Secret>,
        options: ClientOptions,
    ) -> Self {
        let pacer = options.post_pace.map(Pacer::new);
        Self {
            inner: Arc::new(Inner {
                http,
                base_url,
                bot_token: std::sync::RwLock::new(bot_token),
                options,
                gate: RateGate::default(),
                pacer,
                urls: std::sync::Mutex::default(),
                in_flight,
                scopes: std::sync::Mutex::default(),
                stats: stats::Stats::default(),
                renewer: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Waits for a turn to send an HTTP request; the turn ends when the permit drops.
    async fn turn(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        // The semaphore is never closed; were it, requests would go without turns.
        self.inner.in_flight.acquire().await.ok()
    }

    /// The same client acting with another token (e.g. a user token, or another workspace's
    /// bot token). It shares the connection pool, and has its own rate-limit gate and pacer,
    /// because Slack counts limits per token's workspace.
    pub fn with_token(&self, token: Secret) -> Self {
        Self::from_parts(
            self.inner.http.clone(),
            self.inner.in_flight.clone(),
            self.inner.base_url.clone(),
            Some(token),
            self.inner.options.clone(),
        )
    }

    /// Whether this client acts with the same token as `other`.
    pub fn has_token_of(&self, other: &WebClient) -> bool {
        match (self.token(), other.token()) {
            (Some(a), Some(b)) => a.expose() == b.expose(),
            (None, None) => true,
            _ => false,
        }
    }

    /// Whether this client acts with `token`.
    pub fn has_token(&self, token: &Secret) -> bool {
        self.token()
            .is_some_and(|own| own.expose() == token.expose())
    }

    /// From now on this client, and every clone of it, acts with `token`: a rotating token
    /// renewed (calls under way finish with the old one, which Slack still takes).
    pub fn set_token(&self, token: Secret) {
        *self
            .inner
            .bot_token
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(token);
    }

    /// From now on a call with [`WebClient::call`] (and every typed method built on it)
    /// whose token Slack refuses asks `renewer` for a new one and, given one, is made once
    /// more with it (this client and its clones keep it). Set once; later calls are ignored.
    /// [`WebClient::attempt`]'s callers decide themselves.
    pub fn renewed_by(&self, renewer: Arc<dyn RenewToken>) {
        let _ = self.inner.renewer.set(renewer);
    }

    fn token(&self) -> Option<Secret> {
        self.inner
            .bot_token
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The bot token's scopes, as Slack named them in its answer to the last
    /// [`WebClient::auth_test`]; `None` before one, or when Slack did not say.
    pub fn granted_scopes(&self) -> Option<Vec<String>> {
        let scopes = self
            .inner
            .scopes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        scopes.as_ref().map(|list| {
            list.split(',')
                .map(|scope| scope.trim().to_owned())
                .filter(|scope| !scope.is_empty())
                .collect()
        })
    }

    /// Calls any Web API `method` with `args` (any serde object: a struct, a map or
    /// `serde_json::json!({…})`), with the bot token, retries and rate limits. Returns the
    /// whole response.
    pub async fn call(&self, method: &str, args: &impl Serialize) -> Result<Value, WebError> {
        let body = Body::Form(form_fields(method, args)?);
        let answer = self.send(method, body).await?;
        decode_bytes(method, &answer)
    }

    /// [`WebClient::call`], with the response read into `T`.
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        method: &str,
        args: &impl Serialize,
    ) -> Result<T, WebError> {
        let body = Body::Form(form_fields(method, args)?);
        let answer = self.send(method, body).await?;
        decode_bytes(method, &answer)
    }

    /// One call of `method` with `args`, for callers that decide themselves what to do after a
    /// failure (the outbox): waits out the method's `Retry-After` and, for `chat.postMessage`
    /// with a pace, the channel's turn; then makes exactly one request. A 429 holds the method
    /// for every caller and comes back as the error; nothing is retried here. The answer is
    /// read into `T` (`serde_json::Value` for all of it).
    pub async fn attempt<T: DeserializeOwned>(
        &self,
        method: &str,
        args: Map<String, Value>,
    ) -> Result<T, WebError> {
        self.attempt_by(method, args, None).await
    }

    /// [`WebClient::attempt`], but when waiting for Slack's `Retry-After` (or the pace) ends
    /// after `deadline`, no request is made and the answer is [`WebError::NotSent`]: for a
    /// caller whose right to make the call runs out (the outbox, whose answer another replica
    /// may take over once its lease runs out).
    pub async fn attempt_by<T: DeserializeOwned>(
        &self,
        method: &str,
        args: Map<String, Value>,
        deadline: Option<tokio::time::Instant>,
    ) -> Result<T, WebError> {
        let token = self.bot_token(method)?;
        let fields = fields_of(args);
        if let (Some(pacer), "chat.postMessage") = (&self.inner.pacer, method) {
            let channel = fields.iter().find(|(k, _)| k == "channel");
            if let Some((_, channel)) = channel {
                pacer.reserve(method, channel)?.wait().await;
            }
        }
        self.wait_gate(method).await;
        if deadline.is_some_and(|deadline| tokio::time::Instant::now() >= deadline) {
            return Err(WebError::NotSent {
                method: method.to_owned(),
            });
        }
        let body = Body::Form(fields);
        match self.send_once(method, &token, &body).await {
            Ok(answer) => decode_bytes(method, &answer),
            Err(error) => {
                if let Some(wait) = error.rate_limit_wait() {
                    self.inner.gate.block(method, wait);
                }
                Err(error)
            }
        }
    }

    /// <https://api.slack.com/methods/oauth.v2.access>: exchanges an install's `code`, or with
    /// token rotation a refresh token, for tokens. Authenticated by the app's client id and
    /// secret (in the form, never a header or a log line), not a token. One attempt: a code
    /// is single-use, and a refresh whose answer was lost is recovered by its caller. Returns
    /// Slack's whole answer (`access_token`, `team`, `enterprise`, `refresh_token`, …).
    pub async fn oauth_v2_access(
        &self,
        client_id: &str,
        client_secret: &Secret,
        grant: OAuthGrant<'_>,
    ) -> Result<Value, WebError> {
        let method = "oauth.v2.access";
        let mut fields = vec![
            ("client_id".to_owned(), client_id.to_owned()),
            (
                "client_secret".to_owned(),
                client_secret.expose().to_owned(),
            ),
        ];
        match grant {
            OAuthGrant::Code { code, redirect_uri } => {
                fields.push(("code".to_owned(), code.to_owned()));
                if let Some(uri) = redirect_uri {
                    fields.push(("redirect_uri".to_owned(), uri.to_owned()));
                }
            }
            OAuthGrant::Refresh { refresh_token } => {
                fields.push(("grant_type".to_owned(), "refresh_token".to_owned()));
                fields.push((
                    "refresh_token".to_owned(),
                    refresh_token.expose().to_owned(),
                ));
            }
        }
        let result = self.exchange(method, None, &Body::Form(fields)).await;
        self.inner.stats.record(method, &result);
        decode_bytes(method, &result?)
    }

    /// <https://api.slack.com/methods/apps.connections.open>: a fresh single-use WebSocket
    /// URL. Takes the app-level token (`xapp-`), not the bot token. One attempt: the socket
    /// supervisor decides when to try again.
    pub async fn apps_connections_open(&self, app_token: &Secret) -> Result<String, WebError> {
        let answer = self
            .send_once("apps.connections.open", app_token, &Body::Empty)
            .await?;
        let open: ConnectionsOpen = decode_bytes("apps.connections.open", &answer)?;
        Ok(open.url)
    }

    /// <https://api.slack.com/methods/rtm.connect> (or the deprecated `rtm.start` when
    /// `use_start`): a single-use RTM socket URL, valid for 30 s. Takes the bot token. One
    /// attempt (the supervisor decides when to try again). The method is Tier 1, about one
    /// call a minute: after a 429 every caller is held back for as long as Slack said, and a
    /// call made meanwhile fails at once with the time left, without reaching Slack.
    pub async fn rtm_connect(&self, use_start: bool) -> Result<RtmConnect, WebError> {
        let method = if use_start {
            "rtm.start"
        } else {
            "rtm.connect"
        };
        let token = self.bot_token(method)?;
        if let Some(left) = self.inner.gate.blocked_for(method) {
            return Err(WebError::RateLimited {
                method: method.to_owned(),
                retry_after: left,
            });
        }
        match self.send_once(method, &token, &Body::Empty).await {
            Ok(answer) => decode_bytes(method, &answer),
            Err(error) => {
                if let Some(wait) = error.rate_limit_wait() {
                    self.inner.gate.block(method, wait);
                }
                Err(error)
            }
        }
    }

    /// Calls `method` with the bot token: waits for the method's rate-limit gate, retries
    /// transient failures with backoff and waits out 429s, up to the configured counts.
    pub(crate) async fn send(&self, method: &str, body: Body) -> Result<Bytes, WebError> {
        let mut token = self.bot_token(method)?;
        let options = &self.inner.options;
        let mut backoff = Backoff::new(options.backoff_base, options.backoff_cap);
        let (mut failures, mut limited, mut renewed) = (0, 0, false);
        loop {
            self.wait_gate(method).await;
            let error = match self.send_once(method, &token, &body).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if error.is_token_refused() && !renewed {
                renewed = true;
                if let Some(new) = self.renewed_token().await {
                    debug!(
                        method,
                        "the token was refused and is renewed; calling again"
                    );
                    token = new;
                    continue;
                }
            }
            if let Some(wait) = error.rate_limit_wait() {
                limited += 1;
                // Every call to this method waits, not only this one.
                self.inner.gate.block(method, wait);
                if limited > options.rate_limit_retries {
                    return Err(error);
                }
                debug!(
                    method,
                    wait_ms = wait.as_millis() as u64,
                    "rate limited; waiting as Slack asked"
                );
                continue;
            }
            if !error.is_transient() || failures >= options.retries {
                return Err(error);
            }
            failures += 1;
            // Backoff's first delay is zero; a failed call deserves a pause before the retry.
            let delay = backoff
                .next_delay(None, &mut rand::rng())
                .max(options.backoff_base / 2);
            debug!(method, error = %error, attempt = failures, delay_ms = delay.as_millis() as u64, "transient failure; retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// A new token from the renewer, after Slack refused this client's; kept by the client.
    async fn renewed_token(&self) -> Option<Secret> {
        let renewer = Arc::clone(self.inner.renewer.get()?);
        let new = renewer.renew(self).await?;
        self.set_token(new.clone());
        Some(new)
    }

    fn bot_token(&self, method: &str) -> Result<Secret, WebError> {
        self.token().ok_or_else(|| WebError::MissingToken {
            method: method.to_owned(),
        })
    }

    /// The URL of `method`, parsed once.
    fn method_url(&self, method: &str) -> Option<reqwest::Url> {
        let mut urls = self
            .inner
            .urls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(url) = urls.get(method) {
            return Some(url.clone());
        }
        let url = reqwest::Url::parse(&format!("{}{}", self.inner.base_url, method)).ok()?;
        if urls.len() < CACHED_URLS {
            urls.insert(method.to_owned(), url.clone());
        }
        Some(url)
    }

    /// Waits until Slack's rate limit on `method` (a `Retry-After` it gave) allows a call, as
    /// [`WebClient::attempt`] does before its request: for a caller that must do something
    /// right before the request and not long before it.
    pub async fn wait_for_turn(&self, method: &str) {
        self.wait_gate(method).await;
    }

    /// Waits until Slack's rate limit on `method` allows a call; the wait is counted.
    async fn wait_gate(&self, method: &str) {
        let started = tokio::time::Instant::now();
        self.inner.gate.wait(method).await;
        self.inner.stats.waited(method, started.elapsed());
    }

    /// Calls made so far, per method: by outcome, and the time they waited for Slack's rate
    /// limits.
    pub fn method_stats(&self) -> Vec<(String, MethodStats)> {
        self.inner.stats.snapshot()
    }

    /// One HTTP exchange, counted by outcome.
    async fn send_once(
        &self,
        method: &str,
        token: &Secret,
        body: &Body,
    ) -> Result<Bytes, WebError> {
        let result = self.exchange(method, Some(token), body).await;
        self.inner.stats.record(method, &result);
        result
    }

    /// One HTTP exchange: the response body when Slack answered `ok:true`, else the typed
    /// error. The body stays bytes: each caller reads it once into what it needs.
    async fn exchange(
        &self,
        method: &str,
        token: Option<&Secret>,
        body: &Body,
    ) -> Result<Bytes, WebError> {
        let request = match self.method_url(method) {
            Some(url) => self.inner.http.post(url),
            // Not a URL: reqwest names the problem when the request is sent.
            None => self
                .inner
                .http
                .post(format!("{}{}", self.inner.base_url, method)),
        };
        let request = match token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        };
        let request = match body {
            Body::Empty => request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(""),
            Body::Form(fields) => request.form(fields),
            // Slack warns `missing_charset` on JSON without it.
            Body::Json(text) => request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/json; charset=utf-8",
                )
                .body(text.clone()),
        };
        let turn = self.turn().await;
        let response = request
            .send()
            .await
            .map_err(|e| WebError::from_reqwest(method, &e))?;
        if method == "auth.test" {
            let scopes = response
                .headers()
                .get("x-oauth-scopes")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            *self
                .inner
                .scopes
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = scopes;
        }
        let bytes = read_checked(method, response).await?;
        // The connection goes back to the pool on hyper's own task once the body is read:
        // let that run before the turn ends, or the next request may open another connection
        // (pool.rs counts them; without this, 1 run in 8 left one more open).
        tokio::task::yield_now().await;
        drop(turn);
        // The envelope fields only; the rest of the answer is skipped here.
        let status: ApiStatus = decode_bytes(method, &bytes)?;
        if !status.ok {
            return Err(WebError::Slack {
                method: method.to_owned(),
                code: status
                    .error
                    .as_deref()
                    .map_or_else(|| "unknown_error".to_owned(), nonstop_model::printable),
                retry_after: None,
            });
        }
        log_notes(method, &status);
        Ok(bytes)
    }

    /// POSTs `body` as JSON to a `response_url` Slack gave with a slash command or an
    /// interaction (no token: the URL is the credential). Transient failures are retried.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), WebError> {
        const METHOD: &str = "response_url";
        let options = &self.inner.options;
        let mut backoff = Backoff::new(options.backoff_base, options.backoff_cap);
        let mut failures = 0;
        loop {
            let outcome = async {
                let _turn = self.turn().await;
                let response = self
                    .inner
                    .http
                    .post(response_url)
                    .json(body)
                    .send()
                    .await
                    // The URL is itself a credential: errors leave it out.
                    .map_err(|e| WebError::from_reqwest(METHOD, &e.without_url()))?;
                let bytes = read_checked(METHOD, response).await?;
                // Slack answers `ok` in plain text or `{"ok":true}`; only an explicit
                // `ok:false` is a refusal.
                match serde_json::from_slice::<ApiStatus>(&bytes) {
                    Ok(status) if !status.ok => Err(WebError::Slack {
                        method: METHOD.to_owned(),
                        code: status
                            .error
                            .as_deref()
                            .map_or_else(|| "unknown_error".to_owned(), nonstop_model::printable),
                        retry_after: None,
                    }),
                    _ => Ok(()),
                }
            }
            .await;
            match outcome {
                Ok(()) => return Ok(()),
                Err(error) if error.is_transient() && failures < options.retries => {
                    failures += 1;
                    let delay = error.rate_limit_wait().unwrap_or_else(|| {
                        backoff
                            .next_delay(None, &mut rand::rng())
                            .max(options.backoff_base / 2)
                    });
                    tokio::time::sleep(delay).await;
                }
                Err(error) => return Err(error),
            }
        }
    }
}

/// The body of a 2xx response, or the error its status means.
async fn read_checked(method: &str, response: reqwest::Response) -> Result<bytes::Bytes, WebError> {
    let status = response.status();
    let retry_after = parse_retry_after(response.headers());
    if status.as_u16() == 429 {
        return Err(WebError::RateLimited {
            method: method.to_owned(),
            retry_after: retry_after.unwrap_or(Duration::from_secs(30)),
        });
    }
    if !status.is_success() {
        return Err(WebError::Http {
            method: method.to_owned(),
            status: status.as_u16(),
            retry_after,
        });
    }
    let too_large = || WebError::Decode {
        method: method.to_owned(),
        detail: format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
    {
        return Err(too_large());
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| WebError::from_reqwest(method, &e))?;
    if bytes.len() > MAX_RESPONSE_BYTES {
        return Err(too_large());
    }
    Ok(bytes)
}

/// Slack's `warning` and `response_metadata` notes on a call that succeeded.
fn log_notes(method: &str, status: &ApiStatus) {
    if let Some(warning) = &status.warning {
        warn!(method, warning = %nonstop_model::printable(warning), "Slack answered with a warning");
    }
    if let Some(meta) = &status.response_metadata {
        for note in meta.warnings.iter().chain(&meta.messages) {
            warn!(method, note = %nonstop_model::printable(note), "Slack noted a problem with the call");
        }
    }
}

/// Reads an answer's bytes into `T`.
pub(crate) fn decode_bytes<T: DeserializeOwned>(method: &str, bytes: &[u8]) -> Result<T, WebError> {
    serde_json::from_slice(bytes).map_err(|e| WebError::Decode {
        method: method.to_owned(),
        detail: e.to_string(),
    })
}

/// Reads `value` (or the field of it a caller names) into `T`.
pub(crate) fn decode<T: DeserializeOwned>(method: &str, value: Value) -> Result<T, WebError> {
    serde_json::from_value(value).map_err(|e| WebError::Decode {
        method: method.to_owned(),
        detail: e.to_string(),
    })
}

/// `args` as form fields: strings as they are, numbers and booleans as text, arrays and
/// objects (blocks, views) as JSON, nulls left out.
pub(crate) fn form_fields(
    method: &str,
    args: &impl Serialize,
) -> Result<Vec<(String, String)>, WebError> {
    let not_an_object = |detail: String| WebError::Decode {
        method: method.to_owned(),
        detail: format!("arguments must be a JSON object: {detail}"),
    };
    let map: Map<String, Value> = match serde_json::to_value(args) {
        Ok(Value::Object(map)) => map,
        Ok(Value::Null) => Map::new(),
        Ok(other) => return Err(not_an_object(format!("got {other}"))),
        Err(e) => return Err(not_an_object(e.to_string())),
    };
    Ok(fields_of(map))
}

/// An argument map as form fields, consumed: no copy of its strings.
fn fields_of(map: Map<String, Value>) -> Vec<(String, String)> {
    map.into_iter()
        .filter_map(|(key, value)| {
            let text = match value {
                Value::Null => return None,
                Value::String(s) => s,
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                nested @ (Value::Array(_) | Value::Object(_)) => nested.to_string(),
            };
            Some((key, text))
        })
        .collect()
}

/// Where a Web API root would send the tokens: `Ok(true)` when over plain HTTP to a host other
/// than this machine (anyone on the way reads them), `Ok(false)` for HTTPS or loopback, and
/// the problem when `url` is not an http(s) URL with a host.
/// Follows at most 5 redirects, never one to plain `http://` beyond this machine.
fn redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 5 {
            return attempt.error("more than 5 redirects");
        }
        match sends_tokens_in_clear(attempt.url().as_str()) {
            Ok(false) => attempt.follow(),
            Ok(true) => attempt.error(
                "redirected to plain http:// beyond this machine; not followed (the call would cross the network in clear text)",
            ),
            Err(why) => attempt.error(format!("redirected to an address that cannot be used: {why}")),
        }
    })
}

pub fn sends_tokens_in_clear(url: &str) -> Result<bool, String> {
    let url = url.trim();
    // The URL standard reads `http:///api/` as the host `api`: a slash where the host
    // belongs is a missing host, not a host.
    if url
        .split_once("://")
        .is_some_and(|(_, rest)| rest.starts_with('/'))
    {
        return Err("it names no host".to_owned());
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let host = match parsed.host_str() {
        Some(host) if !host.is_empty() => host,
        _ => return Err("it names no host".to_owned()),
    };
    // IPv6 hosts come in brackets.
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    match parsed.scheme() {
        "https" => Ok(false),
        "http" => Ok(!loopback),
        other => Err(format!("{other}:// is not http(s)")),
    }
}

/// `https://x/api` and `https://x/api/` both become `https://x/api/`.
fn normalize_base_url(base: &str) -> String {
    let trimmed = base.trim();
    if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    }
}

/// `Retry-After` in whole seconds, as Slack sends it. Absurd values are capped at an hour.
fn parse_retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs.min(3600)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_go_in_clear_only_over_plain_http_off_this_machine() {
        assert_eq!(sends_tokens_in_clear("https://slack.com/api/"), Ok(false));
        assert_eq!(
            sends_tokens_in_clear("http://127.0.0.1:3030/api/"),
            Ok(false)
        );
        assert_eq!(sends_tokens_in_clear("http://localhost/api/"), Ok(false));
        assert_eq!(sends_tokens_in_clear("http://[::1]:80/api/"), Ok(false));
        assert_eq!(sends_tokens_in_clear("http://10.0.0.7/api/"), Ok(true));
        assert_eq!(sends_tokens_in_clear("http://slack.example/api/"), Ok(true));
        assert!(sends_tokens_in_clear("http:///api/").is_err());
        assert!(sends_tokens_in_clear("ftp://slack.com/").is_err());
    }

    #[test]
    fn base_url_gets_one_trailing_slash() {
        assert_eq!(
            normalize_base_url("https://slack.com/api"),
            "https://slack.com/api/"
        );
        assert_eq!(
            normalize_base_url("https://slack.com/api/"),
            "https://slack.com/api/"
        );
    }

    #[test]
    fn retry_after_parses_seconds_and_caps() {
        let mut headers = reqwest::header::HeaderMap::new();
        assert_eq!(parse_retry_after(&headers), None);
        headers.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(7)));
        headers.insert(reqwest::header::RETRY_AFTER, "999999".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), Some(Duration::from_secs(3600)));
        headers.insert(reqwest::header::RETRY_AFTER, "soon".parse().unwrap());
        assert_eq!(parse_retry_after(&headers), None);
    }

    #[test]
    fn form_fields_flatten_scalars_and_encode_nested_values_as_json() {
        let fields = form_fields(
            "chat.postMessage",
            &serde_json::json!({"channel":"C1","unfurl_links":false,"limit":5,
                                "blocks":[{"type":"divider"}],"thread_ts":null}),
        )
        .unwrap();
        let get = |k: &str| {
            fields
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("channel"), Some("C1"));
        assert_eq!(get("unfurl_links"), Some("false"));
        assert_eq!(get("limit"), Some("5"));
        assert_eq!(get("blocks"), Some(r#"[{"type":"divider"}]"#));
        assert_eq!(get("thread_ts"), None);
        assert!(form_fields("x", &serde_json::json!([1])).is_err());
    }
}
