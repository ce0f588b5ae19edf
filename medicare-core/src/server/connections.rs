//! Accepting connections, with bounds on what one client can hold open.
//!
//! [`serve_with`] is the accept loop behind [`serve`](super::serve): HTTP/1.1 by hyper,
//! each request handed to the router with the client's address (for the per-IP link
//! budget), and three bounds that a request handler cannot give:
//!
//! - **Header time**: a connection must deliver a complete request head within
//!   [`ConnectionLimits::header_timeout`] of starting to wait for one, or it is closed.
//!   Trickling a header line every few seconds no longer holds a connection open.
//! - **Idle keep-alive**: after a response, the wait for the next request head is under
//!   the same bound, so an idle keep-alive connection is closed after it.
//! - **Connections per client IP**: at most [`ConnectionLimits::per_ip`] open at once;
//!   a client's next connection is closed as soon as it is accepted, before anything is
//!   read. Behind a reverse proxy every client has the proxy's address: raise the limit
//!   there, and let the proxy bound each client.
//!
//! Shutdown is graceful: the listener closes, idle connections close, and requests in
//! progress finish.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tower::ServiceExt;

/// What one client may hold open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// How long a connection may take to send a complete request head, counted from
    /// when the server starts waiting for it (the connection opened, or the previous
    /// response was sent on a keep-alive connection).
    pub header_timeout: Duration,
    /// Connections one client IP may have open at once.
    pub per_ip: usize,
}

impl Default for ConnectionLimits {
    /// 10 seconds for a request head; 64 connections per IP (a browser opens at most 6
    /// per host, a busy integrator a few dozen).
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            per_ip: 64,
        }
    }
}

/// Open connections per client IP.
#[derive(Debug, Default)]
struct OpenConnections(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of `ip`, counted until it is dropped.
struct Slot {
    open: Arc<OpenConnections>,
    ip: IpAddr,
}

impl OpenConnections {
    /// A slot for `ip`, or `None` when it already holds `limit` connections.
    fn take(self: &Arc<Self>, ip: IpAddr, limit: usize) -> Option<Slot> {
        let mut open = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(ip).or_insert(0);
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            open: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.open.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes, then
/// finishes the requests in progress.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let open = Arc::new(OpenConnections::default());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, a connection reset before it was accepted:
                // nothing to do but wait a little and go on.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let ip = addr.ip().to_canonical();
        let Some(slot) = open.take(ip, limits.per_ip) else {
            tracing::debug!(
                limit = limits.per_ip,
                "connection refused: too many open from one client"
            );
            drop(stream);
            continue;
        };
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(addr));
            router.clone().oneshot(req)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _slot = slot;
            if let Err(e) = connection.await {
                // Timed-out heads and clients that hang up end here.
                tracing::debug!(error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use std::net::SocketAddr;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

    /// A server answering `ok` within `limits`; its address.
    async fn start(limits: ConnectionLimits) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = Router::new().route(
            "/",
            get(|ConnectInfo(client): ConnectInfo<SocketAddr>| async move {
                format!("ok from {}", client.ip())
            }),
        );
        tokio::spawn(serve_with(listener, router, limits, std::future::pending()));
        addr
    }

    /// Reads until the server closes the connection (or `wait` passes: `None`).
    async fn read_to_close(stream: &mut TcpStream, wait: Duration) -> Option<String> {
        let mut seen = Vec::new();
        let read = tokio::time::timeout(wait, async {
            let mut buf = [0u8; 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => seen.extend_from_slice(&buf[..n]),
                }
            }
        })
        .await;
        read.ok()
            .map(|()| String::from_utf8_lossy(&seen).into_owned())
    }

    /// Sends one request on `stream` and reads its whole response.
    async fn round_trip(stream: &mut TcpStream) -> String {
        stream.write_all(REQUEST).await.unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("ok from") {
            let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
                .await
                .expect("a response")
                .unwrap();
            assert!(n > 0, "closed before answering");
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    }

    #[tokio::test]
    async fn trickled_headers_are_cut_off() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(500),
            per_ip: 8,
        };
        let addr = start(limits).await;
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let started = Instant::now();
        // One header line every 200 ms: 4 s in all, and never a complete head.
        let trickle = tokio::spawn(async move {
            writer.write_all(b"GET / HTTP/1.1\r\n").await?;
            for i in 0..20 {
                tokio::time::sleep(Duration::from_millis(200)).await;
                writer
                    .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                    .await?;
            }
            std::io::Result::Ok(())
        });
        let mut seen = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(3), reader.read_to_end(&mut seen))
            .await
            .is_ok();
        assert!(closed, "the connection is closed before the trickle ends");
        assert!(started.elapsed() < Duration::from_secs(3));
        assert!(!String::from_utf8_lossy(&seen).contains("ok from"));
        trickle.abort();
    }

    #[tokio::test]
    async fn idle_keep_alive_connections_are_closed() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_millis(500),
            per_ip: 8,
        };
        let addr = start(limits).await;
        let mut stream = TcpStream::connect(addr).await.unwrap();
        // Two requests on one connection: keep-alive works while the client is active.
        round_trip(&mut stream).await;
        let second = round_trip(&mut stream).await;
        assert!(second.starts_with("HTTP/1.1 200"), "{second}");
        // Then silence: the server closes the connection.
        let rest = read_to_close(&mut stream, Duration::from_secs(3)).await;
        assert_eq!(rest.as_deref(), Some(""), "closed, without a response");
    }

    #[tokio::test]
    async fn one_client_ip_holds_at_most_per_ip_connections() {
        let limits = ConnectionLimits {
            header_timeout: Duration::from_secs(30),
            per_ip: 3,
        };
        let addr = start(limits).await;
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            let response = round_trip(&mut stream).await;
            assert!(response.contains("ok from 127.0.0.1"), "{response}");
            held.push(stream);
        }
        // The fourth is closed unanswered, before anything is read.
        let mut refused = TcpStream::connect(addr).await.unwrap();
        let _ = refused.write_all(REQUEST).await;
        let answer = read_to_close(&mut refused, Duration::from_secs(5)).await;
        assert_eq!(answer.as_deref(), Some(""), "refused without a response");
        // The three held still work; when one closes, a new connection is served.
        round_trip(&mut held[0]).await;
        drop(held.pop());
        let mut next = None;
        for _ in 0..50 {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            if stream.write_all(REQUEST).await.is_ok() {
                let mut buf = [0u8; 256];
                if let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await
                {
                    if n > 0 {
                        next = Some(String::from_utf8_lossy(&buf[..n]).into_owned());
                        break;
                    }
                }
            }
            // The server may not have seen the close yet.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let next = next.expect("a freed slot is served");
        assert!(next.starts_with("HTTP/1.1 200"), "{next}");
    }

    #[tokio::test]
    async fn shutdown_finishes_and_stops_accepting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = Router::new().route("/", get(|| async { "ok from test" }));
        let server = tokio::spawn(serve_with(
            listener,
            router,
            ConnectionLimits::default(),
            async {
                let _ = stopped.await;
            },
        ));
        let mut stream = TcpStream::connect(addr).await.unwrap();
        round_trip(&mut stream).await;
        stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops, closing its idle connection")
            .unwrap()
            .unwrap();
        assert!(
            TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    }
}
