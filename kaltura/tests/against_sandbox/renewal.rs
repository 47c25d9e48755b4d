//! A refused KS is replaced once: through `Client::with_renewal`, against the sandbox's
//! `refuse-ks` knob and a rotated secret.

use crate::common::{client, sandbox};
use kd_kaltura::ks::{self, KsRequest};
use kd_kaltura::types::{MediaFilter, Pager, UserInput};
use kd_kaltura::{Client, Error, Ks, MultiRequest, RenewKs, Secret, SessionType};
use kd_sandbox_kaltura::{KalturaSandbox, RefuseKs};
use serde_json::json;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// Mints admin sessions from whatever secret it holds, and counts them.
struct Minter {
    partner_id: i64,
    secret: Mutex<Secret>,
    minted: AtomicU32,
}

impl RenewKs for Minter {
    fn renew(&self) -> Option<Ks> {
        self.minted.fetch_add(1, Ordering::Relaxed);
        let request = KsRequest::new(self.partner_id, SessionType::Admin).expiry_secs(600);
        Some(ks::generate_v2(&self.secret.lock().unwrap(), &request))
    }
}

fn renewing(sandbox: &KalturaSandbox) -> (Client, Arc<Minter>) {
    let minter = Arc::new(Minter {
        partner_id: sandbox.partner_id(),
        secret: Mutex::new(Secret::new(sandbox.admin_secret())),
        minted: AtomicU32::new(0),
    });
    let first = minter.renew().unwrap();
    minter.minted.store(0, Ordering::Relaxed);
    let client = client(sandbox).with_ks(first).with_renewal(minter.clone());
    (client, minter)
}

fn refuse(sandbox: &KalturaSandbox, reason: &str, count: Option<u32>) {
    sandbox
        .knobs()
        .set_refuse_ks(Some(RefuseKs {
            reason: reason.into(),
            count,
            service: None,
        }))
        .unwrap();
}

#[tokio::test]
async fn a_refused_ks_is_renewed_once_and_the_call_goes_through() {
    let sandbox = sandbox().await;
    let (client, minter) = renewing(&sandbox);
    refuse(&sandbox, "EXPIRED", Some(1));
    let before = sandbox.knobs().requests();
    let list = client
        .media_list(&MediaFilter::default(), Pager::new(1, 1))
        .await
        .expect("answered with the new KS");
    assert!(list.total_count > 0);
    assert_eq!(minter.minted.load(Ordering::Relaxed), 1);
    assert_eq!(sandbox.knobs().requests() - before, 2);
}

#[tokio::test]
async fn a_refusal_that_persists_is_reported_after_one_renewal() {
    let sandbox = sandbox().await;
    let (client, minter) = renewing(&sandbox);
    refuse(&sandbox, "LOGOUT", None);
    let before = sandbox.knobs().requests();
    let err = client.media_get("0_x").await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert!(api.is_ks_refusal(), "{api:?}");
    assert!(api.message.contains("-6,LOGOUT"), "{}", api.message);
    assert!(
        !api.message.contains(client.ks().unwrap().expose()),
        "the KS is redacted"
    );
    assert_eq!(minter.minted.load(Ordering::Relaxed), 1, "only once");
    assert_eq!(sandbox.knobs().requests() - before, 2);

    // Without a renewal the refusal is final at once.
    let plain = crate::common::admin(&sandbox).await;
    let before = sandbox.knobs().requests();
    assert!(plain.media_get("0_x").await.is_err());
    assert_eq!(sandbox.knobs().requests() - before, 1);
}

#[tokio::test]
async fn after_a_rotation_the_renewal_signs_with_the_new_secret() {
    let sandbox = sandbox().await;
    let (client, minter) = renewing(&sandbox);
    let rotated = sandbox.rotate_admin_secret(None).unwrap();
    *minter.secret.lock().unwrap() = Secret::new(rotated);
    client
        .media_list(&MediaFilter::default(), Pager::new(1, 1))
        .await
        .expect("the old KS is refused, the new one works");
    assert_eq!(minter.minted.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_write_refused_for_its_ks_runs_exactly_once() {
    let sandbox = sandbox().await;
    let (client, _) = renewing(&sandbox);
    refuse(&sandbox, "EXPIRED", Some(1));
    let added = client
        .user_add(&UserInput {
            id: Some("renewed.writer".into()),
            ..UserInput::default()
        })
        .await
        .expect("added after the renewal");
    assert_eq!(added.id, "renewed.writer");
    let again = client
        .user_add(&UserInput {
            id: Some("renewed.writer".into()),
            ..UserInput::default()
        })
        .await
        .unwrap_err();
    assert_eq!(again.api_code(), Some("DUPLICATE_USER_BY_ID"), "{again:?}");
}

#[tokio::test]
async fn a_multirequest_refused_as_a_whole_is_sent_again_once() {
    let sandbox = sandbox().await;
    let (client, minter) = renewing(&sandbox);
    refuse(&sandbox, "EXPIRED", Some(1));
    let mut calls = MultiRequest::new();
    calls.add("category", "list", json!({}));
    calls.add("media", "list", json!({"pager": {"pageSize": 1}}));
    let results = client
        .multirequest(&calls, kd_kaltura::Idempotency::Idempotent)
        .await
        .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(minter.minted.load(Ordering::Relaxed), 1);
}
