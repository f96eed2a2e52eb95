//! Text objects: `plain_text` (what labels, button texts and headers must be) and `mrkdwn`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `{"type": "plain_text", "text": …}`: where Slack allows no formatting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlainText {
    pub text: String,
    /// Whether `:emoji:` codes are shown as emoji (Slack's default: yes).
    pub emoji: Option<bool>,
}

/// `{"type": "mrkdwn", "text": …}`: Slack's markup (`*bold*`, `<@U123>`, links).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mrkdwn {
    pub text: String,
    /// When true, Slack leaves links, mentions and channel names as written.
    pub verbatim: Option<bool>,
}

/// A text object where either kind is allowed (section text and fields, context).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Text {
    Plain(PlainText),
    Mrkdwn(Mrkdwn),
}

impl PlainText {
    pub fn new(text: impl Into<String>) -> Self {
        PlainText {
            text: text.into(),
            emoji: None,
        }
    }
}

impl Mrkdwn {
    pub fn new(text: impl Into<String>) -> Self {
        Mrkdwn {
            text: text.into(),
            verbatim: None,
        }
    }
}

impl Text {
    pub fn plain(text: impl Into<String>) -> Self {
        Text::Plain(PlainText::new(text))
    }

    pub fn mrkdwn(text: impl Into<String>) -> Self {
        Text::Mrkdwn(Mrkdwn::new(text))
    }

    /// The text as written, whatever its kind.
    pub fn text(&self) -> &str {
        match self {
            Text::Plain(plain) => &plain.text,
            Text::Mrkdwn(mrkdwn) => &mrkdwn.text,
        }
    }
}

impl From<PlainText> for Text {
    fn from(plain: PlainText) -> Self {
        Text::Plain(plain)
    }
}

impl From<Mrkdwn> for Text {
    fn from(mrkdwn: Mrkdwn) -> Self {
        Text::Mrkdwn(mrkdwn)
    }
}

impl From<&str> for PlainText {
    fn from(text: &str) -> Self {
        PlainText::new(text)
    }
}

impl From<String> for PlainText {
    fn from(text: String) -> Self {
        PlainText::new(text)
    }
}

/// Both kinds as they are on the wire. The `type` may be missing when an enclosing open enum
/// has read it already. A field neither kind has is refused, so that the enclosing block is
/// kept whole as an unknown one rather than losing it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    emoji: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    verbatim: Option<bool>,
}

const PLAIN: &str = "plain_text";
const MRKDWN: &str = "mrkdwn";

fn read<'de, D: Deserializer<'de>>(
    deserializer: D,
    expected: Option<&str>,
) -> Result<(String, Wire), D::Error> {
    let wire = Wire::deserialize(deserializer)?;
    let kind = match (wire.kind.as_deref(), expected) {
        (Some(kind), Some(expected)) if kind != expected => {
            return Err(serde::de::Error::custom(format!(
                "a {expected} text object cannot be of type {kind}"
            )))
        }
        (Some(kind), _) => kind.to_owned(),
        (None, Some(expected)) => expected.to_owned(),
        (None, None) => return Err(serde::de::Error::missing_field("type")),
    };
    Ok((kind, wire))
}

impl Serialize for PlainText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            kind: Some(PLAIN.to_owned()),
            text: self.text.clone(),
            emoji: self.emoji,
            verbatim: None,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for PlainText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (_, wire) = read(deserializer, Some(PLAIN))?;
        if wire.verbatim.is_some() {
            return Err(serde::de::Error::custom("plain_text has no verbatim"));
        }
        Ok(PlainText {
            text: wire.text,
            emoji: wire.emoji,
        })
    }
}

impl Serialize for Mrkdwn {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Wire {
            kind: Some(MRKDWN.to_owned()),
            text: self.text.clone(),
            emoji: None,
            verbatim: self.verbatim,
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Mrkdwn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (_, wire) = read(deserializer, Some(MRKDWN))?;
        if wire.emoji.is_some() {
            return Err(serde::de::Error::custom("mrkdwn has no emoji"));
        }
        Ok(Mrkdwn {
            text: wire.text,
            verbatim: wire.verbatim,
        })
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Text::Plain(plain) => plain.serialize(serializer),
            Text::Mrkdwn(mrkdwn) => mrkdwn.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let (kind, wire) = read(deserializer, None)?;
        match kind.as_str() {
            PLAIN if wire.verbatim.is_none() => Ok(Text::Plain(PlainText {
                text: wire.text,
                emoji: wire.emoji,
            })),
            MRKDWN if wire.emoji.is_none() => Ok(Text::Mrkdwn(Mrkdwn {
                text: wire.text,
                verbatim: wire.verbatim,
            })),
            other => Err(serde::de::Error::custom(format!(
                "not a text object of a known kind: {other}"
            ))),
        }
    }
}
