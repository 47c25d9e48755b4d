//! The HTTP server of every kaltura-discord process (the API and Activity, the bot's status
//! port, the operator's metrics): axum routes over hyper, with the limits a port facing slow or
//! hostile clients needs. Without them a request whose header never ends, or whose body is
//! shorter than its `Content-Length`, holds a connection (a file descriptor) for good.

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::ServiceExt;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};

/// What a server tolerates of its clients; the defaults suit every port of ours.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// A request's line and headers must arrive within this; a keep-alive connection that
    /// sends nothing for this long is closed too.
    pub header_read_timeout: Duration,
    /// Longest wait for the next piece of a request body (one shorter than its
    /// `Content-Length` waits forever otherwise). The handler sees a body error.
    pub body_read_timeout: Duration,
    /// Longest a request may take from its header to its answer, so a body trickled a byte at
    /// a time cannot hold a connection either: 408 after. A websocket counts only until its
    /// upgrade is answered.
    pub request_timeout: Duration,
    /// Connections open at once, websockets included. One more is answered 503 without being
    /// served and closed within a second, so a flood costs no file descriptor for long.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            max_connections: 512,
        }
    }
}

/// The answer to a connection over the limit, written without reading the request.
const FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\nretry-after: 1\r\ncontent-length: 20\r\nconnection: close\r\n\r\nserver at capacity.\n";

/// Refusals in progress at most (each holds its connection for up to [`REFUSAL_LINGER`]); past
/// it a connection over the limit is closed at once, unanswered.
const REFUSALS: usize = 64;

/// How long a refused connection is kept to read and drop its request after the 503, so that
/// it closes in order: closing with unread data resets it, and the client may lose the answer.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answers a connection over the limit with 503 without serving it.
fn refuse(mut stream: TcpStream, refusals: &Arc<Semaphore>) {
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let linger = async {
            stream.write_all(FULL).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            io::Result::Ok(())
        };
        let _ = tokio::time::timeout(REFUSAL_LINGER, linger).await;
        drop(permit);
    });
}

/// Serves `app` on `listener` until the listener fails. Handlers can extract
/// `ConnectInfo<SocketAddr>`, the peer's address.
pub async fn serve(listener: TcpListener, app: Router, limits: Limits) -> io::Result<()> {
    let app = app
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(limits.body_read_timeout));
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSALS));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut full = false;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                accept_failed(err).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            if !full {
                tracing::warn!(
                    limit = limits.max_connections,
                    "connection limit reached; refusing new connections with 503"
                );
                full = true;
            }
            refuse(stream, &refusals);
            continue;
        };
        full = false;
        // Websocket frames are small and must leave at once: Nagle with the peer's delayed ACK
        // would hold one for up to 40 ms.
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request.map(Body::new)
            });
        let io = TokioIo::new(Counted {
            stream,
            _slot: slot,
        });
        let connection = http
            .serve_connection(io, TowerToHyperService::new(service))
            .with_upgrades();
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(%peer, error = %err, "connection ended");
            }
        });
    }
}

/// Out of file descriptors (or similar): wait a little for connections to close rather than
/// spin on an accept that fails at once.
async fn accept_failed(err: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        err.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        return;
    }
    tracing::warn!(error = %err, "accepting a connection failed");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A connection holding its slot: the slot is given back when the stream is dropped, which
/// for an upgraded connection (a websocket) is when the websocket closes.
struct Counted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
