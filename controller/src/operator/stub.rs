//! A stub HTTP server for the operator's unit tests, standing in for the API server or a bot:
//! each request is answered by a function of its head (request line and headers).

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use std::future::Future;

/// What the stub answers; a function that never resolves never answers.
pub struct Answer {
    pub status: &'static str,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Answer {
    pub fn json(status: &'static str, body: impl Into<String>) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// Serves `answer` on a free port; the base URL (`http://127.0.0.1:port`).
pub async fn serve<F, Fut>(answer: F) -> String
where
    F: Fn(String) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Answer> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |request: Request| {
        let answer = answer.clone();
        async move {
            // The head as it came on the wire: "METHOD path HTTP/1.1", then "name: value" lines.
            let mut head = format!("{} {} HTTP/1.1", request.method(), request.uri());
            for (name, value) in request.headers() {
                head += &format!("\r\n{name}: {}", value.to_str().unwrap_or_default());
            }
            let Answer {
                status,
                headers,
                body,
            } = answer(head).await;
            let code: u16 = status[..3].parse().expect("a status line like \"200 OK\"");
            let mut response = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response.body(Body::from(body)).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}
