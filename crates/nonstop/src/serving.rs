//! The one way the runtime serves HTTP (the operator endpoint, the Events API receiver): a
//! bounded number of connections (more wait to be let in), each with a deadline for its
//! headers and one for its whole life, so a flood of connections or half-sent requests never
//! starves the bot of file descriptors (issue 25: 1,100 held connections made `/healthz` unreachable and a slot
//! unable to reconnect).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;

/// How long a client has to send a request's headers, and how long a kept-alive connection
/// may sit between requests.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Limits of one server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Connections served at once; any more are closed as they come.
    pub(crate) connections: usize,
    /// How long one connection may last, all its requests included.
    pub(crate) lifetime: Duration,
    /// Names the server in its log lines.
    pub(crate) name: &'static str,
}

/// Serves `app` on `listener` until `shutdown` completes, within `limits`. Past the limit of
/// connections, new ones wait in the kernel's queue (no file of the bot's) until one ends:
/// a burst of Slack's requests is served a little later instead of failing, and a flood of
/// idle connections holds the rest back only until their headers' time is up.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let permits = Arc::new(tokio::sync::Semaphore::new(limits.connections));
    let mut connections = tokio::task::JoinSet::new();
    let mut warnings = crate::log_limit::LogLimit::new(1, Duration::from_secs(60));
    let name = limits.name;
    tokio::pin!(shutdown);
    loop {
        if permits.available_permits() == 0 {
            if let Some(folded) = warnings.admit(tokio::time::Instant::now()) {
                tracing::warn!(
                    limit = limits.connections,
                    folded,
                    "{name}: as many connections as allowed at once; new ones wait until some end"
                );
            }
        }
        tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = accept_within(&listener, &permits) => {
                let (stream, permit) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors, most likely: let some close first.
                        if let Some(folded) = warnings.admit(tokio::time::Instant::now()) {
                            tracing::warn!(error = %e, folded, "{name}: a connection could not be accepted");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Small answers go out at once, not after the client's delayed ACK.
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let lifetime = limits.lifetime;
                // Nearly full: this connection serves one request and makes room, rather than
                // sit kept alive while others wait to be let in.
                let crowded = permits.available_permits() < limits.connections / 4;
                connections.spawn(async move {
                    let _permit = permit;
                    let mut http = hyper::server::conn::http1::Builder::new();
                    http.timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(HEADER_TIMEOUT)
                        .keep_alive(!crowded);
                    let connection =
                        http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                    tokio::pin!(connection);
                    // An error is the client's doing (it hung up, sent garbage, was too slow).
                    if tokio::time::timeout(lifetime, connection.as_mut()).await.is_err() {
                        // Its time is up: the request under way is answered, then it closes.
                        connection.as_mut().graceful_shutdown();
                        let _ = tokio::time::timeout(HEADER_TIMEOUT, connection).await;
                    }
                });
            }
        }
    }
    connections.abort_all();
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// The next connection, once there is room for it (cancel-safe: a turn taken and dropped
/// returns, and `accept` loses nothing).
async fn accept_within(
    listener: &TcpListener,
    permits: &Arc<tokio::sync::Semaphore>,
) -> std::io::Result<(tokio::net::TcpStream, tokio::sync::OwnedSemaphorePermit)> {
    // The semaphore is never closed.
    let permit = Arc::clone(permits)
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, permit))
}
