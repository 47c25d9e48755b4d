//! The clock every timestamp the server writes comes from.

/// Now, as Kubernetes timestamps are written (RFC 3339, seconds).
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
