//! Kaltura clients per partner, each with an admin session minted locally from the partner's
//! admin secret (KS v2), renewed before it expires. Failures become messages a member can act on.

use crate::config::PartnerRuntime;
use crate::secrets::SecretSource;
use kd_kaltura::ks::{self, KsRequest, SessionType, unix_now};
use kd_kaltura::{Client, ClientConfig, Error};
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

struct Cached {
    partner: PartnerRuntime,
    client: Client,
    expires: i64,
}

pub struct KalturaClients {
    secrets: Arc<dyn SecretSource>,
    settings: KalturaSettings,
    cache: Mutex<HashMap<String, Cached>>,
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
            secrets,
            settings,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// A client for the partner with a valid admin session.
    pub fn client(&self, partner: &PartnerRuntime) -> Result<Client, KalturaFailure> {
        let mut cache = self.cache.lock().expect("cache lock");
        let key = format!("{}@{}", partner.partner_id, partner.service_url);
        let now = unix_now();
        if let Some(c) = cache
            .get(&key)
            .filter(|c| c.partner == *partner && c.expires - now > ADMIN_KS_SECONDS / 10)
        {
            return Ok(c.client.clone());
        }
        let secret = self
            .secrets
            .get(&partner.admin_secret_ref)
            .ok_or(KalturaFailure::NoSecret)?;
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
        cache.insert(
            key,
            Cached {
                partner: partner.clone(),
                client: client.clone(),
                expires: now + ADMIN_KS_SECONDS,
            },
        );
        Ok(client)
    }

    /// The partner's admin secret, to sign sessions for members (join links, playback).
    pub fn secret(&self, partner: &PartnerRuntime) -> Result<kd_kaltura::Secret, KalturaFailure> {
        self.secrets
            .get(&partner.admin_secret_ref)
            .ok_or(KalturaFailure::NoSecret)
    }
}
