//! The accept loop and the signals: connections are served until SIGTERM or SIGINT, then the
//! agent stops accepting, lets the requests in flight finish, and finishes the client's token
//! request and its save before it exits. SIGHUP re-reads settings.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::signal::unix::{SignalKind, signal};

use super::access::Peer;
use super::listen::Bound;
use super::{Agent, keeper, routes};
use crate::failure::Failure;

/// How long requests in flight get to finish after SIGTERM (a proxied call may be slow).
const DRAIN: Duration = Duration::from_secs(10);

/// Serves until a stop signal; removes the socket or secret file on the way out.
pub async fn serve(agent: Arc<Agent>, bound: Bound) -> Result<(), Failure> {
    let no_signals =
        |error: std::io::Error| Failure::cannot_serve(format!("cannot watch signals: {error}"));
    let mut terminate = signal(SignalKind::terminate()).map_err(no_signals)?;
    let mut interrupt = signal(SignalKind::interrupt()).map_err(no_signals)?;
    let mut hangup = signal(SignalKind::hangup()).map_err(no_signals)?;
    let keeper = tokio::spawn(keeper::keep_fresh(agent.clone()));
    let graceful = GracefulShutdown::new();
    tracing::info!(listen = %bound.describe(), "the agent is listening");
    loop {
        tokio::select! {
            accepted = accept(&bound) => match accepted {
                Ok(Accepted::Unix(stream, peer)) => connection(&graceful, &agent, stream, peer),
                Ok(Accepted::Tcp(stream)) => connection(&graceful, &agent, stream, Peer::Tcp),
                // A connection that failed before it was accepted concerns nobody else.
                Err(error) => tracing::warn!(%error, "accept failed"),
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
            _ = hangup.recv() => agent.reread(),
        }
    }
    tracing::info!("stopping: finishing requests in flight");
    bound.remove_own_file();
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still in flight after {DRAIN:?} were cut");
    }
    keeper.abort();
    // The token request out and the save of its answer: a refresh cut off here would leave
    // a dead pair in the store.
    let finished = agent.client.shutdown().await;
    match &finished {
        Ok(()) => tracing::info!("stopped"),
        Err(error) => tracing::error!(%error, "stopped with the held set unsaved"),
    }
    finished.map_err(Failure::from)
}

enum Accepted {
    Unix(tokio::net::UnixStream, Peer),
    Tcp(tokio::net::TcpStream),
}

async fn accept(bound: &Bound) -> std::io::Result<Accepted> {
    match bound {
        Bound::Unix { listener, .. } => {
            let (stream, _) = listener.accept().await?;
            // The kernel's word on who connected (SO_PEERCRED), not the caller's.
            let uid = stream.peer_cred().ok().map(|cred| cred.uid());
            Ok(Accepted::Unix(stream, Peer::Unix(uid)))
        }
        Bound::Tcp { listener, .. } => {
            let (stream, _) = listener.accept().await?;
            // Small requests and answers: no waiting to fill a segment.
            let _ = stream.set_nodelay(true);
            Ok(Accepted::Tcp(stream))
        }
    }
}

fn connection<S>(graceful: &GracefulShutdown, agent: &Arc<Agent>, stream: S, peer: Peer)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let agent = agent.clone();
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let agent = agent.clone();
        async move { Ok::<_, Infallible>(routes::answer(&agent, peer, request).await) }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    let watched = graceful.watch(connection);
    tokio::spawn(async move {
        // A caller that hangs up mid-request is its own business.
        let _ = watched.await;
    });
}
