//! The clock every timestamp the server writes comes from.

use time::OffsetDateTime;

/// Now, to the second.
pub fn now_utc() -> OffsetDateTime {
    OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A time as Kubernetes timestamps are written (RFC 3339, seconds).
pub fn format(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Now, as Kubernetes timestamps are written.
pub fn now() -> String {
    format(now_utc())
}
