//! `health`: a container's health check, in an image with no shell or curl.

use super::error::CliError;

/// `health URL`: one GET over plain HTTP, within 5 s; Ok on a 200, the status line
/// (and the body's `why`) otherwise.
pub(crate) async fn health(url: &str) -> Result<(), CliError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        CliError::Health(format!("{url}: the operator endpoint serves plain http://"))
    })?;
    let (authority, path) = match rest.split_once('/') {
        Some((authority, path)) => (authority, format!("/{path}")),
        None => (rest, "/healthz".to_owned()),
    };
    let ask = async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut answer = Vec::new();
        // A health answer is small; more than this is not one.
        stream.take(64 * 1024).read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), ask)
        .await
        .map_err(|_| CliError::Health(format!("{url}: no answer within 5 s")))?
        .map_err(|e| CliError::Health(format!("{url}: no connection: {e}")))?;
    let text = String::from_utf8_lossy(&answer);
    let status_line = text.lines().next().unwrap_or_default();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    let why = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["why"].as_str().map(str::to_owned))
        .unwrap_or_default();
    if status_line.split_whitespace().nth(1) == Some("200") {
        println!("healthy: {why}");
        Ok(())
    } else {
        Err(CliError::Health(format!("unhealthy: {status_line}: {why}")))
    }
}
