//! The local API's HTTP server: axum's router behind bounds a hostile client cannot
//! push past — a cap on open connections, a deadline for a request's headers (slow
//! clients and idle connections are closed), back-off when accepting fails (out of
//! file descriptors), and a graceful stop.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt as _;

/// The API server's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiLimits {
    /// Connections open at once; more are closed as soon as they are accepted.
    pub connections: usize,
    /// How long a client may take to send a request's headers, and how long an idle
    /// kept-alive connection stays open.
    pub header_timeout: Duration,
    /// Display feeds (server-sent events) open at once; more get `503`.
    pub display_feeds: usize,
}

impl Default for ApiLimits {
    fn default() -> Self {
        ApiLimits {
            connections: 256,
            header_timeout: Duration::from_secs(10),
            display_feeds: 32,
        }
    }
}

/// How long accepting pauses after it failed (e.g. no file descriptors left).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(200);
/// How long open connections get to finish when the node stops.
const DRAIN: Duration = Duration::from_secs(5);

/// Serves `app` on `listener` until `stopped` turns true.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ApiLimits,
    mut stopped: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            _ = stopped.wait_for(|s| *s) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, client) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                tracing::warn!(error = %e, "local API cannot accept connections; pausing");
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%client, "local API at its connection limit; closing");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(client));
            app.clone().oneshot(request)
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(%client, error = %e, "local API connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("local API connections cut after the drain time");
    }
}
