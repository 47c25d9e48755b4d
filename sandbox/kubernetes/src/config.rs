//! How to start the sandbox.

use std::net::SocketAddr;

/// Start-up settings of [`crate::KubernetesSandbox`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to serve on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Bearer token clients must send; a random one when `None`.
    pub token: Option<String>,
    /// The namespace the kubeconfig's context uses by default.
    pub namespace: String,
    /// Serve requests that carry no `Authorization` header (as `system:anonymous`). kubectl
    /// (client-go) never sends credentials to an `http://` server, so without this kubectl
    /// cannot use the sandbox; a wrong token is refused (401) either way.
    pub anonymous: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: None,
            namespace: "default".into(),
            anonymous: true,
        }
    }
}
