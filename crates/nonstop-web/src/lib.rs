//! A Slack Web API client.
//!
//! One function per Slack method, named after it. Every call goes to `base_url` (Slack's own
//! by default, the simulator in tests), sends its token in the `Authorization` header, and
//! turns Slack's answers into typed errors: [`WebError::is_fatal`] says whether retrying can
//! ever help, and [`WebError::retry_after`] carries Slack's `Retry-After`.

mod error;
mod token;

pub use error::{fix_for, WebError};
pub use token::{redact, Secret};

use std::time::Duration;

use nonstop_model::web::{ApiStatus, AuthTest, ConnectionsOpen, PostMessage, PostMessageRequest};
use serde::de::DeserializeOwned;

/// Slack's own Web API root.
pub const SLACK_API_URL: &str = "https://slack.com/api/";

/// Upper bound on a response body we are willing to read; Slack's largest common responses are
/// far below it.
const MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;

/// Cheap to clone: clones share one connection pool.
#[derive(Clone)]
pub struct WebClient {
    http: reqwest::Client,
    base_url: String,
    bot_token: Option<Secret>,
}

impl std::fmt::Debug for WebClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebClient")
            .field("base_url", &self.base_url)
            .field("bot_token", &self.bot_token)
            .finish()
    }
}

impl WebClient {
    /// A client for `base_url` (with or without a trailing slash) that times out each request
    /// after `timeout`.
    pub fn new(
        base_url: &str,
        bot_token: Option<Secret>,
        timeout: Duration,
    ) -> Result<Self, WebError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .user_agent(concat!("nonstop/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| WebError::Setup {
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: normalize_base_url(base_url),
            bot_token,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// <https://api.slack.com/methods/apps.connections.open>: a fresh single-use WebSocket
    /// URL. Takes the app-level token (`xapp-`), not the bot token. Tier 3 (design for 1/s).
    pub async fn apps_connections_open(&self, app_token: &Secret) -> Result<String, WebError> {
        let open: ConnectionsOpen = self
            .post("apps.connections.open", app_token, Body::Empty)
            .await?;
        Ok(open.url)
    }

    /// <https://api.slack.com/methods/auth.test>: the bot's own user and bot ids.
    pub async fn auth_test(&self) -> Result<AuthTest, WebError> {
        let token = self.bot_token("auth.test")?;
        self.post("auth.test", token, Body::Empty).await
    }

    /// <https://api.slack.com/methods/chat.postMessage>: about 1 message/s per channel.
    pub async fn chat_post_message(
        &self,
        request: &PostMessageRequest,
    ) -> Result<PostMessage, WebError> {
        let token = self.bot_token("chat.postMessage")?;
        let body = serde_json::to_value(request).map_err(|e| WebError::Decode {
            method: "chat.postMessage",
            detail: e.to_string(),
        })?;
        self.post("chat.postMessage", token, Body::Json(body)).await
    }

    fn bot_token(&self, method: &'static str) -> Result<&Secret, WebError> {
        self.bot_token
            .as_ref()
            .ok_or(WebError::MissingToken { method })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        method: &'static str,
        token: &Secret,
        body: Body,
    ) -> Result<T, WebError> {
        let url = format!("{}{}", self.base_url, method);
        let request = self.http.post(&url).bearer_auth(token.expose());
        let request = match body {
            Body::Empty => request
                .header(
                    reqwest::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(""),
            Body::Json(value) => request.json(&value),
        };
        let response = request
            .send()
            .await
            .map_err(|e| WebError::from_reqwest(method, &e))?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        if status.as_u16() == 429 {
            return Err(WebError::RateLimited {
                method,
                retry_after: retry_after.unwrap_or(Duration::from_secs(30)),
            });
        }
        if !status.is_success() {
            return Err(WebError::Http {
                method,
                status: status.as_u16(),
                retry_after,
            });
        }
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(WebError::Decode {
                method,
                detail: format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        let bytes = response
            .bytes()
            .await
            .map_err(|e| WebError::from_reqwest(method, &e))?;
        if bytes.len() > MAX_RESPONSE_BYTES {
            return Err(WebError::Decode {
                method,
                detail: format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
            });
        }
        let status: ApiStatus = serde_json::from_slice(&bytes).map_err(|e| WebError::Decode {
            method,
            detail: e.to_string(),
        })?;
        if !status.ok {
            return Err(WebError::Slack {
                method,
                code: status.error.unwrap_or_else(|| "unknown_error".to_owned()),
                retry_after,
            });
        }
        if let Some(warning) = status.warning {
            tracing::warn!(method, %warning, "Slack answered with a warning");
        }
        serde_json::from_slice(&bytes).map_err(|e| WebError::Decode {
            method,
            detail: e.to_string(),
        })
    }
}

enum Body {
    Empty,
    Json(serde_json::Value),
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
}
