//! WebSockets through the gateway: an HTTP/1.1 upgrade is passed to the app
//! with its `Upgrade` headers, and once both sides have switched protocols
//! the two connections are spliced until either side closes. The gateway
//! does not read the frames; it only counts bytes, so traffic keeps the app
//! alive and a tunnel silent for too long is closed.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::http::{HeaderMap, HeaderValue, header};
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    sync::OwnedSemaphorePermit,
};

/// A tunnel with no byte either way for this long is closed (WebSocket
/// clients and servers ping far more often than this).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(300);
/// How often traffic on a tunnel is reported as activity of its app.
const ACTIVITY_EVERY: Duration = Duration::from_secs(30);

/// True for a request asking to switch to the WebSocket protocol.
pub fn is_websocket(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// Puts back the two headers of an upgrade, which the gateway otherwise
/// drops as belonging to one connection.
pub fn keep_upgrade(headers: &mut HeaderMap) {
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
}

/// Splices the client's and the app's upgraded connections until one side
/// closes or the tunnel idles out; `on_traffic` runs at most every
/// `ACTIVITY_EVERY` while bytes flow.
pub async fn splice(
    client: OnUpgrade,
    app: OnUpgrade,
    idle_timeout: Duration,
    on_traffic: impl Fn() + Send + 'static,
    _permit: OwnedSemaphorePermit,
) {
    let (Ok(client), Ok(app)) = tokio::join!(client, app) else {
        return;
    };
    let bytes = Arc::new(AtomicU64::new(0));
    let mut client = Counted {
        io: TokioIo::new(client),
        bytes: bytes.clone(),
    };
    let mut app = Counted {
        io: TokioIo::new(app),
        bytes: bytes.clone(),
    };
    let copy = tokio::io::copy_bidirectional(&mut client, &mut app);
    tokio::pin!(copy);
    let mut tick = tokio::time::interval(ACTIVITY_EVERY.min(idle_timeout));
    tick.tick().await;
    let (mut seen, mut quiet) = (0, Duration::ZERO);
    loop {
        tokio::select! {
            _ = &mut copy => return,
            _ = tick.tick() => {
                let now = bytes.load(Ordering::Relaxed);
                if now != seen {
                    seen = now;
                    quiet = Duration::ZERO;
                    on_traffic();
                } else {
                    quiet += tick.period();
                    if quiet >= idle_timeout {
                        return;
                    }
                }
            }
        }
    }
}

/// An upgraded connection that counts the bytes read from it.
struct Counted<T> {
    io: T,
    bytes: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.io).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.bytes.fetch_add(read as u64, Ordering::Relaxed);
        poll
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn only_websocket_upgrades_are_tunnelled() {
        assert!(is_websocket(&headers(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ])));
        assert!(!is_websocket(&headers(&[("upgrade", "websocket")])));
        assert!(!is_websocket(&headers(&[
            ("connection", "upgrade"),
            ("upgrade", "h2c"),
        ])));
    }
}
