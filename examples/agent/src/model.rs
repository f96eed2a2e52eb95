//! An OpenAI-compatible chat-completions client that reads the answer as it streams:
//! `POST <AGENT_API_URL>/chat/completions` with `"stream": true`; the answer comes as
//! server-sent events, each `data: {…}` line a chunk whose `choices[0].delta.content` is the
//! next piece, `data: [DONE]` the end. A 429 is waited out as its `Retry-After` says, a 5xx
//! or a stream cut off before `[DONE]` is asked again, a model silent for too long is given
//! up on: each a bounded number of times, and each named when it ends the answer.

use std::time::Duration;

use nonstop::Secret;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The longest answer read; the rest is not waited for.
const MAX_ANSWER: usize = 60_000;
/// The longest line of the event stream read.
const MAX_LINE: usize = 1024 * 1024;
/// The longest `Retry-After` waited out.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Where the model is and how long to wait for it.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    /// The API's root, e.g. `https://api.openai.com/v1` (`AGENT_API_URL`).
    pub url: String,
    /// `AGENT_MODEL`.
    pub model: String,
    /// `AGENT_API_KEY`, sent as a bearer token when set.
    pub key: Option<Secret>,
    /// How long a token may take to come before the model counts as silent.
    pub token_timeout: Duration,
    /// Tries of one answer (after a 429, a 5xx, a cut stream or silence).
    pub tries: u32,
}

impl ModelSettings {
    pub fn new(url: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            model: model.into(),
            key: None,
            token_timeout: Duration::from_secs(60),
            tries: 4,
        }
    }

    /// From `AGENT_API_URL`, `AGENT_MODEL` (default `gpt-4o-mini`) and `AGENT_API_KEY`;
    /// `None` without a URL.
    pub fn from_env() -> Option<Self> {
        let url = std::env::var("AGENT_API_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let model = std::env::var("AGENT_MODEL").unwrap_or_else(|_| "gpt-4o-mini".to_owned());
        let mut settings = Self::new(url, model);
        settings.key = std::env::var("AGENT_API_KEY").ok().map(Secret::new);
        Some(settings)
    }
}

/// One turn of a conversation, as chat-completions takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    /// `system`, `user` or `assistant`.
    pub role: String,
    pub content: String,
}

impl Turn {
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: "user".to_owned(),
            content: content.into(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: "assistant".to_owned(),
            content: content.into(),
        }
    }
}

/// Why the model gave no answer.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ModelError {
    #[error("the model at {url} could not be reached ({detail}); check AGENT_API_URL")]
    Unreachable { url: String, detail: String },
    #[error("the model refused the question: HTTP {status} {detail}")]
    Refused { status: u16, detail: String },
    #[error("the model is busy (HTTP {status}) and stayed so for {tries} tries")]
    Busy { status: u16, tries: u32 },
    #[error("the model's answer was cut off {tries} times (the last after {received} characters)")]
    CutOff { received: usize, tries: u32 },
    #[error("the model sent nothing for {waited_ms} ms, {tries} times")]
    Silent { waited_ms: u64, tries: u32 },
}

/// What one try came to.
enum Try {
    Answer(String),
    /// Worth another try, after this long.
    Again(Duration, ModelError),
    Final(ModelError),
}

/// The model's client.
#[derive(Debug, Clone)]
pub struct Model {
    http: reqwest::Client,
    settings: ModelSettings,
}

impl Model {
    pub fn new(settings: ModelSettings) -> Self {
        Self {
            http: reqwest::Client::new(),
            settings,
        }
    }

    /// The model's answer to the conversation `turns`, read whole from its stream.
    pub async fn answer(&self, turns: &[Turn]) -> Result<String, ModelError> {
        self.answer_with(turns, |_| {}).await
    }

    /// The model's answer to `turns`, each piece of text handed to `on_text` as it comes.
    /// A try cut off halfway is made again, and of its text only what goes past what was
    /// handed over already is handed over.
    pub async fn answer_with(
        &self,
        turns: &[Turn],
        mut on_text: impl FnMut(&str) + Send,
    ) -> Result<String, ModelError> {
        let mut last = None;
        let mut handed: usize = 0;
        // `at`: where `piece` begins in this try's answer.
        let mut on_text = |at: usize, piece: &str| {
            let new: String = piece.chars().skip(handed.saturating_sub(at)).collect();
            if !new.is_empty() {
                handed += new.chars().count();
                on_text(&new);
            }
        };
        for attempt in 1..=self.settings.tries.max(1) {
            match self.try_once(turns, attempt, &mut on_text).await {
                Try::Answer(text) => return Ok(text),
                Try::Final(error) => return Err(error),
                Try::Again(wait, error) => {
                    last = Some(error);
                    if attempt < self.settings.tries {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        Err(last.unwrap_or(ModelError::Busy {
            status: 0,
            tries: 0,
        }))
    }

    async fn try_once(
        &self,
        turns: &[Turn],
        attempt: u32,
        on_text: &mut (dyn FnMut(usize, &str) + Send),
    ) -> Try {
        let url = format!(
            "{}/chat/completions",
            self.settings.url.trim_end_matches('/')
        );
        let mut request = self.http.post(&url).json(&json!({
            "model": self.settings.model,
            "messages": turns,
            "stream": true,
        }));
        if let Some(key) = &self.settings.key {
            request = request.bearer_auth(key.expose());
        }
        let tries = self.settings.tries;
        let connect = tokio::time::timeout(self.settings.token_timeout, request.send()).await;
        let response = match connect {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => {
                let error = ModelError::Unreachable {
                    url: self.settings.url.clone(),
                    detail: e.to_string(),
                };
                return Try::Again(backoff(attempt), error);
            }
            Err(_) => return Try::Again(backoff(attempt), self.silent(tries)),
        };
        let status = response.status().as_u16();
        if status == 429 || status >= 500 {
            let wait = retry_after(&response).unwrap_or_else(|| backoff(attempt));
            return Try::Again(wait, ModelError::Busy { status, tries });
        }
        if status != 200 {
            let detail = response.text().await.unwrap_or_default();
            let detail: String = detail.chars().take(200).collect();
            return Try::Final(ModelError::Refused { status, detail });
        }
        self.read_stream(response, attempt, on_text).await
    }

    /// Reads the event stream to `[DONE]`; `on_text` gets the answer so far as it grows.
    async fn read_stream(
        &self,
        mut response: reqwest::Response,
        attempt: u32,
        on_text: &mut (dyn FnMut(usize, &str) + Send),
    ) -> Try {
        let tries = self.settings.tries;
        let (mut answer, mut line) = (String::new(), Vec::new());
        let mut length = 0;
        loop {
            let chunk = tokio::time::timeout(self.settings.token_timeout, response.chunk()).await;
            let bytes = match chunk {
                Ok(Ok(Some(bytes))) => bytes,
                // Ended (or broke) before `[DONE]`: cut off.
                Ok(Ok(None) | Err(_)) => {
                    let error = ModelError::CutOff {
                        received: answer.chars().count(),
                        tries,
                    };
                    return Try::Again(backoff(attempt), error);
                }
                Err(_) => return Try::Again(backoff(attempt), self.silent(tries)),
            };
            for byte in bytes {
                if byte != b'\n' {
                    if line.len() < MAX_LINE {
                        line.push(byte);
                    }
                    continue;
                }
                let text = String::from_utf8_lossy(&line).trim().to_owned();
                line.clear();
                let Some(data) = text.strip_prefix("data:").map(str::trim) else {
                    continue;
                };
                if data == "[DONE]" || answer.len() >= MAX_ANSWER {
                    return Try::Answer(answer);
                }
                if let Ok(event) = serde_json::from_str::<Value>(data) {
                    let piece = event.pointer("/choices/0/delta/content");
                    let piece = piece.and_then(Value::as_str).unwrap_or_default();
                    on_text(length, piece);
                    length += piece.chars().count();
                    answer.push_str(piece);
                }
            }
        }
    }

    fn silent(&self, tries: u32) -> ModelError {
        ModelError::Silent {
            waited_ms: self.settings.token_timeout.as_millis() as u64,
            tries,
        }
    }
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * u64::from(attempt))
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = response
        .headers()
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_WAIT))
}
