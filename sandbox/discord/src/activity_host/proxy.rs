//! The URL-mapping proxy: requests to the Activity origin go to the app's servers by the
//! longest matching prefix (`/.proxy` in front is optional, as at Discord), websockets
//! included, with an optional latency fault on every message.

use crate::sandbox::Sandbox;
use axum::body::{Body, Bytes};
use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest};

/// One URL mapping as the Developer Portal holds it: `prefix` on the Activity origin, `target`
/// a host (and optional path) without scheme, e.g. `{"prefix": "/", "target": "127.0.0.1:8080"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UrlMapping {
    pub prefix: String,
    pub target: String,
}

/// Delay added each way: `base` plus a uniform `+/- jitter`, never reordering messages.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Latency {
    #[serde(with = "millis")]
    pub base: Duration,
    #[serde(with = "millis")]
    pub jitter: Duration,
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

impl Latency {
    fn sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.base;
        }
        let jitter = self.jitter.as_secs_f64();
        let offset = rand::rng().random_range(-jitter..=jitter);
        Duration::from_secs_f64((self.base.as_secs_f64() + offset).max(0.0))
    }
}

/// Where a path (with its query) goes: `http://target/rest`, or `None` when no mapping matches.
pub fn resolve(mappings: &[UrlMapping], path: &str, query: Option<&str>) -> Option<String> {
    let path = match path.strip_prefix("/.proxy") {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
        _ => path,
    };
    let path = if path.is_empty() { "/" } else { path };
    let (mapping, rest) = mappings
        .iter()
        .filter_map(|m| {
            let prefix = m.prefix.trim_end_matches('/');
            let rest = path.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((m, prefix.len(), rest))
        })
        .max_by_key(|(_, len, _)| *len)
        .map(|(m, _, rest)| (m, rest))?;
    let target = mapping
        .target
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let rest = if rest.is_empty() { "/" } else { rest };
    Some(match query {
        Some(q) => format!("http://{target}{rest}?{q}"),
        None => format!("http://{target}{rest}"),
    })
}

/// The proxy's state: the sandbox (mappings, latency) and one HTTP client.
#[derive(Clone)]
pub struct Proxy {
    sandbox: Sandbox,
    http: reqwest::Client,
}

impl Proxy {
    pub fn new(sandbox: Sandbox) -> Self {
        // reqwest is built without a default TLS provider; targets are plain HTTP anyway.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client without TLS roots builds");
        Self { sandbox, http }
    }

    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }
}

/// Headers that belong to one hop, not to the request or response.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "host",
    "content-length",
];

fn end_to_end(headers: &HeaderMap) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
    headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.as_str()))
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"message": message, "code": 0})),
    )
        .into_response()
}

pub async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let uri = request.uri().clone();
    let Some(upstream) = resolve(&proxy.sandbox.url_mappings(), uri.path(), uri.query()) else {
        return error(StatusCode::NOT_FOUND, "No URL mapping for this path");
    };
    let latency = proxy.sandbox.activity_latency();
    if request.headers().contains_key(header::SEC_WEBSOCKET_KEY) {
        let (mut parts, _) = request.into_parts();
        return match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
            Ok(upgrade) => websocket(proxy, upgrade, &parts.headers, upstream).await,
            Err(rejection) => rejection.into_response(),
        };
    }
    tokio::time::sleep(latency.sample()).await;
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, 64 << 20).await else {
        return error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large");
    };
    let mut outgoing = proxy.http.request(parts.method, &upstream).body(body);
    for (name, value) in end_to_end(&parts.headers) {
        outgoing = outgoing.header(name, value);
    }
    let answer = match outgoing.send().await {
        Ok(answer) => answer,
        Err(err) => {
            tracing::debug!(%err, %upstream, "activity proxy: upstream unreachable");
            return error(
                StatusCode::BAD_GATEWAY,
                "The URL mapping's target is unreachable",
            );
        }
    };
    let status = answer.status();
    let headers = answer.headers().clone();
    let body = answer.bytes().await.unwrap_or_else(|_| Bytes::new());
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    for (name, value) in end_to_end(&headers) {
        response.headers_mut().append(name, value.clone());
    }
    response
}

/// Connects upstream first, so a refused upgrade reaches the browser with the server's status.
async fn websocket(
    proxy: Proxy,
    upgrade: WebSocketUpgrade,
    headers: &HeaderMap,
    upstream: String,
) -> Response {
    let url = upstream.replacen("http://", "ws://", 1);
    let Ok(mut request) = url.as_str().into_client_request() else {
        return error(StatusCode::BAD_GATEWAY, "Bad URL mapping target");
    };
    for name in [
        header::SEC_WEBSOCKET_PROTOCOL,
        header::ORIGIN,
        header::COOKIE,
        header::USER_AGENT,
    ] {
        if let Some(value) = headers.get(&name) {
            request.headers_mut().insert(name, value.clone());
        }
    }
    let (server, answer) = match tokio_tungstenite::connect_async(request).await {
        Ok(connected) => connected,
        Err(tungstenite::Error::Http(refused)) => {
            let status = refused.status();
            let body = refused.into_body().unwrap_or_default();
            return (status, body).into_response();
        }
        Err(err) => {
            tracing::debug!(%err, %url, "activity proxy: websocket upstream unreachable");
            return error(
                StatusCode::BAD_GATEWAY,
                "The URL mapping's target is unreachable",
            );
        }
    };
    let protocol = answer
        .headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let upgrade = match protocol {
        Some(protocol) => upgrade.protocols([protocol]),
        None => upgrade,
    };
    upgrade.on_upgrade(move |browser| relay(proxy.sandbox, browser, server))
}

/// A frame either side can carry; pings stay on their own hop.
enum Frame {
    Text(String),
    Binary(Bytes),
    Close(Option<(u16, String)>),
}

type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn relay(sandbox: Sandbox, browser: WebSocket, server: Upstream) {
    let (mut to_browser, mut from_browser) = browser.split();
    let (mut to_server, mut from_server) = server.split();
    let (up_tx, mut up_rx) = mpsc::unbounded_channel::<(Instant, Frame)>();
    let (down_tx, mut down_rx) = mpsc::unbounded_channel::<(Instant, Frame)>();
    let up_sandbox = sandbox.clone();
    let read_browser = async move {
        let mut last = Instant::now();
        while let Some(Ok(message)) = from_browser.next().await {
            let frame = match message {
                ws::Message::Text(text) => Frame::Text(text.as_str().to_owned()),
                ws::Message::Binary(bytes) => Frame::Binary(bytes),
                ws::Message::Close(close) => {
                    Frame::Close(close.map(|c| (c.code, c.reason.as_str().to_owned())))
                }
                ws::Message::Ping(_) | ws::Message::Pong(_) => continue,
            };
            last = last.max(Instant::now() + up_sandbox.activity_latency().sample());
            let closing = matches!(frame, Frame::Close(_));
            if up_tx.send((last, frame)).is_err() || closing {
                break;
            }
        }
    };
    let read_server = async move {
        let mut last = Instant::now();
        while let Some(Ok(message)) = from_server.next().await {
            let frame = match message {
                tungstenite::Message::Text(text) => Frame::Text(text.as_str().to_owned()),
                tungstenite::Message::Binary(bytes) => Frame::Binary(bytes),
                tungstenite::Message::Close(close) => {
                    Frame::Close(close.map(|c| (u16::from(c.code), c.reason.as_str().to_owned())))
                }
                _ => continue,
            };
            last = last.max(Instant::now() + sandbox.activity_latency().sample());
            let closing = matches!(frame, Frame::Close(_));
            if down_tx.send((last, frame)).is_err() || closing {
                break;
            }
        }
    };
    let write_server = async move {
        while let Some((at, frame)) = up_rx.recv().await {
            tokio::time::sleep_until(at).await;
            let message = match frame {
                Frame::Text(text) => tungstenite::Message::text(text),
                Frame::Binary(bytes) => tungstenite::Message::Binary(bytes),
                Frame::Close(close) => tungstenite::Message::Close(close.map(|(code, reason)| {
                    tungstenite::protocol::CloseFrame {
                        code: code.into(),
                        reason: reason.into(),
                    }
                })),
            };
            if to_server.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_server.close().await;
    };
    let write_browser = async move {
        while let Some((at, frame)) = down_rx.recv().await {
            tokio::time::sleep_until(at).await;
            let message = match frame {
                Frame::Text(text) => ws::Message::Text(text.into()),
                Frame::Binary(bytes) => ws::Message::Binary(bytes),
                Frame::Close(close) => {
                    ws::Message::Close(close.map(|(code, reason)| ws::CloseFrame {
                        code,
                        reason: reason.into(),
                    }))
                }
            };
            if to_browser.send(message).await.is_err() {
                break;
            }
        }
        let _ = to_browser.close().await;
    };
    tokio::join!(read_browser, read_server, write_server, write_browser);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mappings() -> Vec<UrlMapping> {
        vec![
            UrlMapping {
                prefix: "/".into(),
                target: "app.local:8080".into(),
            },
            UrlMapping {
                prefix: "/kaltura".into(),
                target: "127.0.0.1:9000/base/".into(),
            },
        ]
    }

    #[test]
    fn the_longest_prefix_wins_and_dot_proxy_is_optional() {
        let m = mappings();
        assert_eq!(
            resolve(&m, "/assets/app.js", None).unwrap(),
            "http://app.local:8080/assets/app.js"
        );
        assert_eq!(
            resolve(&m, "/.proxy/api/token", Some("a=1")).unwrap(),
            "http://app.local:8080/api/token?a=1"
        );
        assert_eq!(
            resolve(&m, "/kaltura/api_v3/service", None).unwrap(),
            "http://127.0.0.1:9000/base/api_v3/service"
        );
        assert_eq!(
            resolve(&m, "/.proxy/kaltura", None).unwrap(),
            "http://127.0.0.1:9000/base/"
        );
        assert_eq!(
            resolve(&m, "/kalturax/y", None).unwrap(),
            "http://app.local:8080/kalturax/y",
            "a prefix matches whole segments only"
        );
        assert_eq!(resolve(&m[1..], "/other", None), None);
    }

    #[test]
    fn latency_stays_within_its_jitter() {
        let latency = Latency {
            base: Duration::from_millis(100),
            jitter: Duration::from_millis(30),
        };
        for _ in 0..1000 {
            let d = latency.sample();
            assert!(d >= Duration::from_millis(70) && d <= Duration::from_millis(130));
        }
        assert_eq!(Latency::default().sample(), Duration::ZERO);
    }
}
