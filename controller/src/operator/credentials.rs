//! Checks each KalturaPartner's admin secret against Kaltura: `session.start` with it (an admin
//! session), then `partner.get` for the account's name. A partner is checked when it is new,
//! when its spec or its Secret changes, and every `period`; a check that could not reach
//! Kaltura is tried again after a minute. Passes in between reuse the last verdict, so a pass
//! costs no Kaltura call.

use crate::reconcile::verification::{Outcome, Verification};
use futures_util::future::join_all;
use kd_crds::KalturaPartner;
use kd_crds::references::ObjectKey;
use kd_kaltura::{Client, ClientConfig, Idempotency, Privileges, Secret, SessionType};
use kube::{Resource, ResourceExt};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How soon a check that could not reach Kaltura is tried again.
const UNREACHABLE_RETRY: Duration = Duration::from_secs(60);
/// Lifetime of the session the check opens: it is used for one call.
const SESSION_SECONDS: i64 = 60;

/// A partner to check: where, which account, with what secret and a fingerprint of its
/// inputs (generation and the Secret's resource version, never the value).
#[derive(Clone)]
pub struct Subject {
    pub key: ObjectKey,
    pub service_url: String,
    pub partner_id: i64,
    pub secret: Secret,
    pub fingerprint: String,
}

impl Subject {
    /// The subject of `partner` whose admin secret is `secret` at `version`.
    pub fn new(partner: &KalturaPartner, secret: Secret, version: &str) -> Self {
        Self {
            key: ObjectKey {
                kind: "KalturaPartner",
                namespace: partner.namespace().unwrap_or_else(|| "default".into()),
                name: partner.name_any(),
            },
            service_url: partner.spec.service_url.clone(),
            partner_id: partner.spec.partner_id,
            fingerprint: format!(
                "{}/{}/{}/{version}",
                partner.meta().generation.unwrap_or_default(),
                partner.spec.service_url,
                partner.spec.partner_id
            ),
            secret,
        }
    }
}

pub struct Verifier {
    period: Duration,
    known: BTreeMap<ObjectKey, (String, Instant, Verification)>,
}

impl Verifier {
    pub fn new(period: Duration) -> Self {
        Self {
            period,
            known: BTreeMap::new(),
        }
    }

    /// The verdict of every subject, checking (concurrently) those that are due.
    pub async fn verify(&mut self, subjects: Vec<Subject>) -> BTreeMap<ObjectKey, Verification> {
        let due: Vec<Subject> = subjects.iter().filter(|s| self.due(s)).cloned().collect();
        let checked = join_all(due.iter().map(check)).await;
        for (subject, outcome) in due.into_iter().zip(checked) {
            tracing::info!(partner = %subject.key.name, partner_id = subject.partner_id, ?outcome, "checked Kaltura credentials");
            let verification = Verification {
                at: crate::reconcile::conditions::api_now(),
                outcome,
            };
            self.known.insert(
                subject.key,
                (subject.fingerprint, Instant::now(), verification),
            );
        }
        // Forget partners that are gone or no longer checkable.
        self.known
            .retain(|key, _| subjects.iter().any(|s| &s.key == key));
        self.known
            .iter()
            .map(|(key, (_, _, v))| (key.clone(), v.clone()))
            .collect()
    }

    fn due(&self, subject: &Subject) -> bool {
        match self.known.get(&subject.key) {
            None => true,
            Some((fingerprint, at, verification)) => {
                let every = match verification.outcome {
                    Outcome::Unreachable(_) => UNREACHABLE_RETRY.min(self.period),
                    _ => self.period,
                };
                *fingerprint != subject.fingerprint || at.elapsed() >= every
            }
        }
    }
}

/// One check against Kaltura.
async fn check(subject: &Subject) -> Outcome {
    let mut config = ClientConfig::new(&subject.service_url, subject.partner_id);
    config.timeout = Duration::from_secs(5);
    config.max_retries = 1;
    let client = match Client::new(config) {
        Ok(client) => client,
        Err(error) => return Outcome::Unreachable(error.to_string()),
    };
    let session = client
        .session_start(
            &subject.secret,
            "",
            SessionType::Admin,
            SESSION_SECONDS,
            &Privileges::default(),
        )
        .await;
    let ks = match session {
        Ok(ks) => ks,
        Err(error) => return outcome_of(error),
    };
    let partner = client
        .with_ks(ks)
        .call(
            "partner",
            "get",
            json!({"id": subject.partner_id}),
            Idempotency::Idempotent,
        )
        .await;
    match partner {
        Ok(partner) => Outcome::Valid {
            partner_name: partner["name"].as_str().unwrap_or_default().to_string(),
        },
        Err(error) => outcome_of(error),
    }
}

fn outcome_of(error: kd_kaltura::Error) -> Outcome {
    match error {
        kd_kaltura::Error::Api(api) => Outcome::Refused {
            code: api.code,
            message: api.message,
        },
        other => Outcome::Unreachable(other.to_string()),
    }
}
