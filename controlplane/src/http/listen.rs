//! The accept loop of the one port, with the bounds an anonymous client
//! meets before any handler runs: a cap on connections (in all and per
//! client address), a deadline for a request's headers (also between two
//! requests on a kept-alive connection, so idle connections end), HTTP/2
//! pings that end dead peers, and a bounded wait for connections at
//! shutdown. axum's own `serve` has none of these knobs.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
    service::TowerToHyperService,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

/// Bounds on connections; see `Config` for the defaults.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Time to send a request's headers, and to start the next one.
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub max_per_client: usize,
    /// Proxies (`--trusted-proxy`) carry many clients' connections, so only
    /// the total cap applies to them: behind Traefik every connection comes
    /// from Traefik, and one visitor must not use up its share.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// How long shutdown waits for open connections (log followers, watches).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);
const H2_PING_EVERY: Duration = Duration::from_secs(20);
const H2_MAX_STREAMS: u32 = 256;
/// The HTTP/2 connection preface; anything else is HTTP/1.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves `app` on `listener` until `shutdown` fires.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ConnLimits,
    shutdown: CancellationToken,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(H2_PING_EVERY)
        .keep_alive_timeout(H2_PING_EVERY)
        .max_concurrent_streams(H2_MAX_STREAMS);
    let header_timeout = limits.header_timeout;
    let open = Arc::new(OpenConnections::new(limits));
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of fds or a connection reset before accept: back off, go on.
                    // A fixed 20 ms, not backon: each accept is independent, nothing to grow.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let Some(slot) = open.admit(peer.ip()) else {
            tracing::debug!(%peer, "connection refused: too many open");
            continue;
        };
        // Without TCP_NODELAY a proxied response on a kept-alive connection
        // waits for the client's delayed ACK (~40 ms): see BENCHMARKS.md.
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::http::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let builder = builder.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _slot = slot;
            if !first_bytes(&stream, header_timeout).await {
                return;
            }
            let conn = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let _ = watcher.watch(conn.into_owned()).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

/// Waits, within `timeout`, until the client has sent enough to tell
/// HTTP/1 from HTTP/2 (hyper's own sniffing has no deadline). False when
/// the client went away or stayed silent.
async fn first_bytes(stream: &TcpStream, timeout: Duration) -> bool {
    let sniff = async {
        let mut buf = [0u8; H2_PREFACE.len()];
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n == buf.len() || buf[..n] != H2_PREFACE[..n] => return true,
                // A partial preface: more is on its way, or never comes.
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    };
    tokio::time::timeout(timeout, sniff).await.unwrap_or(false)
}

/// Counts open connections, in all and per client address.
struct OpenConnections {
    limits: ConnLimits,
    by_client: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees the slot.
struct Slot {
    open: Arc<OpenConnections>,
    client: IpAddr,
}

impl OpenConnections {
    fn new(limits: ConnLimits) -> Self {
        Self {
            limits,
            by_client: Mutex::default(),
        }
    }

    fn admit(self: &Arc<Self>, client: IpAddr) -> Option<Slot> {
        let mut by_client = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = by_client.values().sum();
        let proxy = self
            .limits
            .trusted_proxies
            .iter()
            .any(|p| p.contains(&client));
        let mine = by_client.entry(client).or_default();
        if total >= self.limits.max_connections || (*mine >= self.limits.max_per_client && !proxy) {
            return None;
        }
        *mine += 1;
        Some(Slot {
            open: self.clone(),
            client,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut by_client = self
            .open
            .by_client
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

/// Raises this process's open-file limit to its hard limit: every
/// connection and every app's pipes and sockets take descriptors.
pub fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_connections: usize, max_per_client: usize) -> ConnLimits {
        ConnLimits {
            header_timeout: Duration::from_secs(1),
            max_connections,
            max_per_client,
            trusted_proxies: vec!["10.42.0.0/16".parse().unwrap()],
        }
    }

    #[test]
    fn a_trusted_proxy_meets_only_the_total_cap() {
        let open = Arc::new(OpenConnections::new(limits(4, 1)));
        let traefik: IpAddr = "10.42.0.7".parse().unwrap();
        let stranger: IpAddr = "10.43.0.7".parse().unwrap();
        let _s = open.admit(stranger).unwrap();
        assert!(open.admit(stranger).is_none(), "per-client cap");
        let proxied: Vec<_> = (0..3).map(|_| open.admit(traefik)).collect();
        assert!(
            proxied.iter().all(Option::is_some),
            "many clients behind it"
        );
        assert!(open.admit(traefik).is_none(), "total cap");
    }

    #[test]
    fn one_client_cannot_take_every_connection() {
        let open = Arc::new(OpenConnections::new(limits(3, 2)));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = open.admit(a).unwrap();
        let _a2 = open.admit(a).unwrap();
        assert!(open.admit(a).is_none(), "per-client cap");
        let _b1 = open.admit(b).unwrap();
        assert!(open.admit(b).is_none(), "total cap");
        drop(a1);
        assert!(open.admit(b).is_some(), "a freed slot is reusable");
    }

    #[test]
    fn freed_slots_leave_no_entries_behind() {
        let open = Arc::new(OpenConnections::new(limits(10, 10)));
        for i in 0..100u8 {
            drop(open.admit(IpAddr::from([10, 0, 0, i])).unwrap());
        }
        assert!(open.by_client.lock().unwrap().is_empty());
    }
}
