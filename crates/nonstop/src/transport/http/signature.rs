//! Slack's request signing: every request Slack sends to a request URL (events, slash
//! commands, interactivity) carries `X-Slack-Request-Timestamp` and `X-Slack-Signature:
//! v0=<hex>`, the HMAC-SHA256 of `v0:<timestamp>:<raw body>` under the app's signing
//! secret. A request is taken only when the signature matches one of the secrets (the
//! current one, and the previous one while they rotate), compared in constant time, and its
//! timestamp is within five minutes of now either way (no replays, a clock that is off is
//! named). The clock is the caller's: tests pass any instant.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop_web::Secret;
use ring::hmac;

/// How far a request's timestamp may be from now, either way.
pub const WINDOW: Duration = Duration::from_secs(300);

/// The header with the request's timestamp (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// The header with the request's signature.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

/// Why a request was not taken as Slack's. None of these say a secret or the expected
/// signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureRejected {
    #[error("no {TIMESTAMP_HEADER} header: not a request from Slack")]
    MissingTimestamp,
    #[error("no {SIGNATURE_HEADER} header: not a request from Slack")]
    MissingSignature,
    #[error("{TIMESTAMP_HEADER} is not a Unix time in seconds")]
    MalformedTimestamp,
    #[error("{SIGNATURE_HEADER} is not `v0=` and 64 hex digits")]
    MalformedSignature,
    /// The timestamp is more than [`WINDOW`] from now: a replayed request, or a clock off.
    #[error("the request's timestamp is {seconds} s {direction} this server's clock (at most 300 s either way): a replayed request, or a clock that is off (check NTP)")]
    OutsideWindow {
        seconds: u64,
        direction: &'static str,
    },
    #[error("the signature matches none of the signing secrets: a request not from Slack, or a secret that changed (set SLACK_SIGNING_SECRET to the app's current one, from Basic Information)")]
    Mismatch,
}

/// The app's signing secrets: the current one and, while Slack rotates it, the previous.
/// `Debug` shows neither.
#[derive(Debug, Clone)]
pub struct SigningSecrets {
    keys: Vec<(Secret, hmac::Key)>,
}

impl SigningSecrets {
    pub fn new(secret: impl Into<String>) -> Self {
        Self { keys: Vec::new() }.with(secret.into())
    }

    /// Also accept `secret` (the previous one, during a rotation).
    #[must_use]
    pub fn also(self, secret: impl Into<String>) -> Self {
        self.with(secret.into())
    }

    fn with(mut self, secret: String) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
        self.keys.push((Secret::new(secret), key));
        self
    }

    /// The `X-Slack-Signature` Slack would send with `body` at `timestamp` (Unix seconds),
    /// under the current secret: for a test that posts as Slack, and the receiver's check of
    /// itself.
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let Some((_, key)) = self.keys.first() else {
            return String::new();
        };
        let mut context = hmac::Context::with_key(key);
        context.update(format!("v0:{timestamp}:").as_bytes());
        context.update(body);
        format!("v0={}", crate::hex::encode(context.sign().as_ref()))
    }

    /// Whether a request with these headers and this raw body (before any parsing) is
    /// Slack's, at `now`.
    ///
    /// # Errors
    /// [`SignatureRejected`]: which check failed, in words for the log.
    pub fn verify(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), SignatureRejected> {
        let timestamp = timestamp.ok_or(SignatureRejected::MissingTimestamp)?.trim();
        let signature = signature.ok_or(SignatureRejected::MissingSignature)?.trim();
        let sent: u64 = timestamp
            .parse()
            .map_err(|_| SignatureRejected::MalformedTimestamp)?;
        within_window(sent, now)?;
        let tag = signature
            .strip_prefix("v0=")
            .and_then(decode_hex)
            .ok_or(SignatureRejected::MalformedSignature)?;
        let mut base = Vec::with_capacity(timestamp.len() + body.len() + 4);
        base.extend_from_slice(b"v0:");
        base.extend_from_slice(timestamp.as_bytes());
        base.push(b':');
        base.extend_from_slice(body);
        // ring compares in constant time.
        let matches = self
            .keys
            .iter()
            .any(|(_, key)| hmac::verify(key, &base, &tag).is_ok());
        if matches {
            Ok(())
        } else {
            Err(SignatureRejected::Mismatch)
        }
    }
}

/// `sent` (Unix seconds) is within [`WINDOW`] of `now`, either way.
fn within_window(sent: u64, now: SystemTime) -> Result<(), SignatureRejected> {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (seconds, direction) = if sent <= now {
        (now - sent, "before")
    } else {
        (sent - now, "after")
    };
    if seconds > WINDOW.as_secs() {
        return Err(SignatureRejected::OutsideWindow { seconds, direction });
    }
    Ok(())
}

/// 64 hex digits (either case) as the 32 bytes of a SHA-256 tag.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    (text.len() == 64)
        .then(|| crate::hex::decode(text))
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's own worked example (api.slack.com, "Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn check(
        secrets: &SigningSecrets,
        ts: &str,
        sig: &str,
        body: &str,
        now: u64,
    ) -> Result<(), SignatureRejected> {
        secrets.verify(Some(ts), Some(sig), body.as_bytes(), at(now))
    }

    #[test]
    fn slacks_worked_example_verifies_and_any_change_does_not() {
        let secrets = SigningSecrets::new(SECRET);
        let sent: u64 = TIMESTAMP.parse().unwrap_or_default();
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, BODY, sent + 10),
            Ok(())
        );
        let upper = format!("v0={}", SIGNATURE[3..].to_uppercase());
        assert_eq!(check(&secrets, TIMESTAMP, &upper, BODY, sent), Ok(()));
        let tampered = BODY.replace("roadrunner", "coyote");
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, &tampered, sent),
            Err(SignatureRejected::Mismatch)
        );
        // The timestamp is signed too: moving it breaks the signature.
        let later = (sent + 1).to_string();
        assert_eq!(
            check(&secrets, &later, SIGNATURE, BODY, sent),
            Err(SignatureRejected::Mismatch)
        );
        let other = SigningSecrets::new("another-secret");
        assert_eq!(
            check(&other, TIMESTAMP, SIGNATURE, BODY, sent),
            Err(SignatureRejected::Mismatch)
        );
    }

    #[test]
    fn signing_gives_slacks_signature() {
        let sent: u64 = TIMESTAMP.parse().unwrap_or_default();
        assert_eq!(
            SigningSecrets::new(SECRET).sign(sent, BODY.as_bytes()),
            SIGNATURE
        );
    }

    #[test]
    fn the_previous_secret_is_accepted_during_a_rotation() {
        let rotating = SigningSecrets::new("the-new-secret").also(SECRET);
        let sent: u64 = TIMESTAMP.parse().unwrap_or_default();
        assert_eq!(check(&rotating, TIMESTAMP, SIGNATURE, BODY, sent), Ok(()));
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let secrets = SigningSecrets::new(SECRET);
        let sent: u64 = TIMESTAMP.parse().unwrap_or_default();
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, BODY, sent + 300),
            Ok(())
        );
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, BODY, sent - 300),
            Ok(())
        );
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, BODY, sent + 301),
            Err(SignatureRejected::OutsideWindow {
                seconds: 301,
                direction: "before"
            })
        );
        assert_eq!(
            check(&secrets, TIMESTAMP, SIGNATURE, BODY, sent - 301),
            Err(SignatureRejected::OutsideWindow {
                seconds: 301,
                direction: "after"
            })
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_named() {
        let secrets = SigningSecrets::new(SECRET);
        let now = at(1_531_420_618);
        let body = BODY.as_bytes();
        assert_eq!(
            secrets.verify(None, Some(SIGNATURE), body, now),
            Err(SignatureRejected::MissingTimestamp)
        );
        assert_eq!(
            secrets.verify(Some(TIMESTAMP), None, body, now),
            Err(SignatureRejected::MissingSignature)
        );
        assert_eq!(
            secrets.verify(Some("yesterday"), Some(SIGNATURE), body, now),
            Err(SignatureRejected::MalformedTimestamp)
        );
        for bad in ["v1=abc", "a2114d57", "v0=zz", &SIGNATURE[..40]] {
            assert_eq!(
                secrets.verify(Some(TIMESTAMP), Some(bad), body, now),
                Err(SignatureRejected::MalformedSignature),
                "{bad}"
            );
        }
    }

    #[test]
    fn no_secret_reaches_debug_or_an_error() {
        let secrets = SigningSecrets::new(SECRET).also("previous-secret-value");
        let shown = format!("{secrets:?}");
        assert!(
            !shown.contains(SECRET) && !shown.contains("previous-secret-value"),
            "{shown}"
        );
        let error = check(&secrets, TIMESTAMP, SIGNATURE, "x", 1_531_420_618)
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains(SECRET) && !error.contains(&SIGNATURE[3..]),
            "{error}"
        );
    }
}
