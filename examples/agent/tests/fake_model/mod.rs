//! A small chat-completions server for the agent's tests: it streams a fixed answer as
//! server-sent events, a few characters per event, and plays the faults it is told to, one
//! request each: 429 with a Retry-After, 500, a stream cut off after some tokens, slow tokens.
//! Written on a bare socket, so that every byte and every pause is the test's.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the next request suffers.
#[derive(Debug, Clone)]
pub enum Fault {
    Busy { retry_after_secs: u64 },
    Broken,
    CutAfter { tokens: usize },
    Slow { per_token: Duration },
}

#[derive(Default)]
struct Shared {
    faults: VecDeque<Fault>,
    /// Each request's `messages`, in order.
    requests: Vec<Value>,
    /// Tokens of a conversation asked for the first time come this slowly.
    slow_first_asks: Option<Duration>,
}

pub struct FakeModel {
    pub url: String,
    pub answer: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeModel {
    /// Serves `answer` on a loopback port of its own.
    pub async fn start(answer: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let (serving, text) = (Arc::clone(&shared), answer.to_owned());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&serving), text.clone()));
            }
        });
        Self {
            url,
            answer: answer.to_owned(),
            shared,
        }
    }

    /// Answers a conversation asked for the first time slowly (`per_token`), and one asked
    /// again (a replay) at once.
    pub fn slow_first_asks(&self, per_token: Duration) {
        self.shared.lock().unwrap().slow_first_asks = Some(per_token);
    }

    pub fn fail_next(&self, fault: Fault) {
        self.shared.lock().unwrap().faults.push_back(fault);
    }

    /// The `messages` of every request so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.lock().unwrap().requests.clone()
    }

    /// The answer's tokens, as they are sent.
    pub fn tokens(answer: &str) -> Vec<String> {
        let chars: Vec<char> = answer.chars().collect();
        chars.chunks(4).map(|c| c.iter().collect()).collect()
    }
}

async fn serve(mut stream: TcpStream, shared: Arc<Mutex<Shared>>, answer: String) {
    let Some(body) = read_request(&mut stream).await else {
        return;
    };
    let (fault, slow_first) = {
        let mut shared = shared.lock().unwrap();
        let first = !shared.requests.contains(&body["messages"]);
        shared.requests.push(body["messages"].clone());
        let slow_first = shared.slow_first_asks.filter(|_| first);
        (shared.faults.pop_front(), slow_first)
    };
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n{extra}\r\n")
    };
    match fault {
        Some(Fault::Busy { retry_after_secs }) => {
            let retry = format!("retry-after: {retry_after_secs}\r\n");
            let _ = stream
                .write_all(head("429 Too Many Requests", &retry).as_bytes())
                .await;
            return;
        }
        Some(Fault::Broken) => {
            let _ = stream
                .write_all(head("500 Internal Server Error", "").as_bytes())
                .await;
            return;
        }
        _ => {}
    }
    let start = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
    if stream.write_all(start.as_bytes()).await.is_err() {
        return;
    }
    for (n, token) in FakeModel::tokens(&answer).into_iter().enumerate() {
        match &fault {
            Some(Fault::CutAfter { tokens }) if n == *tokens => return,
            Some(Fault::Slow { per_token }) => tokio::time::sleep(*per_token).await,
            _ => {
                if let Some(per_token) = slow_first {
                    tokio::time::sleep(per_token).await;
                }
            }
        }
        let event = json!({"choices": [{"index": 0, "delta": {"content": token}}]});
        if stream
            .write_all(format!("data: {event}\n\n").as_bytes())
            .await
            .is_err()
        {
            return;
        }
    }
    let _ = stream.write_all(b"data: [DONE]\n\n").await;
}

/// The request's JSON body.
async fn read_request(stream: &mut TcpStream) -> Option<Value> {
    let mut received = Vec::new();
    let mut buf = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        received.extend_from_slice(&buf[..n]);
        if let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..header_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())?;
    while received.len() < header_end + length {
        let n = stream.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        received.extend_from_slice(&buf[..n]);
    }
    serde_json::from_slice(&received[header_end..header_end + length]).ok()
}
