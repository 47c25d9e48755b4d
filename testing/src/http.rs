//! Plain HTTP/1.1 against a child process's port, with no client library between the test
//! and the bytes the server sends.

use std::io::{Read, Write};
use std::net::TcpStream;

/// The whole response (status line, headers, body) to `GET path`; None while nothing listens.
pub fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// The body of a whole HTTP response.
pub fn body(response: &str) -> Option<&str> {
    response.split_once("\r\n\r\n").map(|(_, body)| body)
}

/// One sample of a Prometheus text exposition, by its full name with labels.
pub fn metric(text: &str, sample: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(sample)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_found_by_its_whole_name() {
        let text = "# TYPE x counter\nx_total{a=\"1\"} 2\nx_total{a=\"10\"} 5\n";
        assert_eq!(metric(text, r#"x_total{a="1"}"#), Some(2.0));
        assert_eq!(metric(text, r#"x_total{a="10"}"#), Some(5.0));
        assert_eq!(metric(text, "x_total"), None, "a prefix is not a sample");
        assert_eq!(body("HTTP/1.1 200 OK\r\nA: b\r\n\r\nok"), Some("ok"));
    }
}
