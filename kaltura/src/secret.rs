//! Values that must never reach a log line or a `Debug` dump: admin secrets and KS strings.

use std::fmt;

/// A Kaltura admin or user secret. `Debug` and `Display` print `<redacted>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for signing. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

/// A Kaltura Session string. A KS is a bearer credential, so `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Ks(String);

impl Ks {
    pub fn new(value: impl Into<String>) -> Self {
        Ks(value.into())
    }

    /// The KS itself, for a request or a link. Never log the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Ks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ks(<redacted {} chars>)", self.0.len())
    }
}

impl From<String> for Ks {
    fn from(value: String) -> Self {
        Ks(value)
    }
}

impl From<&str> for Ks {
    fn from(value: &str) -> Self {
        Ks::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_values() {
        let secret = Secret::new("s3cr3t-value");
        let ks = Ks::new("djJ8MTIzfGFiY2Rl");
        let printed = format!("{secret:?} {ks:?}");
        assert!(!printed.contains("s3cr3t-value"), "{printed}");
        assert!(!printed.contains("djJ8MTIzfGFiY2Rl"), "{printed}");
        assert!(printed.contains("redacted"));
    }
}
