//! How every process that runs the bot logs. Interaction and webhook paths carry tokens
//! (`interactions/{id}/{token}/callback`, `webhooks/{app}/{token}/...`), and twilight-http puts
//! them in its spans and events, which a span directive such as `[request]=debug` shows
//! whatever the target filter says. So the output itself is redacted ([`Redacted`]): no
//! directive can make a token reach the log. The twilight-http targets also stay at warn, as
//! their debug events are noise.

use std::borrow::Cow;
use std::io::{self, Write};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

const CAPPED: &[&str] = &["twilight_http", "twilight_http_ratelimiting"];

/// What a token is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Path segments followed by `/{id}/{token}`.
const TOKEN_PATHS: &[&[u8]] = &[b"interactions/", b"webhooks/"];

/// An `EnvFilter` from a `RUST_LOG`-style directive (e.g. `debug` or `kd_bot=trace`), with the
/// twilight-http targets capped at warn.
pub fn filter(requested: &str) -> EnvFilter {
    // An empty RUST_LOG (set but blank) means the default, not silence.
    let requested = if requested.trim().is_empty() {
        "info"
    } else {
        requested
    };
    let kept: Vec<&str> = requested
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty() && !CAPPED.iter().any(|t| d.starts_with(t)))
        .collect();
    let caps = CAPPED.iter().map(|t| format!("{t}=warn"));
    let directives: Vec<String> = kept.into_iter().map(String::from).chain(caps).collect();
    EnvFilter::builder().parse_lossy(directives.join(","))
}

/// `text` with the token of every `interactions/{id}/{token}` and `webhooks/{id}/{token}`
/// replaced by [`REDACTED`].
pub fn redact(text: &[u8]) -> Cow<'_, [u8]> {
    // A token runs to the end of its path segment, whatever it is made of.
    let token_char = |c: u8| {
        !c.is_ascii_whitespace()
            && !c.is_ascii_control()
            && !matches!(
                c,
                b'/' | b'?' | b'#' | b'"' | b'\'' | b'\\' | b',' | b'}' | b']' | b')'
            )
    };
    let mut out: Option<Vec<u8>> = None;
    let mut copied = 0;
    let mut at = 0;
    while at < text.len() {
        let Some(marker) = TOKEN_PATHS.iter().find(|m| text[at..].starts_with(m)) else {
            at += 1;
            continue;
        };
        let id_start = at + marker.len();
        let id_end = id_start
            + text[id_start..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric() || **c == b'@')
                .count();
        if id_end == id_start || text.get(id_end) != Some(&b'/') {
            at = id_end.max(at + 1);
            continue;
        }
        let token_start = id_end + 1;
        let token_end = token_start
            + text[token_start..]
                .iter()
                .take_while(|c| token_char(**c))
                .count();
        if token_end > token_start {
            let out = out.get_or_insert_with(|| Vec::with_capacity(text.len()));
            out.extend_from_slice(&text[copied..token_start]);
            out.extend_from_slice(REDACTED.as_bytes());
            copied = token_end;
        }
        at = token_end.max(at + 1);
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut out) => {
            out.extend_from_slice(&text[copied..]);
            Cow::Owned(out)
        }
    }
}

/// A [`MakeWriter`] whose writers pass everything through [`redact`]. The fmt layer writes
/// each formatted event with one `write_all`, so a token is never split between two writes.
pub struct Redacted<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacted<M> {
    type Writer = RedactingWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        RedactingWriter(self.0.make_writer_for(meta))
    }
}

pub struct RedactingWriter<W>(W);

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write_all(&redact(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twilight_http_stays_at_warn() {
        let f = filter("debug,twilight_http=trace").to_string();
        assert!(f.contains("twilight_http=warn"), "{f}");
        assert!(!f.contains("twilight_http=trace"), "{f}");
        assert!(f.contains("debug"), "{f}");
    }

    #[test]
    fn a_blank_request_means_info() {
        assert!(filter(" ").to_string().contains("info"));
    }

    fn redacted(text: &str) -> String {
        String::from_utf8(redact(text.as_bytes()).into_owned()).unwrap()
    }

    #[test]
    fn tokens_in_interaction_and_webhook_paths_are_redacted() {
        assert_eq!(
            redacted(
                r#"request{method="POST" path="interactions/123/aW50ZXJhY3Rpb246MTIz:x-y_z+=/callback"}: awaiting"#
            ),
            r#"request{method="POST" path="interactions/123/<redacted>/callback"}: awaiting"#
        );
        assert_eq!(
            redacted("path=webhooks/99/tok3n/messages/@original and webhooks/99/t2"),
            "path=webhooks/99/<redacted>/messages/@original and webhooks/99/<redacted>"
        );
        for untouched in [
            "no paths here",
            "interactions/ alone",
            "webhooks/12 without a token",
            "the kaltura/webhooks route",
        ] {
            assert!(
                matches!(redact(untouched.as_bytes()), Cow::Borrowed(_)),
                "{untouched}"
            );
        }
    }

    #[test]
    fn the_writer_redacts_what_it_passes_on() {
        let mut out = Vec::new();
        let mut writer = RedactingWriter(&mut out);
        let line = b"path=\"interactions/1/secret-token/callback\"\n";
        assert_eq!(writer.write(line).unwrap(), line.len());
        assert_eq!(out, b"path=\"interactions/1/<redacted>/callback\"\n");
    }
}
