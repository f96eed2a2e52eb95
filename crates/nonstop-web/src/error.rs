//! Web API errors, classified so that callers know whether to retry.

use std::time::Duration;

/// A failed Web API call. Messages name the method and never contain a token.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WebError {
    #[error(
        "{method}: Slack answered ok:false with error `{code}`{}",
        fix_hint(code)
    )]
    Slack {
        method: String,
        code: String,
        retry_after: Option<Duration>,
    },
    #[error("{method}: rate limited by Slack (HTTP 429); retry after {retry_after:?}")]
    RateLimited {
        method: String,
        retry_after: Duration,
    },
    #[error("{method}: Slack answered HTTP {status}")]
    Http {
        method: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{method}: request failed at the {stage} stage: {detail}")]
    Transport {
        method: String,
        stage: &'static str,
        detail: String,
    },
    #[error("{method}: could not read Slack's response: {detail}")]
    Decode { method: String, detail: String },
    #[error("{method}: no bot token configured; set SLACK_BOT_TOKEN")]
    MissingToken { method: String },
    #[error("could not build the HTTP client: {detail}")]
    Setup { detail: String },
    #[error("{method}: {limit} messages already wait for their turn in channel {channel}; not queued (slow down, or raise the pace's queue)")]
    QueueFull {
        method: String,
        channel: String,
        limit: usize,
    },
    /// [`crate::WebClient::attempt_by`]: Slack's limit (or the pace) held the call past the
    /// caller's deadline, so it was not made at all.
    #[error("{method}: not sent: Slack's limit held the call past the caller's deadline")]
    NotSent { method: String },
}

/// Codes that say Slack had a passing problem: the same call may work in a moment.
const TRANSIENT_CODES: &[&str] = &[
    "internal_error",
    "fatal_error",
    "service_unavailable",
    "request_timeout",
];

/// Error codes after which retrying with the same token can never succeed.
const FATAL_CODES: &[&str] = &[
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "token_expired",
    "not_allowed_token_type",
    "missing_args",
    "no_permission",
    "missing_scope",
    "team_disabled",
    "user_removed_from_team",
    "forbidden_team",
    // RTM: this app may not use rtm.start (apps created from 2021-11-30), or must connect
    // another way; retrying cannot help.
    "method_deprecated",
    "rtm_connect_required",
];

/// What a user should do about a fatal code.
pub fn fix_for(code: &str) -> Option<&'static str> {
    Some(match code {
        "invalid_auth" | "not_authed" => "check the token: it is malformed or unknown to Slack",
        "token_revoked" | "token_expired" => "the token was revoked or expired: create a new one in the app settings",
        "account_inactive" | "team_disabled" | "user_removed_from_team" => {
            "the app's user or workspace is deactivated: reinstall the app"
        }
        "not_allowed_token_type" => {
            "wrong token type: SLACK_APP_TOKEN must be an app-level token (xapp-) with connections:write, SLACK_BOT_TOKEN a bot token (xoxb-)"
        }
        "missing_args" => "no token was sent: set SLACK_APP_TOKEN",
        "missing_scope" | "no_permission" => "add the missing scope in the app settings and reinstall",
        "forbidden_team" => "this workspace may not use the app",
        "method_deprecated" => {
            "this app may not call rtm.start: unset NONSTOP_RTM_START to use rtm.connect, or move the bot to Socket Mode with a granular app (docs/coming-from-rtm.md)"
        }
        "rtm_connect_required" => {
            "this app must connect with rtm.connect: unset NONSTOP_RTM_START, or move the bot to Socket Mode (docs/coming-from-rtm.md)"
        }
        _ => return None,
    })
}

fn fix_hint(code: &str) -> String {
    fix_for(code)
        .map(|fix| format!(" ({fix})"))
        .unwrap_or_default()
}

impl WebError {
    pub(crate) fn from_reqwest(method: &str, error: &reqwest::Error) -> Self {
        let stage = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect"
        } else if error.is_body() || error.is_decode() {
            "body"
        } else {
            "request"
        };
        // reqwest's message names the URL, which holds no token (tokens go in a header).
        let mut detail = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            detail.push_str(": ");
            detail.push_str(&cause.to_string());
            source = cause.source();
        }
        if let Some(hint) = scheme_hint(&detail) {
            detail.push_str("; ");
            detail.push_str(hint);
        }
        Self::Transport {
            method: method.to_owned(),
            stage,
            detail,
        }
    }

    /// True when retrying the same call with the same token cannot succeed.
    pub fn is_fatal(&self) -> bool {
        match self {
            Self::Slack { code, .. } => FATAL_CODES.contains(&code.as_str()),
            Self::MissingToken { .. } | Self::Setup { .. } => true,
            _ => false,
        }
    }

    /// True when Slack refused the token itself as expired or unknown: what a rotating token
    /// renewed late (or rotated away) gets; a new token may succeed.
    pub fn is_token_refused(&self) -> bool {
        matches!(self, Self::Slack { code, .. } if code == "token_expired" || code == "invalid_auth")
    }

    /// True when the same call may succeed if tried again soon: network failures, HTTP 5xx
    /// and 408, and Slack's passing errors. Rate limits are not transient: they have their
    /// own wait ([`WebError::rate_limit_wait`]).
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Http { status, .. } => *status >= 500 || *status == 408,
            Self::Slack { code, .. } => TRANSIENT_CODES.contains(&code.as_str()),
            _ => false,
        }
    }

    /// True when the call may have been carried out although it failed: the request may
    /// have reached Slack and its answer was lost (a timeout, a connection reset after
    /// sending, an HTTP 5xx from a proxy, an answer that could not be read). False when Slack
    /// answered and refused, or when nothing was sent (the connection never opened).
    pub fn may_have_reached_slack(&self) -> bool {
        match self {
            Self::Transport { stage, .. } => *stage != "connect",
            Self::Http { status, .. } => *status >= 500 || *status == 408,
            Self::Decode { .. } => true,
            _ => false,
        }
    }

    /// True when the call was not made at all ([`WebError::NotSent`]): the caller may try
    /// again as if it never had.
    pub fn is_not_sent(&self) -> bool {
        matches!(self, Self::NotSent { .. })
    }

    /// True when Slack gave no answer at all (the call may still be carried out).
    pub fn is_unanswered(&self) -> bool {
        matches!(self, Self::Transport { stage, .. } if *stage != "connect")
    }

    /// How long to hold calls to this method when this error is a rate limit.
    pub fn rate_limit_wait(&self) -> Option<std::time::Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Slack {
                code, retry_after, ..
            } if code == "ratelimited" || code == "rate_limited" => {
                Some(retry_after.unwrap_or(std::time::Duration::from_secs(1)))
            }
            _ => None,
        }
    }

    /// How long Slack asked us to wait, when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            Self::Slack { retry_after, .. } | Self::Http { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Slack's error code for `ok:false` answers.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Slack { code, .. } => Some(code),
            Self::RateLimited { .. } => Some("ratelimited"),
            _ => None,
        }
    }
}

/// Words for the two classic mix-ups of a hand-set API URL, which the TLS and HTTP libraries
/// report only in their own terms.
fn scheme_hint(detail: &str) -> Option<&'static str> {
    if detail.contains("InvalidContentType") || detail.contains("corrupt message") {
        Some(
            "the server answered in plain text, not TLS: is it an http:// address (SLACK_API_URL)?",
        )
    } else if detail.contains("invalid HTTP version") || detail.contains("invalid HTTP status") {
        Some("the server's answer is not HTTP: does it speak TLS (an https:// address, SLACK_API_URL)?")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let revoked = WebError::Slack {
            method: "apps.connections.open".into(),
            code: "token_revoked".into(),
            retry_after: None,
        };
        assert!(revoked.is_fatal());
        assert!(revoked.to_string().contains("create a new one"));
        let internal = WebError::Slack {
            method: "apps.connections.open".into(),
            code: "internal_error".into(),
            retry_after: None,
        };
        assert!(!internal.is_fatal());
        let limited = WebError::RateLimited {
            method: "apps.connections.open".into(),
            retry_after: Duration::from_secs(3),
        };
        assert!(!limited.is_fatal());
        assert_eq!(limited.retry_after(), Some(Duration::from_secs(3)));
    }
}
