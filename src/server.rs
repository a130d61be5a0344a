//! The HTTP server loop: accepts connections and serves the router on
//! each, within limits an idle or hostile client cannot outlast.
//!
//! - A client has [`Limits::header_timeout`] to send a request's headers,
//!   counted from when the server starts waiting for them: a new
//!   connection, a half-sent request and a keep-alive connection between
//!   requests are all closed when it runs out (hyper's header read
//!   timeout, which `axum::serve` leaves off).
//! - A request's own time is the router's (`HTTP_REQUEST_TIMEOUT_SECONDS`,
//!   408 after: `crate::http`).
//! - At most [`Limits::max_connections`] connections are open at once,
//!   WebSockets included (the slot goes with the upgraded socket), and at
//!   most [`Limits::max_connections_per_address`] from one client network
//!   (an IPv4 address, an IPv6 /64), so one client cannot take every slot;
//!   one over either limit is closed at once, so the process keeps file
//!   descriptors for the connections it serves.
//!
//! On shutdown it stops accepting, lets requests in flight finish, and
//! closes idle connections.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tower_service::Service;

use crate::peer::{Counted, Counts, PeerAddr};

/// What a client may hold of the server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_timeout: Duration,
    pub max_connections: usize,
    /// Connections open at once from one client network (0: no bound).
    pub max_connections_per_address: usize,
}

impl From<&crate::config::HttpConfig> for Limits {
    fn from(http: &crate::config::HttpConfig) -> Self {
        Self {
            header_timeout: Duration::from_secs(http.header_timeout_seconds),
            max_connections: http.max_connections,
            max_connections_per_address: http.max_connections_per_address,
        }
    }
}

/// A connection's place among the open ones (and among its network's),
/// held by each of its requests and by an upgraded socket for as long as
/// it lives.
#[derive(Clone)]
pub struct ConnectionSlot(#[allow(dead_code)] Arc<(OwnedSemaphorePermit, Counted<IpAddr>)>);

/// Serves `router` on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Counts::<IpAddr>::default();
    // Dropped when the server stops: connections start a graceful close.
    let (stopping, stopped) = watch::channel(());
    // Every connection task holds one; the server waits for them all.
    let (done_tx, done_rx) = watch::channel(());
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most likely: wait rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { drop(shutdown.wait_for(|stop| *stop).await) } => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::debug!("connection limit reached: closing a new connection");
            continue;
        };
        let peer = PeerAddr(peer);
        let Some(counted) = per_address.take(peer.network(), limits.max_connections_per_address)
        else {
            tracing::debug!(network = %peer.network(), "connection limit of a network reached: closing a new connection");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let slot = ConnectionSlot(Arc::new((permit, counted)));
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(slot.clone());
            request.extensions_mut().insert(peer);
            router.clone().call(request)
        });
        let (mut stopped, done) = (stopped.clone(), done_rx.clone());
        tokio::spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_timeout)
                .keep_alive(true);
            let connection = builder
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::trace!(error = %e, "connection ended");
                    }
                }
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(done);
        });
    }
    drop(listener);
    drop(stopping);
    drop(done_rx);
    // Every connection task has ended once no receiver is left.
    done_tx.closed().await;
    Ok(())
}
