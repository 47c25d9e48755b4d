//! api_v3 wire details beyond what the official clients exercise: form bodies with bracket and
//! colon keys, query strings, XML errors, flat multirequest keys, null markers, unknown services.

use kd_sandbox_kaltura::{KalturaSandbox, SandboxConfig};
use serde_json::Value;

struct Api {
    sandbox: KalturaSandbox,
    http: reqwest::Client,
}

impl Api {
    async fn new() -> Api {
        kd_sandbox_kaltura::install_crypto_provider();
        Api {
            sandbox: KalturaSandbox::start(SandboxConfig::default())
                .await
                .unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api_v3/{path}", self.sandbox.base_url())
    }

    async fn form(&self, path: &str, fields: &[(&str, &str)]) -> String {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(fields)
            .finish();
        self.http
            .post(self.url(path))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn admin_ks(&self) -> String {
        let pid = self.sandbox.partner_id().to_string();
        let body = self
            .form(
                "service/session/action/start",
                &[
                    ("secret", self.sandbox.admin_secret()),
                    ("partnerId", &pid),
                    ("type", "2"),
                    ("format", "1"),
                ],
            )
            .await;
        serde_json::from_str::<String>(&body).unwrap()
    }
}

#[tokio::test]
async fn form_bracket_and_colon_keys_give_the_same_answer() {
    let api = Api::new().await;
    let ks = api.admin_ks().await;
    let bracket = api
        .form(
            "service/media/action/list",
            &[
                ("ks", &ks),
                ("format", "1"),
                ("filter[objectType]", "KalturaMediaEntryFilter"),
                ("filter[tagsLike]", "biology"),
                ("filter[orderBy]", "+name"),
                ("pager[pageSize]", "2"),
                ("pager[pageIndex]", "1"),
            ],
        )
        .await;
    let colon = api
        .form(
            "service/media/action/list",
            &[
                ("ks", &ks),
                ("format", "1"),
                ("filter:objectType", "KalturaMediaEntryFilter"),
                ("filter:tagsLike", "biology"),
                ("filter:orderBy", "+name"),
                ("pager:pageSize", "2"),
            ],
        )
        .await;
    let bracket: Value = serde_json::from_str(&bracket).unwrap();
    assert_eq!(bracket, serde_json::from_str::<Value>(&colon).unwrap());
    assert_eq!(bracket["totalCount"], 6);
    assert_eq!(bracket["objects"].as_array().unwrap().len(), 2);

    // Query string only, action in the query, XML by default.
    let query = format!(
        "index.php?service=media&action=list&ks={ks}&filter:nameLike=Cold%20War&filter:objectType=KalturaMediaEntryFilter"
    );
    let xml = api
        .http
        .get(api.url(&query))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("<objectType>KalturaMediaListResponse</objectType>"),
        "{xml}"
    );
    assert!(xml.contains("<totalCount>1</totalCount>"), "{xml}");
    assert!(xml.contains("<executionTime>"), "{xml}");
}

#[tokio::test]
async fn errors_in_xml_and_json() {
    let api = Api::new().await;
    let ks = api.admin_ks().await;
    let xml = api
        .form(
            "service/media/action/get",
            &[("ks", &ks), ("entryId", "0_none0000"), ("format", "2")],
        )
        .await;
    assert!(
        xml.contains(
            "<error><objectType>KalturaAPIException</objectType><code>ENTRY_ID_NOT_FOUND</code>"
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<name>ENTRY_ID</name><value>0_none0000</value>"),
        "{xml}"
    );

    let json: Value = serde_json::from_str(
        &api.form(
            "service/nosuch/action/list",
            &[("ks", &ks), ("format", "1")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(json["code"], "SERVICE_DOES_NOT_EXISTS");
    let json: Value = serde_json::from_str(
        &api.form(
            "service/media/action/explode",
            &[("ks", &ks), ("format", "1")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(json["code"], "ACTION_DOES_NOT_EXISTS");
    let json: Value = serde_json::from_str(
        &api.form("service/media/action/get", &[("ks", &ks), ("format", "1")])
            .await,
    )
    .unwrap();
    assert_eq!(json["code"], "MISSING_MANDATORY_PARAMETER");
    assert_eq!(json["args"]["PARAM_NAME"], "entryId");
    // `entryId__null` is how the clients send an explicit null.
    let json: Value = serde_json::from_str(
        &api.form(
            "service/media/action/get",
            &[("ks", &ks), ("format", "1"), ("entryId__null", "")],
        )
        .await,
    )
    .unwrap();
    assert_eq!(json["code"], "MISSING_MANDATORY_PARAMETER");
}

#[tokio::test]
async fn flat_multirequest_keys_and_typed_references() {
    let api = Api::new().await;
    let pid = api.sandbox.partner_id().to_string();
    let body = api
        .form(
            "service/multirequest",
            &[
                ("format", "1"),
                ("1:service", "session"),
                ("1:action", "start"),
                ("1:secret", api.sandbox.admin_secret()),
                ("1:partnerId", &pid),
                ("1:type", "2"),
                ("2:service", "category"),
                ("2:action", "list"),
                ("2:ks", "{1:result}"),
                ("2:filter:parentIdEqual", "101"),
                ("3:service", "category"),
                ("3:action", "get"),
                ("3:ks", "{1:result}"),
                ("3:id", "{2:result:objects:0:id}"),
            ],
        )
        .await;
    let results: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(results[1]["totalCount"], 5);
    assert_eq!(results[2]["id"], results[1]["objects"][0]["id"]);
    assert_eq!(results[2]["objectType"], "KalturaCategory");
}

#[tokio::test]
async fn knobs_down_and_latency() {
    let api = Api::new().await;
    api.sandbox.knobs().set_down(true);
    let down = api
        .http
        .post(api.url("service/media/action/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(down.status(), 503);
    api.sandbox.knobs().set_down(false);
    api.sandbox
        .knobs()
        .set_latency(std::time::Duration::from_millis(150));
    let started = std::time::Instant::now();
    let up = api
        .http
        .post(api.url("service/media/action/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(up.status(), 200);
    assert!(started.elapsed() >= std::time::Duration::from_millis(150));
}
