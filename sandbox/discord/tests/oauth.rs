//! OAuth2 authorization-code exchange as the Activity's backend does it, and bearer tokens on
//! `/users/@me`.

mod common;

use common::sandbox;
use kd_sandbox_discord::NewUser;
use serde_json::{Value, json};

#[tokio::test]
async fn code_exchange_yields_a_bearer_token_for_users_me() {
    let sandbox = sandbox().await;
    let ann = sandbox
        .create_user(NewUser {
            username: "ann".into(),
            email: Some("ann@example.org".into()),
            ..NewUser::default()
        })
        .unwrap();
    let http = common::web();
    // The console (or the Activity host page) mints the code through the control API.
    let minted: Value = http
        .post(format!("{}/_sandbox/oauth2/code", sandbox.base_url()))
        .json(&json!({"user_id": ann.id, "scopes": ["identify", "guilds"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = minted["code"].as_str().unwrap();
    let app_id = sandbox.application_id().to_string();
    let secret = sandbox.client_secret();
    let form = [
        ("client_id", app_id.as_str()),
        ("client_secret", secret.as_str()),
        ("grant_type", "authorization_code"),
        ("code", code),
    ];
    let exchanged = http
        .post(format!("{}/api/oauth2/token", sandbox.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), 200);
    let token: Value = exchanged.json().await.unwrap();
    assert_eq!(token["token_type"], "Bearer");
    assert_eq!(token["scope"], "identify guilds");
    let access = token["access_token"].as_str().unwrap();

    let me: Value = http
        .get(format!("{}/api/v10/users/@me", sandbox.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["id"], ann.id.to_string());
    assert_eq!(me["username"], "ann");
    assert!(me.get("email").is_none(), "no email scope");

    // A code works once; a bearer token cannot use bot routes.
    let again = http
        .post(format!("{}/api/v10/oauth2/token", sandbox.base_url()))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 400);
    assert_eq!(
        again.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let bot_route = http
        .get(format!("{}/api/v10/gateway/bot", sandbox.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    assert_eq!(bot_route.status(), 401);
}

#[tokio::test]
async fn wrong_client_secret_is_invalid_client_with_basic_auth_too() {
    let sandbox = sandbox().await;
    let ann = sandbox
        .create_user(NewUser {
            username: "ann".into(),
            ..NewUser::default()
        })
        .unwrap();
    let code = sandbox
        .mint_oauth_code(ann.id, vec!["identify".into()], None)
        .unwrap();
    let http = common::web();
    let response = http
        .post(format!("{}/api/oauth2/token", sandbox.base_url()))
        .basic_auth(sandbox.application_id(), Some("wrong"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_client"
    );

    let response = http
        .post(format!("{}/api/oauth2/token", sandbox.base_url()))
        .basic_auth(sandbox.application_id(), Some(sandbox.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the code survives a failed client check"
    );
}
