//! The OpenAPI document: generated from the handlers, served at `/api/v1/openapi.json`, valid by
//! the OpenAPI specification (openapi-spec-validator), and true of the running server
//! (schemathesis generates requests from it and checks every answer against it).

mod support;

use kd_activity::ApiOptions;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use support::Server;

/// The shared Python venv `.ci/setup` installs the tools into.
fn python() -> PathBuf {
    let tools = std::env::var_os("KD_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/tools"));
    let python = tools.join("venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run .ci/setup (it installs schemathesis and openapi-spec-validator)",
        python.display()
    );
    python
}

fn has_module(python: &PathBuf, module: &str) {
    let found = Command::new(python)
        .args(["-c", &format!("import {module}")])
        .status()
        .unwrap()
        .success();
    assert!(found, "Python module {module} is missing: run .ci/setup");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_served_document_describes_every_route_and_error() {
    let server = Server::start().await;
    let answer = server
        .send(server.request(Method::GET, "/api/v1/openapi.json", None))
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc = answer.json();
    assert_eq!(doc, serde_json::to_value(kd_activity::openapi()).unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));

    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
            let responses = op["responses"].as_object().unwrap();
            assert!(
                responses.contains_key("429"),
                "{method} {path} documents 429"
            );
            for (status, response) in responses {
                let schema = &response["content"]["application/json"]["schema"]["$ref"];
                if status.starts_with('4') || status.starts_with('5') {
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {status} uses the error shape"
                    );
                }
            }
            let secured = op["security"] == json!([{"bearer": []}]);
            assert_eq!(secured, path != "/api/v1/auth/token", "{method} {path}");
        }
    }
    let expected: BTreeSet<String> = [
        "POST /api/v1/auth/token",
        "GET /api/v1/meetings",
        "POST /api/v1/meetings",
        "GET /api/v1/meetings/{meeting_id}",
        "POST /api/v1/meetings/{meeting_id}/end",
        "POST /api/v1/meetings/{meeting_id}/join-link",
        "GET /api/v1/videos",
        "GET /api/v1/videos/{entry_id}",
        "GET /api/v1/videos/{entry_id}/playback",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(operations, expected);
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(
        doc["components"]["schemas"]["MeetingType"]["enum"],
        json!(["meeting", "webinar", "classroom"])
    );
}

/// The document as committed in `openapi.json` next to this test: a change of the API shows in
/// review as a change of that file. `KD_UPDATE_SNAPSHOTS=1` rewrites it after a deliberate
/// change (note it in docs/api.md).
#[test]
fn the_document_changes_only_deliberately() {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/openapi.json");
    let now = serde_json::to_string_pretty(&kd_activity::openapi()).unwrap() + "\n";
    if std::env::var_os("KD_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&file, &now).unwrap();
    }
    let committed = std::fs::read_to_string(&file).unwrap_or_default();
    assert!(
        committed == now,
        "the OpenAPI document differs from {}; if that is deliberate, rerun with KD_UPDATE_SNAPSHOTS=1 and note the change in docs/api.md",
        file.display()
    );
}

#[tokio::test]
async fn the_document_is_valid_openapi() {
    let python = python();
    has_module(&python, "openapi_spec_validator");
    let dir = std::env::temp_dir().join(format!("kd-openapi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("openapi.json");
    std::fs::write(
        &file,
        serde_json::to_string_pretty(&kd_activity::openapi()).unwrap(),
    )
    .unwrap();
    let out = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("OK"), "{text}");

    // The validator does reject a broken document (a response without a description).
    let mut broken: Value = serde_json::to_value(kd_activity::openapi()).unwrap();
    broken["paths"]["/api/v1/meetings"]["get"]["responses"]["200"]
        .as_object_mut()
        .unwrap()
        .remove("description");
    std::fs::write(&file, broken.to_string()).unwrap();
    let refused = Command::new(&python)
        .args(["-m", "openapi_spec_validator"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_schema_violation() {
    let python = python();
    has_module(&python, "schemathesis");
    // Generous limits: schemathesis sends hundreds of requests with one user's token.
    let server = Server::start_with(ApiOptions {
        rate_per_minute: 100_000.try_into().unwrap(),
        rate_burst: 10_000.try_into().unwrap(),
        ..ApiOptions::default()
    })
    .await;
    let teacher = server.token(server.world.teacher).await;
    // Something to find: a meeting running.
    let created = server
        .post(
            "/api/v1/meetings",
            &teacher,
            json!({"type": "meeting", "title": "Fuzzed"}),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED);

    let report = std::env::temp_dir().join(format!("kd-schemathesis-{}", std::process::id()));
    let schema = format!("{}/api/v1/openapi.json", server.base);
    let header = format!("Authorization: Bearer {teacher}");
    let base = server.base.clone();
    let report_dir = report.clone();
    // Its working folder: schemathesis keeps a cache there, which belongs to no repository.
    std::fs::create_dir_all(&report).unwrap();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&python)
            .current_dir(&report_dir)
            .args(["-m", "schemathesis.cli", "run", &schema])
            .args(["--url", &base])
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,negative_data_rejection,unsupported_method,missing_required_header,ignored_auth",
            ])
            .args(["--header", &header])
            .args(["--max-examples", "25", "--seed", "6", "--workers", "1"])
            .args(["--phases", "examples,coverage,fuzzing"])
            .args(["--generation-database", "none", "--no-color", "--request-timeout", "10"])
            .args(["--report", "junit", "--report-dir"])
            .arg(&report_dir)
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .expect("schemathesis runs")
    })
    .await
    .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    let _ = std::fs::remove_dir_all(&report);
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // It really exercised the API: every operation was tested.
    assert!(text.contains("9 selected"), "{text}");
    assert!(!text.contains("Server error"), "{text}");
    let cases = text
        .lines()
        .find(|l| l.contains(" generated, "))
        .unwrap_or_else(|| panic!("no test case count in:\n{text}"));
    let generated: u32 = cases.trim().split(' ').next().unwrap().parse().unwrap();
    assert!(generated >= 100, "{cases}");
    assert!(!cases.contains("failed"), "{cases}");
}
