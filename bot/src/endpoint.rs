//! Where the bot finds Discord's REST API when it is not Discord itself (the sandbox, or a
//! proxy in front of Discord), and whether that hop is TLS.

use std::fmt;
use std::str::FromStr;

/// `https://host:port`, `http://host:port`, or a bare `host:port` (plain HTTP).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestEndpoint {
    pub authority: String,
    pub tls: bool,
}

impl FromStr for RestEndpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (tls, authority) = match s.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some((scheme, _)) => {
                return Err(format!("unsupported scheme {scheme:?}: use http or https"));
            }
            None => (false, s),
        };
        let authority = authority.trim_end_matches('/');
        if authority.is_empty() || authority.contains('/') {
            return Err(format!(
                "expected host:port, optionally after http:// or https://, not {s:?}"
            ));
        }
        Ok(Self {
            authority: authority.to_string(),
            tls,
        })
    }
}

impl fmt::Display for RestEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_scheme_or_a_bare_authority() {
        let parse = |s: &str| s.parse::<RestEndpoint>();
        assert_eq!(
            parse("https://127.0.0.1:8443/").unwrap(),
            RestEndpoint {
                authority: "127.0.0.1:8443".into(),
                tls: true
            }
        );
        assert!(!parse("http://sandbox:80").unwrap().tls);
        assert_eq!(
            parse("127.0.0.1:9").unwrap().to_string(),
            "http://127.0.0.1:9"
        );
        assert!(parse("ftp://x:1").unwrap_err().contains("ftp"));
        assert!(parse("https://x:1/api/v10").is_err());
        assert!(parse("").is_err());
    }
}
