//! A stub HTTP/1.1 server for the operator's unit tests, standing in for the API server or a
//! bot: each request is answered by a function of its head (request line and headers), one
//! request per connection.

use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
    F: Fn(String) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = Answer> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 4096];
                // The head, then as much body as it announces (answering before it is read
                // would reset the connection).
                let (head, length) = loop {
                    let n = stream.read(&mut buffer).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..n]);
                    let text = String::from_utf8_lossy(&request).to_string();
                    if let Some((head, _)) = text.split_once("\r\n\r\n") {
                        let length = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length: ")
                                    .map(String::from)
                            })
                            .map_or(0, |l| l.trim().parse().unwrap());
                        break (head.to_string(), length);
                    }
                };
                while request.len() < head.len() + 4 + length {
                    let n = stream.read(&mut buffer).await.unwrap();
                    request.extend_from_slice(&buffer[..n]);
                }
                let Answer {
                    status,
                    headers,
                    body,
                } = answer(head).await;
                let mut text = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    text += &format!("{name}: {value}\r\n");
                }
                text += "\r\n";
                text += &body;
                let _ = stream.write_all(text.as_bytes()).await;
            });
        }
    });
    url
}
