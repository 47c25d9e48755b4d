//! KS interoperability: the official Python client's KS, ours, and the sandbox agree.

use crate::common::*;
use kd_kaltura::types::{MediaFilter, Pager};
use kd_kaltura::{Client, Error, KsRequest, KsVersion, Privileges, Secret, SessionType, ks};
use serde_json::{Value, json};
use std::process::Command;

/// Run the official client's offline KS generators; returns (v2 KS, v1 KS).
fn python_ks(
    secret: &str,
    partner_id: i64,
    user: &str,
    kind: i64,
    expiry: i64,
    privileges: &str,
) -> (String, String) {
    let python = tools_dir().join("venv/bin/python");
    assert!(
        python.exists(),
        "{} missing — run .ci/setup (or .ci/setup.d/kaltura.sh)",
        python.display()
    );
    let program = "import sys\nfrom KalturaClient import KalturaClient as K\n\
        s, u, t, p, e, pr = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]\n\
        print(K.generateSessionV2(s, u, t, p, e, pr).decode())\n\
        print(K.generateSession(s, u, t, p, e, pr).decode())\n";
    let output = Command::new(python)
        .args([
            "-c",
            program,
            secret,
            user,
            &kind.to_string(),
            &partner_id.to_string(),
            &expiry.to_string(),
            privileges,
        ])
        .output()
        .expect("run python");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines().map(str::to_string);
    (lines.next().unwrap(), lines.next().unwrap())
}

async fn session_get(client: &Client) -> Result<Value, Error> {
    client
        .call(
            "session",
            "get",
            json!({}),
            kd_kaltura::Idempotency::Idempotent,
        )
        .await
}

fn invalid_ks_reason(err: Error) -> (String, String) {
    match err {
        Error::Api(api) if api.code == "INVALID_KS" => {
            (api.args["ERR_CODE"].clone(), api.args["ERR_DESC"].clone())
        }
        other => panic!("expected INVALID_KS, got {other:?}"),
    }
}

#[tokio::test]
async fn python_ks_is_parsed_by_us_and_accepted_by_the_sandbox() {
    let sandbox = sandbox().await;
    let pid = sandbox.partner_id();
    let (v2, v1) = python_ks(
        sandbox.admin_secret(),
        pid,
        "py-user",
        2,
        3600,
        "sview:*,setrole:1002,enableentitlement",
    );
    for (ks_text, version) in [(&v2, KsVersion::V2), (&v1, KsVersion::V1)] {
        let fields = ks::verify(ks_text, pid, &[secret(&sandbox)]).unwrap();
        assert_eq!(fields.version, version);
        assert_eq!(fields.user_id, "py-user");
        assert_eq!(fields.session_type, SessionType::Admin);
        assert_eq!(fields.privileges.get("setrole"), Some("1002"));
        assert_eq!(fields.privileges.get("sview"), Some("*"));
        assert_eq!(fields.privileges.get("enableentitlement"), Some(""));
        assert!(!fields.is_expired());

        let with_ks = client(&sandbox).with_ks(ks_text.as_str().into());
        let list = with_ks
            .media_list(&MediaFilter::default(), Pager::new(2, 1))
            .await
            .unwrap();
        assert_eq!(list.objects.len(), 2);
        let info = session_get(&with_ks).await.unwrap();
        assert_eq!(info["userId"], "py-user");
        assert_eq!(info["expiry"], fields.expiry);
    }

    let (expired_v2, expired_v1) = python_ks(sandbox.admin_secret(), pid, "py-user", 2, -60, "");
    for expired in [expired_v2, expired_v1] {
        assert!(matches!(
            ks::verify(&expired, pid, &[secret(&sandbox)]),
            Err(kd_kaltura::KsError::Expired { .. })
        ));
        let err = client(&sandbox)
            .with_ks(expired.into())
            .media_get("0_x")
            .await
            .unwrap_err();
        assert_eq!(invalid_ks_reason(err), ("-5".into(), "EXPIRED".into()));
    }
}

#[tokio::test]
async fn our_ks_is_accepted_and_decodes_to_the_same_fields() {
    let sandbox = sandbox().await;
    let pid = sandbox.partner_id();
    let request = KsRequest::new(pid, SessionType::User)
        .user("discord:1234")
        .expiry_secs(900)
        .privileges(Privileges::parse(
            "sview:0_abc,privacycontext:physics,eventId:42",
        ));
    for generated in [
        ks::generate_v2(&secret(&sandbox), &request),
        ks::generate_v1(&secret(&sandbox), &request),
    ] {
        let ours = ks::decode(generated.expose(), &[secret(&sandbox)]).unwrap();
        let client = client(&sandbox).with_ks(generated);
        let info = session_get(&client).await.unwrap();
        assert_eq!(info["userId"], ours.user_id);
        assert_eq!(info["partnerId"], pid);
        assert_eq!(info["sessionType"], 0);
        assert_eq!(info["expiry"], ours.expiry);
        // The sandbox lists privileges sorted by name.
        assert_eq!(
            info["privileges"],
            "eventId:42,privacycontext:physics,sview:0_abc"
        );
    }
}

#[tokio::test]
async fn expired_tampered_and_foreign_ks_are_refused() {
    let sandbox = sandbox().await;
    let pid = sandbox.partner_id();
    let expired = ks::generate_v2(
        &secret(&sandbox),
        &KsRequest::new(pid, SessionType::Admin).expiry_secs(-5),
    );
    let err = client(&sandbox)
        .with_ks(expired)
        .media_get("0_x")
        .await
        .unwrap_err();
    assert_eq!(invalid_ks_reason(err), ("-5".into(), "EXPIRED".into()));

    let good = ks::generate_v2(&secret(&sandbox), &KsRequest::new(pid, SessionType::Admin));
    let mut raw = good.expose().to_string().into_bytes();
    let at = raw.len() - 10;
    raw[at] = if raw[at] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(raw).unwrap();
    let err = client(&sandbox)
        .with_ks(tampered.into())
        .media_get("0_x")
        .await
        .unwrap_err();
    assert_eq!(invalid_ks_reason(err), ("-1".into(), "INVALID_STR".into()));

    let wrong_secret = ks::generate_v2(
        &Secret::new("ffffffffffffffffffffffffffffffff"),
        &KsRequest::new(pid, SessionType::Admin),
    );
    let err = client(&sandbox)
        .with_ks(wrong_secret)
        .media_get("0_x")
        .await
        .unwrap_err();
    assert_eq!(invalid_ks_reason(err), ("-1".into(), "INVALID_STR".into()));

    // A valid KS of another partner, sent as this partner.
    let foreign = ks::generate_v2(
        &Secret::new(OTHER_SECRET),
        &KsRequest::new(OTHER_PARTNER, SessionType::Admin),
    );
    let err = client(&sandbox)
        .with_ks(foreign)
        .media_get("0_x")
        .await
        .unwrap_err();
    assert_eq!(
        invalid_ks_reason(err),
        ("-2".into(), "INVALID_PARTNER".into())
    );

    // A KS naming a partner the server does not know.
    let unknown = ks::generate_v2(
        &secret(&sandbox),
        &KsRequest::new(31337, SessionType::Admin),
    );
    let err = client(&sandbox)
        .with_ks(unknown)
        .media_get("0_x")
        .await
        .unwrap_err();
    assert_eq!(
        invalid_ks_reason(err),
        ("-2".into(), "INVALID_PARTNER".into())
    );
}
