//! The shared state behind the server and the typed handle tests use.

use crate::auth::{self, NoServiceAccount, Tokens};
use crate::clock::{self, now};
use crate::config::Config;
use crate::objects;
use crate::resource;
use crate::store::Store;
use serde_json::Value;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

struct Inner {
    store: Mutex<Store>,
    /// Locked after `store` when both are.
    tokens: Mutex<Tokens>,
    base_url: String,
    token: String,
    namespace: String,
    anonymous: bool,
}

/// The emulated cluster; cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    inner: Arc<Inner>,
}

impl Sandbox {
    pub(crate) fn new(config: Config, base_url: String) -> Self {
        let token = config.token.unwrap_or_else(|| {
            let bytes: [u8; 24] = rand::random();
            bytes.iter().map(|b| format!("{b:02x}")).collect()
        });
        let mut store = Store::new(resource::builtins());
        objects::seed(&mut store, &now());
        Self {
            inner: Arc::new(Inner {
                store: Mutex::new(store),
                tokens: Mutex::new(Tokens::default()),
                base_url,
                token,
                namespace: config.namespace,
                anonymous: config.anonymous,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock leaves consistent data behind (writes are single inserts).
        self.inner
            .store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&self.lock())
    }

    pub(crate) fn with_store_mut<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        f(&mut self.lock())
    }

    /// The store and the ServiceAccount tokens issued so far, together.
    pub(crate) fn with_tokens<T>(&self, f: impl FnOnce(&Store, &mut Tokens) -> T) -> T {
        let store = self.lock();
        let mut tokens = self
            .inner
            .tokens
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&store, &mut tokens)
    }

    /// `http://127.0.0.1:<port>`: the API server URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.inner.token
    }

    /// Whether requests without credentials are served (see [`Config::anonymous`]).
    pub fn allows_anonymous(&self) -> bool {
        self.inner.anonymous
    }

    /// The namespace the kubeconfig's context defaults to.
    pub fn namespace(&self) -> &str {
        &self.inner.namespace
    }

    /// The current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.lock().revision()
    }

    /// A kubeconfig (cluster, token user, context with the default namespace) for kubectl and
    /// `kube::Config::from_custom_kubeconfig`.
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_yaml_for_token(self.token())
    }

    /// [`Self::kubeconfig_yaml`] with another bearer token, e.g. one from
    /// [`Self::service_account_token`], as the kubelet projects a ServiceAccount's token into a
    /// pod: kube-rs sends it even over plain HTTP (kubectl does not, see `--as` instead).
    pub fn kubeconfig_yaml_for_token(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: kd-sandbox\n  cluster:\n    server: {}\nusers:\n- name: kd-sandbox\n  user:\n    token: {}\ncontexts:\n- name: kd-sandbox\n  context:\n    cluster: kd-sandbox\n    user: kd-sandbox\n    namespace: {}\ncurrent-context: kd-sandbox\npreferences: {{}}\n",
            self.base_url(),
            token,
            self.namespace()
        )
    }

    /// A token of the ServiceAccount `namespace/name` (as the TokenRequest API issues, valid for
    /// an hour): requests with it are that ServiceAccount's, authorized by RBAC, until the
    /// ServiceAccount is deleted.
    pub fn service_account_token(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<String, NoServiceAccount> {
        self.with_tokens(|store, tokens| {
            auth::issue(
                store,
                tokens,
                namespace,
                name,
                auth::DEFAULT_EXPIRATION_SECONDS,
                clock::now_utc(),
            )
        })
        .map(|(token, _)| token)
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path` (readable by the owner only: it holds the token).
    pub fn write_kubeconfig(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        let path = path.as_ref();
        std::fs::write(path, self.kubeconfig_yaml())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// Stored objects of a kind (`group` is `""` for the core group), in namespace/name order.
    pub fn objects(&self, group: &str, kind: &str) -> Vec<Value> {
        let store = self.lock();
        let Some(rt) = store
            .types()
            .iter()
            .find(|t| t.group == group && t.kind == kind)
            .cloned()
        else {
            return Vec::new();
        };
        store
            .list(rt.storage_group(), &rt.plural, None)
            .into_iter()
            .map(|(_, v)| objects::at_version(&rt, v.clone()))
            .collect()
    }

    /// One stored object, if present (`namespace` is ignored for cluster-scoped kinds).
    pub fn object(&self, group: &str, kind: &str, namespace: &str, name: &str) -> Option<Value> {
        self.objects(group, kind).into_iter().find(|o| {
            o["metadata"]["name"] == name
                && o["metadata"]["namespace"]
                    .as_str()
                    .is_none_or(|ns| ns == namespace)
        })
    }
}
