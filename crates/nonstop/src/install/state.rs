//! The OAuth `state` of one install: a random nonce, when it expires, and an HMAC of both
//! under a key derived from the client secret, so that a state this bot did not make, or one
//! that expired, is refused before the store is asked. The store keeps each nonce until it
//! is used once (`InstallationStore::oauth_state_consume`), and a cookie binds it to the
//! browser that started the install.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nonstop_web::Secret;
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

/// The cookie that binds an install to its browser.
pub(crate) const COOKIE: &str = "nonstop_oauth_state";

/// Why a state was refused, in words for the person installing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StateRefused {
    Malformed,
    Forged,
    Expired,
}

impl StateRefused {
    pub(crate) fn words(self) -> &'static str {
        match self {
            Self::Malformed | Self::Forged => {
                "This install link was not made by this app. Start again from the app's install page."
            }
            Self::Expired => "This install took too long and expired. Start again from the app's install page.",
        }
    }
}

/// A state issued: what goes to Slack, the nonce the store and the cookie keep, and when it
/// expires.
#[derive(Debug, Clone)]
pub(crate) struct Issued {
    pub(crate) state: String,
    pub(crate) nonce: String,
    pub(crate) expires_at: SystemTime,
}

/// Makes and checks states.
pub(crate) struct StateSigner {
    key: hmac::Key,
    ttl: Duration,
    random: SystemRandom,
}

impl std::fmt::Debug for StateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl StateSigner {
    pub(crate) fn new(client_secret: &Secret, ttl: Duration) -> Self {
        // A key of its own, derived from the client secret: a state never carries anything
        // signed with the secret itself.
        let root = hmac::Key::new(hmac::HMAC_SHA256, client_secret.expose().as_bytes());
        let derived = hmac::sign(&root, b"nonstop oauth state v1");
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref()),
            ttl,
            random: SystemRandom::new(),
        }
    }

    /// A new state, valid `ttl` from `now`; `None` when the system has no randomness.
    pub(crate) fn issue(&self, now: SystemTime) -> Option<Issued> {
        let mut bytes = [0u8; 16];
        self.random.fill(&mut bytes).ok()?;
        let nonce = crate::hex::encode(&bytes);
        let expires_at = now + self.ttl;
        let expires = expires_at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let signed = format!("{nonce}.{expires}");
        let tag = hmac::sign(&self.key, signed.as_bytes());
        Some(Issued {
            state: format!("{signed}.{}", crate::hex::encode(tag.as_ref())),
            nonce,
            expires_at,
        })
    }

    /// The nonce of a state this signer made and that has not expired at `now`.
    pub(crate) fn check(&self, state: &str, now: SystemTime) -> Result<String, StateRefused> {
        let mut parts = state.split('.');
        let (Some(nonce), Some(expires), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(StateRefused::Malformed);
        };
        let tag = (tag.len() <= 128)
            .then(|| crate::hex::decode(tag))
            .flatten()
            .ok_or(StateRefused::Malformed)?;
        let signed = format!("{nonce}.{expires}");
        hmac::verify(&self.key, signed.as_bytes(), &tag).map_err(|_| StateRefused::Forged)?;
        let expires: u64 = expires.parse().map_err(|_| StateRefused::Malformed)?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if now >= expires {
            return Err(StateRefused::Expired);
        }
        Ok(nonce.to_owned())
    }
}

/// The nonce in a `Cookie` header's value, if the install's cookie is there.
pub(crate) fn nonce_in_cookies(cookies: &str) -> Option<&str> {
    cookies
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> StateSigner {
        StateSigner::new(&Secret::new("client-secret"), Duration::from_secs(600))
    }

    #[test]
    fn a_state_checks_until_it_expires_and_a_changed_one_never() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let issued = signer()
            .issue(now)
            .unwrap_or_else(|| unreachable!("no randomness"));
        assert_eq!(signer().check(&issued.state, now), Ok(issued.nonce.clone()));
        let later = now + Duration::from_secs(601);
        assert_eq!(
            signer().check(&issued.state, later),
            Err(StateRefused::Expired)
        );
        // Another secret's state, a longer life written in, garbage: refused.
        let other = StateSigner::new(&Secret::new("other"), Duration::from_secs(600));
        assert_eq!(other.check(&issued.state, now), Err(StateRefused::Forged));
        let (head, tag) = issued.state.rsplit_once('.').unwrap_or_default();
        let (nonce, _) = head.split_once('.').unwrap_or_default();
        let stretched = format!("{nonce}.9999999999.{tag}");
        assert_eq!(signer().check(&stretched, later), Err(StateRefused::Forged));
        assert_eq!(signer().check("x", now), Err(StateRefused::Malformed));
        assert_ne!(
            signer().issue(now).map(|i| i.nonce),
            Some(issued.nonce),
            "each is new"
        );
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        assert_eq!(
            nonce_in_cookies("a=1; nonstop_oauth_state=abc; b=2"),
            Some("abc")
        );
        assert_eq!(nonce_in_cookies("a=1"), None);
    }
}
