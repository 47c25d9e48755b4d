//! Kaltura clients per partner, each with an admin session minted locally from the partner's
//! admin secret (KS v2), renewed before it expires, when the secret changes, and once when
//! Kaltura refuses it. Failures become messages a member can act on.

use crate::config::PartnerRuntime;
use crate::secrets::SecretSource;
use kd_kaltura::ks::{self, KsRequest, SessionType, unix_now};
use kd_kaltura::{Client, ClientConfig, Error, Ks, RenewKs, Secret};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Admin sessions live this long and are renewed when less than a tenth remains.
const ADMIN_KS_SECONDS: i64 = 3600;

/// How the bot talks to Kaltura: short timeouts so a member hears back quickly.
#[derive(Clone, Debug)]
pub struct KalturaSettings {
    pub timeout: Duration,
    pub max_retries: u32,
}

impl Default for KalturaSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(4),
            max_retries: 1,
        }
    }
}

/// A partner's admin session, and the secret it was signed with.
struct Session {
    partner: PartnerRuntime,
    secret: Secret,
    client: Client,
    expires: i64,
    /// The Secret file could not be read last time (logged once, until it can be again).
    unreadable: bool,
}

/// Clients per partner. The Secret is read at each use (a small file, a few microseconds), so a
/// rotation, including the kubelet's swap of the `..data` symlink, is seen by the next call; a
/// session signed with another secret is dropped then. A KS that Kaltura refuses anyway
/// (expired early, revoked) is replaced once per call, through [`RenewKs`]. Clones share the
/// sessions.
#[derive(Clone)]
pub struct KalturaClients {
    inner: Arc<Inner>,
}

struct Inner {
    secrets: Arc<dyn SecretSource>,
    settings: KalturaSettings,
    sessions: Mutex<HashMap<String, Session>>,
}

/// Why a Kaltura call could not be made or failed, in words for the member.
#[derive(Debug, thiserror::Error)]
pub enum KalturaFailure {
    #[error(
        "the Kaltura credentials of this server are missing; an administrator needs to check the partner's Secret"
    )]
    NoSecret,
    #[error("{0}")]
    Call(String),
}

impl KalturaFailure {
    pub fn from_error(err: &Error) -> Self {
        let text = match err {
            Error::Timeout(_) => "Kaltura did not answer in time. Please try again in a moment.".to_string(),
            Error::Transport(_) | Error::Http { .. } => {
                "Kaltura cannot be reached right now. Please try again in a moment.".to_string()
            }
            Error::Api(api) if api.is("ENTRY_ID_NOT_FOUND") => "That video does not exist (any more).".to_string(),
            Error::Api(api) if api.code.contains("KS") => {
                "Kaltura refused this server's credentials; an administrator needs to check the partner's secret."
                    .to_string()
            }
            Error::Api(api) => format!("Kaltura refused the request: {}", api.message),
            Error::Decode(_) | Error::Ks(_) => "Kaltura answered something unexpected. Please try again.".to_string(),
        };
        Self::Call(text)
    }
}

impl KalturaClients {
    pub fn new(secrets: Arc<dyn SecretSource>, settings: KalturaSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                secrets,
                settings,
                sessions: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// A client for the partner with a valid admin session, which renews it when Kaltura
    /// refuses it.
    pub fn client(&self, partner: &PartnerRuntime) -> Result<Client, KalturaFailure> {
        let client = self.inner.session(partner, false)?;
        Ok(client.with_renewal(Arc::new(Renewal {
            inner: self.inner.clone(),
            partner: partner.clone(),
        })))
    }

    /// The partner's admin secret, to sign sessions for members (join links, playback).
    pub fn secret(&self, partner: &PartnerRuntime) -> Result<Secret, KalturaFailure> {
        let mut sessions = self.inner.lock();
        self.inner.current_secret(partner, &mut sessions)
    }
}

fn key_of(partner: &PartnerRuntime) -> String {
    format!("{}@{}", partner.partner_id, partner.service_url)
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The secret in the Secret file now; when it cannot be read, the one the running session
    /// was signed with (logged once), as a broken config file keeps the running config.
    fn current_secret(
        &self,
        partner: &PartnerRuntime,
        sessions: &mut HashMap<String, Session>,
    ) -> Result<Secret, KalturaFailure> {
        let cached = sessions
            .get_mut(&key_of(partner))
            .filter(|s| s.partner == *partner);
        match (self.secrets.get(&partner.admin_secret_ref), cached) {
            (Some(secret), Some(session)) => {
                session.unreadable = false;
                Ok(secret)
            }
            (Some(secret), None) => Ok(secret),
            (None, Some(session)) => {
                if !session.unreadable {
                    session.unreadable = true;
                    tracing::error!(
                        partner_id = partner.partner_id,
                        secret = %partner.admin_secret_ref.name,
                        key = %partner.admin_secret_ref.key,
                        "cannot read the partner's admin secret; keeping the one in use"
                    );
                }
                Ok(session.secret.clone())
            }
            (None, None) => Err(KalturaFailure::NoSecret),
        }
    }

    /// The partner's admin session: the cached one while it is fresh and signed with the
    /// current secret, else (or when `renew`) a new one.
    fn session(&self, partner: &PartnerRuntime, renew: bool) -> Result<Client, KalturaFailure> {
        let mut sessions = self.lock();
        let secret = self.current_secret(partner, &mut sessions)?;
        let key = key_of(partner);
        let now = unix_now();
        if let Some(cached) = sessions.get(&key).filter(|c| c.partner == *partner) {
            if cached.secret != secret {
                tracing::info!(
                    partner_id = partner.partner_id,
                    "the partner's admin secret changed; dropping its cached session"
                );
            } else if !renew && cached.expires - now > ADMIN_KS_SECONDS / 10 {
                return Ok(cached.client.clone());
            }
        }
        let request = KsRequest::new(partner.partner_id, SessionType::Admin)
            .user("kaltura-discord")
            .expiry_secs(ADMIN_KS_SECONDS);
        let ks = ks::generate_v2(&secret, &request);
        let mut config = ClientConfig::new(partner.service_url.clone(), partner.partner_id);
        config.timeout = self.settings.timeout;
        config.max_retries = self.settings.max_retries;
        config.client_tag = "kaltura-discord-bot".into();
        let client = Client::new(config)
            .map_err(|e| KalturaFailure::from_error(&e))?
            .with_ks(ks);
        sessions.insert(
            key,
            Session {
                partner: partner.clone(),
                secret,
                client: client.clone(),
                expires: now + ADMIN_KS_SECONDS,
                unreadable: false,
            },
        );
        Ok(client)
    }
}

/// Mints the partner's next admin session when Kaltura refuses one, and caches it for the
/// calls that follow.
struct Renewal {
    inner: Arc<Inner>,
    partner: PartnerRuntime,
}

impl RenewKs for Renewal {
    fn renew(&self) -> Option<Ks> {
        let client = self.inner.session(&self.partner, true).ok()?;
        client.ks().cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kd_crds::SecretKeyRef;

    /// A Secret whose value the test changes or removes.
    #[derive(Default)]
    struct Changing(Mutex<Option<String>>);

    impl Changing {
        fn set(&self, value: Option<&str>) {
            *self.0.lock().unwrap() = value.map(str::to_string);
        }
    }

    impl SecretSource for Changing {
        fn get(&self, _: &SecretKeyRef) -> Option<Secret> {
            self.0.lock().unwrap().as_deref().map(Secret::new)
        }
    }

    fn partner() -> PartnerRuntime {
        PartnerRuntime {
            partner_id: 42,
            service_url: "http://127.0.0.1:9".into(),
            admin_secret_ref: SecretKeyRef {
                name: "kaltura".into(),
                key: "adminSecret".into(),
            },
            sessions: Default::default(),
            player_ui_conf_id: None,
            webhook_secret_ref: None,
        }
    }

    fn ks_of(client: &Client) -> Ks {
        client.ks().cloned().expect("a KS")
    }

    /// The secret a KS was signed with, among the candidates.
    fn signed_with(ks: &Ks, secrets: &[&str]) -> Option<String> {
        secrets
            .iter()
            .find(|s| ks::decode(ks.expose(), &[Secret::new(**s)]).is_ok())
            .map(|s| s.to_string())
    }

    fn setup() -> (Arc<Changing>, KalturaClients) {
        let secrets = Arc::new(Changing::default());
        secrets.set(Some("old-secret"));
        let clients = KalturaClients::new(secrets.clone(), KalturaSettings::default());
        (secrets, clients)
    }

    #[test]
    fn the_session_is_kept_until_the_secret_changes() {
        let (secrets, clients) = setup();
        let first = ks_of(&clients.client(&partner()).unwrap());
        assert_eq!(ks_of(&clients.client(&partner()).unwrap()), first);

        secrets.set(Some("new-secret"));
        let after = ks_of(&clients.client(&partner()).unwrap());
        assert_ne!(after, first);
        assert_eq!(
            signed_with(&after, &["old-secret", "new-secret"]).as_deref(),
            Some("new-secret")
        );
        assert_eq!(clients.secret(&partner()).unwrap().expose(), "new-secret");
    }

    #[test]
    fn an_unreadable_secret_keeps_the_session_in_use() {
        let (secrets, clients) = setup();
        let first = ks_of(&clients.client(&partner()).unwrap());
        secrets.set(None);
        assert_eq!(ks_of(&clients.client(&partner()).unwrap()), first);
        assert_eq!(clients.secret(&partner()).unwrap().expose(), "old-secret");

        let (secrets, fresh) = setup();
        secrets.set(None);
        assert!(matches!(
            fresh.client(&partner()),
            Err(KalturaFailure::NoSecret)
        ));
    }

    #[test]
    fn a_renewal_mints_a_new_session_that_later_calls_use() {
        let (secrets, clients) = setup();
        let first = ks_of(&clients.client(&partner()).unwrap());
        secrets.set(Some("rotated"));
        let renewal = Renewal {
            inner: clients.inner.clone(),
            partner: partner(),
        };
        let renewed = renewal.renew().expect("a new KS");
        assert_ne!(renewed, first);
        assert_eq!(
            signed_with(&renewed, &["old-secret", "rotated"]).as_deref(),
            Some("rotated")
        );
        assert_eq!(ks_of(&clients.client(&partner()).unwrap()), renewed);
        // Renewing again mints again, even with the same secret.
        assert_ne!(renewal.renew().unwrap(), renewed);
    }
}
