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
use tokio_rustls::TlsAcceptor;
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
    stopped: watch::Receiver<bool>,
) {
    serve_with(listener, app, limits, stopped, None).await;
}

/// Like [`serve`]; with `tls`, every connection is HTTPS. The handshake runs in the
/// connection's own task, bounded by the header deadline, so a slow client holds up
/// nobody else.
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: ApiLimits,
    mut stopped: watch::Receiver<bool>,
    tls: Option<TlsAcceptor>,
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
                tracing::warn!(error = %e, "server cannot accept connections; pausing");
                tokio::select! {
                    _ = stopped.wait_for(|s| *s) => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            tracing::debug!(%client, "server at its connection limit; closing");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(client));
            app.clone().oneshot(request)
        });
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let served = match tls {
                None => serve_connection(stream, service, limits, watcher).await,
                Some(acceptor) => {
                    match tokio::time::timeout(limits.header_timeout, acceptor.accept(stream)).await
                    {
                        Ok(Ok(stream)) => serve_connection(stream, service, limits, watcher).await,
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err("TLS handshake took too long".into()),
                    }
                }
            };
            if let Err(e) = served {
                tracing::debug!(%client, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::debug!("connections cut after the drain time");
    }
}

async fn serve_connection<I, S>(
    io: I,
    service: S,
    limits: ApiLimits,
    watcher: hyper_util::server::graceful::Watcher,
) -> Result<(), String>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<hyper::Request<Incoming>, Response = axum::response::Response>
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: std::error::Error + Send + Sync + 'static,
{
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), service);
    watcher.watch(connection).await.map_err(|e| e.to_string())
}
