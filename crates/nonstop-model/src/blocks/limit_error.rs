//! The error of a field past one of Slack's Block Kit limits.

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unit {
    Characters,
    Items,
}

impl std::fmt::Display for Unit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unit::Characters => "characters",
            Unit::Items => "items",
        })
    }
}

/// A field past one of Slack's limits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} has {actual} {unit}, more than the {limit} Slack allows; shorten it (or split it over more blocks or messages)")]
#[non_exhaustive]
pub struct LimitError {
    /// Where, as a path: `blocks[2].accessory.options[7].text`.
    pub field: String,
    pub limit: usize,
    pub actual: usize,
    pub unit: Unit,
}
