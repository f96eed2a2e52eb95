//! Tokens that never print.

use std::fmt;

/// A Slack token or signing secret. `Debug` and `Display` show only its kind and length, so a
/// token can sit in a config struct that is logged or in an error without leaking.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The raw value, for the one place that must send it: an HTTP header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The token's prefix (`xoxb`, `xapp`, …) when it has a known one.
    pub fn kind(&self) -> &'static str {
        const KINDS: [&str; 5] = ["xoxb", "xapp", "xoxp", "xoxa", "xoxe"];
        KINDS
            .iter()
            .find(|k| self.0.starts_with(*k) && self.0.as_bytes().get(k.len()) == Some(&b'-'))
            .copied()
            .unwrap_or("secret")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-<redacted len={}>", self.kind(), self.0.len())
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Replaces anything that looks like a Slack token (`xoxb-`, `xoxp-`, `xapp-`, …) in `text`
/// with a redacted marker. For text we did not write ourselves: handler errors, panics.
pub fn redact(text: &str) -> String {
    const PREFIXES: [&str; 6] = ["xoxb-", "xoxp-", "xapp-", "xoxa-", "xoxe-", "xoxs-"];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((at, prefix)) = PREFIXES
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min_by_key(|(i, _)| *i)
    {
        out.push_str(&rest[..at + prefix.len()]);
        let tail = &rest[at + prefix.len()..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(tail.len());
        // A bare prefix ("starts with xapp-") is no token.
        if end > 0 {
            out.push_str("<redacted>");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_every_token_in_text() {
        let text = "bad xoxb-1-2-abc and xapp-1-A1-99-zz, then xoxp-9.";
        let clean = redact(text);
        assert_eq!(
            clean,
            "bad xoxb-<redacted> and xapp-<redacted>, then xoxp-<redacted>."
        );
        assert_eq!(redact("nothing here"), "nothing here");
        assert_eq!(
            redact("a token starting with xapp-, e.g. xapp-…"),
            "a token starting with xapp-, e.g. xapp-…"
        );
    }

    #[test]
    fn debug_and_display_hide_the_value() {
        let token = Secret::new("xoxb-1234-5678-abcdefSECRET");
        for shown in [format!("{token:?}"), format!("{token}")] {
            assert!(!shown.contains("SECRET"), "{shown}");
            assert!(!shown.contains("1234"), "{shown}");
            assert!(shown.starts_with("xoxb-<redacted"), "{shown}");
        }
        assert_eq!(Secret::new("hunter2").kind(), "secret");
    }
}
